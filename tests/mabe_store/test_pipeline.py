"""synth -> build -> inspect -> verify through the CLI, and a build killed with SIGKILL then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mabe_store import open_store
from mabe_store.cli import app
from mabe_store.sources import discover
from mabe_store.verify import check_contract, check_raw
from tests.conftest import synth_raw

pytestmark = pytest.mark.slow
runner = CliRunner()


def run(*args) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_synth_build_inspect_verify(tmp_path):
    raw, store = tmp_path / "raw", tmp_path / "store.zarr"
    assert "videos" in run("synth", "--out", raw, "--videos", "6", "--scale", "0.05")
    assert "0 skipped" in run("build", "--raw", raw, "--out", store, "--jobs", "2", "--no-progress")
    summary = run("inspect", "--store", store)
    assert "AdaptableSnail" in summary and "x the raw tracking parquet" in summary
    vid = int(open_store(store).videos["video_id"][0])
    assert f"video {vid}" in run("inspect", "--store", store, str(vid), "--plot", tmp_path / "v.png")
    assert "OK (contract and raw spot-check" in run("verify", "--store", store, "--raw", raw, "--sample", "20")


def committed_videos(store: Path) -> int:
    try:
        return json.loads((store / "zarr.json").read_text())["attributes"]["committed"]["videos"]
    except (OSError, KeyError, ValueError):
        return 0


BUILD = ("import sys; from mabe_store.build import build_store; "
         "build_store(sys.argv[1], sys.argv[2], progress=False, flush_rows=1, flush_seconds=0)")


@pytest.mark.parametrize("kill_after", [1, 4])
def test_build_killed_mid_way_then_resumed(tmp_path, kill_after):
    raw, store = synth_raw(tmp_path / "raw", videos=30, scale=0.3), tmp_path / "store.zarr"
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(raw), str(store)],
                            stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": os.getcwd()})
    deadline = time.monotonic() + 60
    while committed_videos(store) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    total, done = len(discover(raw)[0]), committed_videos(store)
    assert 0 < done < total, "the kill should land mid-build; make the dataset larger"
    partial = open_store(store)  # readable as it was left: only an uncommitted tail may differ
    assert partial.n_videos == done
    assert all("interrupted build" in p for p in check_contract(partial))
    r = runner.invoke(app, ["build", "--raw", str(raw), "--out", str(store), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert f"{done} already in the store" in r.output
    s = open_store(store)
    assert s.n_videos == total and check_contract(s) == [] and check_raw(s, raw, sample=total) == []


REAL = Path(__file__).resolve().parents[3] / "shared" / "mabe-real"


@pytest.mark.real
@pytest.mark.skipif(not (REAL / "train.csv").is_file(), reason="../shared/mabe-real is absent")
def test_real_labels_read_back_with_plain_zarr(tmp_path):
    """Real train.csv rows and annotation files (quoted behaviors_labeled included) -> store -> plain zarr."""
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq
    import zarr

    from mabe_store.synth import synthesize

    raw, store = tmp_path / "raw", tmp_path / "store.zarr"
    synthesize(raw, from_real=REAL, videos=4, scale=0.05, labs=("DeliriousFly", "AdaptableSnail"), progress=False)
    assert run("build", "--raw", raw, "--out", store, "--no-progress")
    root = zarr.open_group(str(store), mode="r")
    vids = {k: root["videos"][k][...] for k in root["videos"].array_keys()}
    ann = {k: root["annotations"][k][...] for k in root["annotations"].array_keys()}
    real = pl.read_csv(REAL / "train.csv", infer_schema=False)
    actions = list(root.attrs["actions"])
    for i in np.flatnonzero(vids["split"] == "train"):
        vid, lab = int(vids["video_id"][i]), str(vids["lab_id"][i])
        text = real.filter(pl.col("video_id") == str(vid))["behaviors_labeled"][0]
        assert vids["behaviors_labeled"][i] == text  # verbatim, quirks and all
        clean = {e.split(",")[2] for e in json.loads(text) if "'" not in e}
        assert {a for a, m in zip(actions, vids["labeled_actions"][i], strict=True) if m} == clean
        want = pq.read_table(raw / "train_annotation" / lab / f"{vid}.parquet").to_pylist()
        rows = ann["video_index"] == i
        got = [dict(agent_id=a, target_id=t, action=actions[x], start_frame=s, stop_frame=e) for a, t, x, s, e in
               zip(*(ann[k][rows].tolist() for k in ("agent_id", "target_id", "action", "start_frame", "stop_frame")),
                   strict=True)]
        assert sorted(got, key=str) == sorted(want, key=str)
        off, n = int(vids["offset"][i]), int(vids["length"][i])
        y = root["actions"][off:off + n]
        for r in want:
            assert y[r["start_frame"]:min(r["stop_frame"], n), actions.index(r["action"])].all()
    assert check_raw(open_store(store), raw, sample=10) == []
