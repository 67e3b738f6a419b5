"""End to end: a DLC file -> `mabe-store import` -> build -> verify -> export -> import, values exact."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

for _m in ("pandas", "tables", "h5py", "xarray", "h5netcdf"):
    pytest.importorskip(_m)

from mabe_store.build import build_store  # noqa: E402
from mabe_store.cli import app  # noqa: E402
from mabe_store.reader import open_store  # noqa: E402
from tests.mabe_store.pose_files import poses, write_dlc_csv, write_dlc_h5  # noqa: E402

PARTS = ["snout", "left_ear", "right_ear", "centroid", "tailbase", "Tail_end", "paw_left"]
SLOTS = ["nose", "ear_left", "ear_right", "body_center", "tail_base", "tail_tip", None]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def build(raw, store):
    report = build_store(raw, store, progress=False, log=lambda _: None)
    assert report.ok, report.lines()
    return open_store(store)


def assert_store_holds(store, vid, pos, keep):
    """Every kept point of the file is in the store exactly (as float32); every other is NaN."""
    k = len(store.keypoints)
    feats = store.features(vid).reshape(-1, 4, k, 2)
    assert feats.shape[0] == np.flatnonzero(keep.any(axis=(1, 2))).max() + 1
    for j, slot in enumerate(SLOTS):
        if slot is None:
            continue
        got = feats[:, :2, store.keypoints.index(slot)]  # (frames, 2 mice, 2)
        want = np.where(keep[: len(got), :, j, None], pos[: len(got), :, j].astype(np.float32), np.nan)
        np.testing.assert_array_equal(got, want)
    assert np.isnan(feats[:, 2:]).all()


@pytest.fixture
def dlc_file(tmp_path):
    rng = np.random.default_rng(11)
    pos, conf = poses(rng, 200, 2, len(PARTS), missing=0.1)
    pos[190:] = np.nan  # the last frames untracked: the store ends at the last tracked frame
    conf[190:] = np.nan
    return write_dlc_h5(tmp_path / "cage3_DLC_resnet50.h5", pos, conf, ["mus1", "mus2"], PARTS), pos, conf


def test_dlc_import_build_verify_and_the_store_holds_the_files_values(tmp_path, dlc_file):
    path, pos, conf = dlc_file
    raw = tmp_path / "raw"
    r = invoke("import", path, "--raw", raw, "--fps", 30, "--pix-per-cm", 11.5, "--min-confidence", 0.6, "--lab", "Mine")
    assert r.exit_code == 0, r.output
    assert "video 1 <- cage3_DLC_resnet50.h5" in r.output and "paw_left (" in r.output
    s = build(raw, tmp_path / "store.zarr")
    r = invoke("verify", "--store", tmp_path / "store.zarr", "--raw", raw)
    assert r.exit_code == 0 and "OK" in r.output, r.output
    i = s.index(1)
    assert (s.videos["lab_id"][i], s.videos["split"][i], s.videos["n_mice"][i]) == ("Mine", "test", 2)
    assert (float(s.videos["fps"][i]), float(s.videos["pix_per_cm"][i])) == (30.0, 11.5)
    keep = np.isfinite(pos[..., 0]) & (np.nan_to_num(conf, nan=-1) >= 0.6)
    assert_store_holds(s, 1, pos, keep)


@pytest.mark.parametrize(("fmt", "suffix"), [("movement", ".nc"), ("dlc", ".h5"), ("dlc", ".csv")])
def test_export_then_import_gives_back_the_same_coordinates(tmp_path, dlc_file, fmt, suffix):
    path, pos, conf = dlc_file
    raw, raw2 = tmp_path / "raw", tmp_path / "raw2"
    assert invoke("import", path, "--raw", raw, "--fps", 25, "--pix-per-cm", 9).exit_code == 0
    s = build(raw, tmp_path / "a.zarr")
    out = tmp_path / f"out{suffix}"
    r = invoke("export", "1", "--store", tmp_path / "a.zarr", "--format", fmt, "--out", out)
    assert r.exit_code == 0, r.output
    assert "not exported: the tracker's confidence" in r.output  # what the store cannot carry, said once
    assert "fit no store slot (paw_left)" in r.output
    extra = [] if fmt == "movement" else ["--fps", 25]  # a DLC table carries no frame rate
    r = invoke("import", out, "--raw", raw2, "--pix-per-cm", 9, *extra)
    assert r.exit_code == 0, r.output
    s2 = build(raw2, tmp_path / "b.zarr")
    np.testing.assert_array_equal(s2.features(1), s.features(1))
    assert float(s2.videos["fps"][0]) == 25.0
    assert_store_holds(s2, 1, pos, np.isfinite(pos[..., 0]))


def test_cli_reports_bad_files_in_one_line_each_and_exits_1(tmp_path, dlc_file):
    path, pos, conf = dlc_file
    bad = tmp_path / "broken.csv"
    bad.write_text("scorer,a\nindividuals,b\n")
    good_csv = write_dlc_csv(tmp_path / "other.csv", pos, conf, ["a", "b"], PARTS)
    r = invoke("import", bad, path, good_csv, "--raw", tmp_path / "raw", "--fps", 30)
    assert r.exit_code == 1
    assert f"FAILED {bad}: header does not parse" in r.output
    assert "1 of 3 files not imported" in r.output
    assert (tmp_path / "raw" / "test_tracking" / "own" / "1.parquet").exists()
    assert (tmp_path / "raw" / "test_tracking" / "own" / "2.parquet").exists()


def test_more_than_four_mice_and_missing_extra_are_one_line(tmp_path, monkeypatch):
    pos, conf = poses(np.random.default_rng(3), 10, 6, 2)
    path = write_dlc_h5(tmp_path / "six.h5", pos, conf, [f"m{i}" for i in range(6)], ["nose", "neck"])
    r = invoke("import", path, "--raw", tmp_path / "raw", "--fps", 30)
    assert r.exit_code == 1 and "6 individuals" in r.output and "--individuals" in r.output
    monkeypatch.setitem(sys.modules, "h5py", None)
    r = invoke("import", path, "--raw", tmp_path / "raw", "--fps", 30)
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == ["error: reading this format needs h5py: pip install 'mabe[io]'"]


def test_export_of_an_unknown_video_is_one_line(tmp_path, dlc_file):
    path, *_ = dlc_file
    invoke("import", path, "--raw", tmp_path / "raw", "--fps", 30)
    build(tmp_path / "raw", tmp_path / "s.zarr")
    r = invoke("export", "99", "--store", tmp_path / "s.zarr", "--out", tmp_path / "x.nc")
    assert r.exit_code == 1 and "video '99' is not in" in r.output
