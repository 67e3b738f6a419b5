"""The fault table of issue 13, store side: each row a test that failed before and passes now.

Raw datasets come from tests/conftest.py `make_raw` (every value known); each test corrupts one
thing the way the fault suite did and checks the build repairs or skips it with a counted note,
never silently, and that `verify --raw` still reports instead of crashing.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from mabe_store.build import build_store
from mabe_store.cli import app
from mabe_store.reader import open_store


def _build(raw, tmp_path):
    report = build_store(raw, tmp_path / "s.zarr", progress=False, log=lambda _: None)
    return report, open_store(tmp_path / "s.zarr")


def _edit_tracking(raw, vid, fn, split="train", lab="LabA"):
    path = raw / f"{split}_tracking" / lab / f"{vid}.parquet"
    fn(pl.read_parquet(path)).write_parquet(path)


def _edit_meta(raw, fn, split="train"):
    path = raw / f"{split}.csv"
    fn(pl.read_csv(path, infer_schema=False)).write_csv(path)


def _verify(store, raw) -> str:
    r = CliRunner().invoke(app, ["verify", "--store", str(store), "--raw", str(raw)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception  # a report, not a traceback
    return r.output


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), 1e38])
def test_row5_non_finite_and_impossible_coordinates_are_untracked_with_a_note(handmade_raw, tmp_path, bad):
    _edit_tracking(handmade_raw, 101, lambda df: df.with_columns(
        pl.when(pl.int_range(pl.len()) < 7).then(pl.lit(bad, dtype=pl.Float32)).otherwise(pl.col("x")).alias("x")))
    report, s = _build(handmade_raw, tmp_path)
    assert any("101" in r and "7 rows with an infinite or impossible" in r for r in report.repaired)
    assert np.isfinite(s.features(101)[~np.isnan(s.features(101))]).all()
    assert np.abs(np.nan_to_num(s.features(101))).max() < 1e5
    assert "OK" in _verify(tmp_path / "s.zarr", handmade_raw)


def test_row6_unparseable_coordinates_are_counted_and_verify_reports(handmade_raw, tmp_path):
    _edit_tracking(handmade_raw, 101, lambda df: df.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 0).then(pl.lit("n/a")).otherwise(pl.col("x").cast(pl.String)).alias("x")))
    report, s = _build(handmade_raw, tmp_path)
    assert any("101" in r and "unparseable x/y stored as untracked" in r for r in report.repaired)
    out = _verify(tmp_path / "s.zarr", handmade_raw)
    assert "OK" in out or "mismatch" in out.lower()


def test_row7_a_frame_number_far_past_the_duration_is_dropped_not_a_5m_frame_video(handmade_raw, tmp_path):
    _edit_meta(handmade_raw, lambda df: df.with_columns(
        pl.when(pl.col("video_id") == "101").then(pl.lit("4.0")).otherwise(pl.col("video_duration_sec"))
        .alias("video_duration_sec")))
    _edit_tracking(handmade_raw, 101, lambda df: pl.concat([df, df.head(1).with_columns(
        pl.lit(4_999_000, dtype=df["video_frame"].dtype).alias("video_frame"))]))
    report, s = _build(handmade_raw, tmp_path)
    assert s.videos["length"][s.index(101)] == 120
    assert any("101" in r and "dropped 1 rows with video_frame past" in r for r in report.repaired)


def test_row8_a_lab_id_that_is_a_path_is_skipped_and_nothing_outside_raw_is_read(handmade_raw, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "test_tracking").mkdir(parents=True)
    _edit_meta(handmade_raw, lambda df: df.with_columns(pl.lit("../../elsewhere").alias("lab_id")), split="test")
    report, s = _build(handmade_raw, tmp_path)
    assert any("'../../elsewhere' is not a plain folder name" in r for r in report.skipped)
    assert 301 not in s.videos["video_id"].tolist()


@pytest.mark.parametrize("fps", ["0", "abc", "-30", ""])
def test_row10_an_unusable_frame_rate_skips_the_video_with_its_reason(handmade_raw, tmp_path, fps):
    _edit_meta(handmade_raw, lambda df: df.with_columns(
        pl.when(pl.col("video_id") == "102").then(pl.lit(fps)).otherwise(pl.col("frames_per_second"))
        .alias("frames_per_second")))
    report, s = _build(handmade_raw, tmp_path)
    assert any("video 102" in r and "frames_per_second" in r for r in report.skipped)
    assert 102 not in s.videos["video_id"].tolist() and 101 in s.videos["video_id"].tolist()


def test_row10_missing_scale_and_labels_columns_are_noted(handmade_raw, tmp_path):
    _edit_meta(handmade_raw, lambda df: df.drop("pix_per_cm_approx", "behaviors_labeled"))
    report, s = _build(handmade_raw, tmp_path)
    assert np.isnan(s.videos["pix_per_cm"][s.index(101)]) and not s.videos["labeled_actions"][s.index(101)].any()
    notes = [r for r in report.repaired if "video 101" in r]
    assert any("pix_per_cm_approx is missing" in r for r in notes)
    assert any("no behaviors_labeled column" in r for r in notes)
    _edit_meta(handmade_raw, lambda df: df.drop("frames_per_second"))
    r = CliRunner().invoke(app, ["build", "--raw", str(handmade_raw), "--out", str(tmp_path / "t.zarr")])
    assert r.exit_code == 1 and "missing column(s) frames_per_second" in r.output
