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


def _one_row_at(raw, frame: int, duration_s: str) -> None:
    """Video 101 gets `duration_s` seconds of metadata and one extra tracking row at `frame`."""
    _edit_meta(raw, lambda df: df.with_columns(
        pl.when(pl.col("video_id") == "101").then(pl.lit(duration_s)).otherwise(pl.col("video_duration_sec"))
        .alias("video_duration_sec")))
    _edit_tracking(raw, 101, lambda df: pl.concat([df, df.head(1).with_columns(
        pl.lit(frame, dtype=df["video_frame"].dtype).alias("video_frame"))]))


def test_row7_a_frame_number_far_past_the_duration_is_dropped_not_a_5m_frame_video(handmade_raw, tmp_path):
    _one_row_at(handmade_raw, 4_999_000, "4.0")
    report, s = _build(handmade_raw, tmp_path)
    assert s.videos["length"][s.index(101)] == 120
    assert any("101" in r and "dropped 1 rows with video_frame past" in r for r in report.repaired)


def test_verify_re_derives_frame_numbers_past_the_coordinate_limit(handmade_raw, tmp_path):
    """A legitimate frame 100,500 (a long video): verify must not clip it like a corrupt coordinate."""
    _one_row_at(handmade_raw, 100_500, "4000.0")
    _, s = _build(handmade_raw, tmp_path)
    assert s.videos["length"][s.index(101)] == 100_501
    out = _verify(tmp_path / "s.zarr", handmade_raw)
    assert "OK" in out and "mismatch" not in out.lower(), out


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


# -- rows 2-4: one writer, atomic rebuilds, stores that are not ours ------------------------------
def test_row2_a_second_build_of_one_store_refuses_while_the_first_holds_it(handmade_raw, tmp_path):
    import subprocess
    import sys
    import time
    out = tmp_path / "s.zarr"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from mabe_store.build import build_lock\n"
        f"with build_lock(Path({str(out)!r})):\n    print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = CliRunner().invoke(app, ["build", "--raw", str(handmade_raw), "--out", str(out)])
        assert r.exit_code == 1 and f"is being built by pid {holder.pid}" in r.output
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)  # the OS released the dead holder's lock
    r = CliRunner().invoke(app, ["build", "--raw", str(handmade_raw), "--out", str(out)])
    assert r.exit_code in (0, 1) and "being built" not in r.output  # 1: the hand-made set skips a video
    assert "OK" in _verify(out, handmade_raw)


def test_row3_a_killed_rebuild_leaves_the_old_store_whole_and_readers_notice_a_swap(handmade_raw, tmp_path,
                                                                                    monkeypatch):
    import mabe_store.build as build_mod
    out = tmp_path / "s.zarr"
    build_store(handmade_raw, out, progress=False, log=lambda _: None)
    before = open_store(out)
    old_101 = before.features(101).copy()
    _edit_tracking(handmade_raw, 102, lambda df: df.head(len(df) - 3))  # a changed source: rebuild afresh
    real = build_mod._consume

    def killed(results, writer, report, bar, t0):
        next(iter(results))
        raise KeyboardInterrupt  # as a Ctrl-C / kill mid-rebuild
    monkeypatch.setattr(build_mod, "_consume", killed)
    with pytest.raises(KeyboardInterrupt):
        build_store(handmade_raw, out, progress=False, log=lambda _: None)
    np.testing.assert_array_equal(open_store(out).features(101), old_101)  # the old store is whole
    np.testing.assert_array_equal(before.features(101), old_101)  # and a reader of it goes on
    monkeypatch.setattr(build_mod, "_consume", real)
    report = build_store(handmade_raw, out, progress=False, log=lambda _: None)
    assert report.fresh and "OK" in _verify(out, handmade_raw)
    assert not out.with_name(out.name + ".rebuilding").exists() and not out.with_name(out.name + ".replaced").exists()
    with pytest.raises(Exception, match="was rebuilt while this process read it"):
        before.features(101)  # the old reader's offsets would read the new store's rows


def test_row4_a_zarr_store_this_project_did_not_write_is_never_replaced(handmade_raw, tmp_path):
    import zarr
    other = tmp_path / "theirs.zarr"
    g = zarr.open_group(str(other), mode="w")
    g.create_array("precious", shape=(3,), dtype="int32")
    g.attrs["owner"] = "another project"
    r = CliRunner().invoke(app, ["build", "--raw", str(handmade_raw), "--out", str(other)])
    assert r.exit_code == 1 and "did not write — refusing to replace it" in r.output
    assert dict(zarr.open_group(str(other), mode="r").attrs) == {"owner": "another project"}


@pytest.mark.parametrize("values, fragment", [
    ({"mean_groups": {"headpiece": "headpiece_*"}}, "mean_groups.headpiece must be a list of names"),
    ({"aliases": {"nose": "t"}}, "aliases.nose must be a list of names"),
    ({"aliases": ["nose"]}, "aliases must map a slot to a list of names")])
def test_row15_a_group_or_alias_given_as_a_string_is_refused(values, fragment):
    from mabe_store.build_config import ConfigError, make_config
    with pytest.raises(ConfigError, match=fragment):
        make_config(**values)


def test_row12_unwritable_outputs_are_one_line_before_any_work(tmp_path):
    from mabe_train.cli import app as train_app
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = CliRunner().invoke(app, ["synth", "--out", str(blocker / "raw")])
    assert r.exit_code == 1 and r.output.startswith("error: ") and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(train_app, ["predict", "--run", str(tmp_path / "no-run"), "--store", str(tmp_path),
                                       "--out", str(blocker / "sub.csv")])
    assert r.exit_code == 1 and "pass --out a path in a writable folder" in r.output  # checked before the run
