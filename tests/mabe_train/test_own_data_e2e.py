"""Your own mice, end to end: a DeepLabCut file -> import -> build -> verify -> predict -> report.

The DLC file is a synthetic test video written out by `mabe-store export --format dlc`, so the
imported video must get exactly the predictions of the original (same coordinates, same model).
"""

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

for _m in ("pandas", "tables", "h5py"):
    pytest.importorskip(_m)

from mabe_store.cli import app as store_app  # noqa: E402
from mabe_store.reader import open_store  # noqa: E402
from mabe_train.cli import app as train_app  # noqa: E402
from mabe_train.tracked import clip_to_tracked  # noqa: E402

pytestmark = pytest.mark.slow


def _ok(app, *args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_dlc_file_to_report_predicts_like_the_original_video(pairs_run, tmp_path):
    root, run_dir = pairs_run
    s = open_store(root / "s.zarr")
    test_ids = [int(v) for v in s.videos["video_id"][s.videos["split"] == "test"]]
    _ok(train_app, "predict", "--run", run_dir, "--store", root / "s.zarr", "--out", tmp_path / "orig.csv")
    orig = pl.read_csv(tmp_path / "orig.csv", infer_schema=False)
    vid = int(orig["video_id"].value_counts(sort=True)["video_id"][0])  # a test video with predictions
    assert vid in test_ids
    i = s.index(vid)
    t = s.labeled_triples(vid)
    behaviors = ";".join(f"mouse{a},{'self' if a == g else f'mouse{g}'},{x}"
                         for a, g, x in zip(t["agent"], t["target"], t["action"], strict=True))
    _ok(store_app, "export", vid, "--store", root / "s.zarr", "--format", "dlc", "--out", tmp_path / "cage1DLC.h5")
    raw, store = tmp_path / "own", tmp_path / "own.zarr"
    out = _ok(store_app, "import", tmp_path / "cage1DLC.h5", "--raw", raw, "--lab", s.videos["lab_id"][i],
              "--fps", float(s.videos["fps"][i]), "--pix-per-cm", float(s.videos["pix_per_cm"][i]),
              "--behaviors", behaviors)
    assert "video 1 <- cage1DLC.h5" in out
    _ok(store_app, "build", "--raw", raw, "--out", store, "--no-progress")
    assert "OK" in _ok(store_app, "verify", "--store", store, "--raw", raw)
    np.testing.assert_array_equal(open_store(store).features(1), s.features(vid))
    _ok(train_app, "predict", "--run", run_dir, "--store", store, "--out", tmp_path / "own.csv")
    own = pl.read_csv(tmp_path / "own.csv", infer_schema=False).drop("row_id")
    want = orig.filter(pl.col("video_id") == str(vid)).drop("row_id").with_columns(pl.lit("1").alias("video_id"))
    assert own.sort(own.columns).rows() == want.sort(want.columns).rows()
    _ok(train_app, "report", "--predictions", tmp_path / "own.csv", "--store", store, "--out", tmp_path / "rep")
    summary = pl.read_csv(tmp_path / "rep" / "summary.csv")
    tracked = clip_to_tracked(own.with_columns(pl.col("start_frame", "stop_frame").cast(int)), open_store(store))
    frames = tracked.select((pl.col("stop_frame") - pl.col("start_frame")).sum()).item()  # report counts tracked frames
    assert summary["total_s"].sum() == pytest.approx(frames / float(s.videos["fps"][i]), abs=1e-3)  # 4-decimal CSV
    assert (tmp_path / "rep" / "1" / "ethogram.png").stat().st_size > 5000


def test_a_store_that_labels_nothing_predicts_every_pair_with_split_all(pairs_run, tmp_path):
    """No --behaviors at import: `--split all` predicts every pair of the mice for the actions the
    run knows (or `--actions`), in a lab the run never saw (median thresholds), readable by report."""
    root, run_dir = pairs_run
    s = open_store(root / "s.zarr")
    vid = int(s.videos["video_id"][s.videos["split"] == "test"][0])
    _ok(store_app, "export", vid, "--store", root / "s.zarr", "--format", "dlc", "--out", tmp_path / "m.h5")
    raw, store = tmp_path / "own", tmp_path / "own.zarr"
    _ok(store_app, "import", tmp_path / "m.h5", "--raw", raw, "--lab", "MyLab", "--fps", 30, "--pix-per-cm", 10)
    _ok(store_app, "build", "--raw", raw, "--out", store, "--no-progress")
    r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(store), "--out",
                                       str(tmp_path / "none.csv")])
    assert r.exit_code == 1 and "labels a behaviour" in r.output  # the Kaggle default skips unlabeled videos
    assert "train longer" not in r.output and "--split all" in r.output  # what is wrong, and what to do
    _ok(train_app, "predict", "--run", run_dir, "--store", store, "--split", "all", "--actions", "sniff,rear",
        "--out", tmp_path / "own.csv")
    own = pl.read_csv(tmp_path / "own.csv", infer_schema=False)
    assert own.height > 0 and set(own["action"]) <= {"sniff", "rear"}
    assert set(own.filter(pl.col("action") == "rear")["target_id"]) <= {"self"}
    assert "self" not in set(own.filter(pl.col("action") == "sniff")["target_id"])
    r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(store), "--split", "all",
                                       "--actions", "sniff,dance", "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 1 and "unknown --actions dance" in r.output
    _ok(train_app, "report", "--predictions", tmp_path / "own.csv", "--store", store, "--out", tmp_path / "rep")
    assert (tmp_path / "rep" / "summary.csv").exists()


def test_report_predicts_with_a_run_in_one_command(pairs_run, tmp_path):
    root, run_dir = pairs_run
    out = _ok(train_app, "report", "--run", run_dir, "--store", root / "s.zarr", "--actions", "sniff",
              "--out", tmp_path / "rep")
    assert "predicted" in out and (tmp_path / "rep" / "predictions.csv").exists()
    pred = pl.read_csv(tmp_path / "rep" / "predictions.csv")
    summary = pl.read_csv(tmp_path / "rep" / "summary.csv")
    assert pred.height > 0 and set(summary.filter(pl.col("bouts") > 0)["action"]) == set(pred["action"])
    assert set(pred["action"]) | {"sniff"} <= set(summary["action"])  # requested ones too, zeros included
    # videos that label nothing are predicted too (sniff only); labeled ones keep their own triples
    s = open_store(root / "s.zarr")
    unlabeled = {str(v) for v, m in zip(s.videos["video_id"], s.videos["labeled_actions"], strict=True) if not m.any()}
    assert set(pred.filter(pl.col("video_id").cast(str).is_in(unlabeled))["action"]) <= {"sniff"}
    assert set(summary["video_id"]) == set(s.videos["video_id"].tolist())  # every video, with bouts or not
    r = CliRunner().invoke(train_app, ["report", "--store", str(root / "s.zarr"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "pass --predictions CSV, or --run RUN" in r.output
