"""The real adult + juvenile mouse video (DeepLabCut + a BORIS export) through the lab path:
import -> build -> predict with a run of a lab's own behaviours -> report, end to end.

With its BORIS file the store's vocabulary is the lab's (`interact`), and a run of other behaviours
is refused in one line; imported without labels, the video takes the run's behaviours and is
predicted and reported. Skips without ../shared/real-labeled (its README describes the files).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

for _m in ("pandas", "lightgbm"):
    pytest.importorskip(_m)

from mabe_store.cli import app as store_app  # noqa: E402
from mabe_store.reader import open_store  # noqa: E402
from mabe_train.cli import app as train_app  # noqa: E402
from tests.mabe_train.own_stores import OWN_VOCABULARY, make_own_store  # noqa: E402

MOUSE = Path(__file__).resolve().parents[2] / ".." / "shared" / "real-labeled" / "mouse"
pytestmark = [pytest.mark.real, pytest.mark.skipif(not MOUSE.is_dir(), reason="../shared/real-labeled is absent")]


def _cli(app, *args, code=0):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == code, r.output
    return r.output


def _import(raw: Path, store: Path, *labels) -> Path:
    tracking = next(MOUSE.glob("*DLC*.csv"))
    _cli(store_app, "import", tracking, *labels, "--fps", 30, "--pix-per-cm", 19, "--lab", "mouse", "--raw", raw)
    _cli(store_app, "build", "--raw", raw, "--out", store, "--no-progress")
    return store


def test_the_real_mouse_video_imports_is_predicted_and_reported(tmp_path):
    own = make_own_store(tmp_path / "own.zarr")
    _cli(train_app, "run", "--config", "configs/gbdt.yaml", f"data.data_dir={own}", f"train.checkpoint_dir={tmp_path}",
         "train.run_name=own", "gbdt.n_estimators=20", "gbdt.windows_s=[0.5]", "train.progress=false")
    run = tmp_path / "own"

    boris = _import(tmp_path / "raw_boris", tmp_path / "boris.zarr", "--annotations", next(MOUSE.glob("*_boris.csv")))
    s = open_store(boris)
    assert s.vocabulary.actions == ("interact",)
    assert s.labeled_triples(1)["action"].tolist() == ["interact"]
    out = _cli(train_app, "predict", "--run", run, "--store", boris, "--split", "all", "--out", tmp_path / "x.csv",
               code=1)
    assert "trained on 5 behaviours" in out and "interact" in out and len(out.strip().splitlines()) == 1

    store = _import(tmp_path / "raw", tmp_path / "mouse.zarr")
    pred = tmp_path / "mouse.csv"
    _cli(train_app, "predict", "--run", run, "--store", store, "--split", "all", "--out", pred)
    rows = pl.read_csv(pred, infer_schema=False)
    assert rows.height > 0 and set(rows["action"]) <= set(OWN_VOCABULARY.actions)
    report = tmp_path / "report"
    _cli(train_app, "report", "--store", store, "--predictions", pred, "--out", report)
    written = {p.name for p in report.rglob("*") if p.is_file()}
    assert any(n.endswith(".png") for n in written) and any("summary" in n for n in written), written
