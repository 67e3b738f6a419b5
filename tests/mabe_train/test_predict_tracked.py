"""A trained run predicts no behaviour where a pair is not tracked, and a lab's video where
nothing is detected still gets its report (zeros, exit 0)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from mabe_store.constants import feature_column
from mabe_store.format import VideoData
from mabe_store.reader import open_store
from mabe_store.writer import write_store
from mabe_train.cli import app
from mabe_train.predict import predict_run

pytestmark = pytest.mark.slow


def _copy(s, vid: int, features: np.ndarray, video_id: int = 1, split: str = "test") -> VideoData:
    i = s.index(vid)
    return VideoData(video_id, str(s.videos["lab_id"][i]), features, split=split, fps=float(s.videos["fps"][i]),
                     pix_per_cm=float(s.videos["pix_per_cm"][i]), n_mice=int(s.videos["n_mice"][i]),
                     behaviors_labeled=str(s.videos["behaviors_labeled"][i]))


def _involves(df: pl.DataFrame, mouse: str) -> pl.DataFrame:
    return df.filter((pl.col("agent_id") == mouse) | (pl.col("target_id") == mouse))


def test_no_interval_overlaps_the_frames_where_a_mouse_is_untracked(pairs_run, tmp_path):
    root, run_dir = pairs_run
    s = open_store(root / "s.zarr")
    vid = int(s.videos["video_id"][s.videos["split"] == "test"][0])
    feats = s.features(vid).copy()
    lo, hi = len(feats) // 3, 2 * len(feats) // 3
    k = len(s.keypoints)
    feats[lo:hi, feature_column(1, 0, 0):feature_column(1, k - 1, 1) + 1] = np.nan  # mouse1 lost
    write_store(tmp_path / "gap.zarr", [_copy(s, vid, s.features(vid), 1), _copy(s, vid, feats, 2)])
    predict_run(run_dir, tmp_path / "gap.zarr", tmp_path / "p.csv", split="all", progress=False)  # a lab's videos
    pred = pl.read_csv(tmp_path / "p.csv")
    whole, gap = _involves(pred.filter(pl.col("video_id") == 1), "mouse1"), _involves(pred.filter(pl.col("video_id") == 2), "mouse1")
    overlaps = (pl.col("start_frame") < hi) & (pl.col("stop_frame") > lo)
    assert whole.filter(overlaps).height > 0  # tracked, the model does predict mouse1's behaviour there
    assert gap.height > 0 and gap.filter(overlaps).height == 0


def test_report_run_with_nothing_detected_writes_zero_rows_and_exits_0(pairs_run, tmp_path):
    root, run_dir = pairs_run
    s = open_store(root / "s.zarr")
    vid = int(s.videos["video_id"][s.videos["split"] == "test"][0])
    blank = np.full_like(s.features(vid), np.nan)  # a recording where tracking found nobody
    write_store(tmp_path / "blank.zarr", [_copy(s, vid, blank)])
    r = CliRunner().invoke(app, ["report", "--run", str(run_dir), "--store", str(tmp_path / "blank.zarr"),
                                 "--actions", "sniff,rear", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert "predicted 0 intervals" in r.output
    summary = pl.read_csv(tmp_path / "rep" / "summary.csv")
    assert summary.height > 0 and summary["total_s"].sum() == 0 and summary["tracked_s"].sum() == 0
    assert {"sniff", "rear"} <= set(summary["action"])
    assert (tmp_path / "rep" / "1" / "ethogram.png").is_file()
