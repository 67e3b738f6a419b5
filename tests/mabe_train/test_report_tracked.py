"""Reports never invent behaviour: untracked frames get no bout and are counted, every requested
behaviour and every video has a row, and boris_events.csv reads back through a BORIS reader."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from mabe_store.annotations.boris import read_boris_tabular
from mabe_store.constants import feature_column
from mabe_store.format import VideoData
from mabe_store.writer import write_store
from mabe_train.report import write_report

K, FPS, LENGTH = 18, 10.0, 200  # 18 default slots; 20 s
GAP = (50, 100)  # mouse1 has no keypoint on these frames
COLS = ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]
PRED = [
    ("1", "mouse1", "mouse2", "sniff", 30, 120),  # over the gap: cut into [30, 50) + [100, 120)
    ("1", "mouse2", "mouse1", "sniff", 0, 200),  # [0, 50) + [100, 200)
    ("1", "mouse1", "self", "rear", 60, 90),  # wholly in the gap: gone
    ("1", "mouse2", "self", "rear", 40, 80),  # mouse2 is tracked throughout: kept
    ("9", "mouse1", "self", "rest", 0, 200),  # video 9 is never tracked
    ("9", "mouse2", "self", "rest", 0, 200),
]
REAL_BORIS = Path(__file__).parents[2] / ".." / "shared" / "real-labeled" / "mouse"


def _features(gap: tuple[int, int] | None) -> np.ndarray:
    f = np.full((LENGTH, 4 * K * 2), np.nan, dtype=np.float32)
    for mouse in (1, 2):
        f[:, feature_column(mouse, 0, 0):feature_column(mouse, 0, 0) + 2] = 100.0 * mouse  # one keypoint: tracked
    if gap:
        f[gap[0]:gap[1], feature_column(1, 0, 0):feature_column(2, 0, 0)] = np.nan
    return f


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracked") / "store.zarr"
    write_store(path, [VideoData(1, "LabT", _features(GAP), fps=FPS, split="test", n_mice=2),
                       VideoData(9, "LabT", np.full((LENGTH, 4 * K * 2), np.nan, np.float32), fps=FPS,
                                 split="test", n_mice=3),
                       VideoData(5, "LabT", _features(None), fps=FPS, split="test", n_mice=2)])
    return path


def _write(rows, path: Path) -> Path:
    pl.DataFrame(rows, schema=COLS, orient="row").write_csv(path)
    return path


@pytest.fixture
def report(tmp_path, store):
    return write_report(_write(PRED, tmp_path / "pred.csv"), store, tmp_path / "out")


def test_no_bout_covers_a_frame_where_its_pair_is_untracked(report):
    b = pl.read_csv(report.videos["1"][0]).select("agent_id", "target_id", "action", "start_frame", "stop_frame")
    assert b.rows() == [("mouse1", "mouse2", "sniff", 30, 50), ("mouse1", "mouse2", "sniff", 100, 120),
                        ("mouse2", "mouse1", "sniff", 0, 50), ("mouse2", "mouse1", "sniff", 100, 200),
                        ("mouse2", "self", "rear", 40, 80)]


def test_time_budget_counts_tracked_time_with_explicit_denominators(report):
    budget = pl.read_csv(report.videos["1"][1])
    row = budget.filter((pl.col("agent_id") == "mouse1") & (pl.col("target_id") == "mouse2")).row(0, named=True)
    assert row["total_s"] == 4.0 and row["pct_of_video"] == 20.0 and row["bouts"] == 2
    assert row["tracked_s"] == 15.0 and row["untracked_s"] == 5.0 and row["pct_of_tracked"] == pytest.approx(26.6667)
    gone = budget.filter((pl.col("agent_id") == "mouse1") & (pl.col("action") == "rear")).row(0, named=True)
    assert (gone["total_s"], gone["bouts"], gone["latency_s"], gone["tracked_s"]) == (0.0, 0, None, 15.0)


def test_a_store_with_nothing_tracked_reports_no_behaviour(report):
    summary = pl.read_csv(report.summary).filter(pl.col("video_id") == 9)
    assert summary["action"].to_list() == ["rest", "rest"]  # predicted, hence requested: a row each
    assert summary["total_s"].to_list() == [0.0, 0.0] and summary["bouts"].to_list() == [0, 0]
    assert summary["tracked_s"].to_list() == [0.0, 0.0] and summary["untracked_s"].to_list() == [20.0, 20.0]
    assert summary["pct_of_tracked"].null_count() == 2 and summary["video_tracked_s"].to_list() == [0.0, 0.0]
    assert pl.read_csv(report.videos["9"][0]).height == 0
    assert pl.read_csv(report.videos["9"][2], skip_rows=15).height == 0  # no BORIS event either


def test_every_video_and_every_requested_behaviour_has_a_row(tmp_path, store):
    r = write_report(_write(PRED, tmp_path / "pred.csv"), store, tmp_path / "out", actions=["sniff", "rear"])
    summary = pl.read_csv(r.summary, schema_overrides={"video_id": pl.Utf8})
    assert sorted(summary["video_id"].unique()) == ["1", "5", "9"]  # 5: no prediction at all, listed still
    five = summary.filter(pl.col("video_id") == "5").select("agent_id", "target_id", "action", "total_s", "bouts")
    assert five.rows() == [("mouse1", "mouse2", "sniff", 0.0, 0), ("mouse1", "self", "rear", 0.0, 0),
                           ("mouse2", "mouse1", "sniff", 0.0, 0), ("mouse2", "self", "rear", 0.0, 0)]
    nine = summary.filter(pl.col("video_id") == "9")  # three mice: 3 rear, 6 sniff, 2 predicted rest
    assert nine.height == 11 and nine["total_s"].sum() == 0.0


def test_cli_with_no_prediction_at_all_writes_the_report_and_exits_0(tmp_path, store):
    from mabe_train.cli import app

    empty = _write([], tmp_path / "empty.csv")
    r = CliRunner().invoke(app, ["report", "--predictions", str(empty), "--store", str(store),
                                 "--out", str(tmp_path / "rep"), "--actions", "sniff"])
    assert r.exit_code == 0, r.output
    summary = pl.read_csv(tmp_path / "rep" / "summary.csv")
    assert sorted(summary["video_id"].unique()) == [1, 5, 9]
    assert summary["total_s"].sum() == 0.0 and set(summary["action"]) == {"sniff"}


# -- BORIS ------------------------------------------------------------------------------------
def _read_boris(path: Path, fps: float) -> list[tuple]:
    """(agent, target, action, start, stop) of a BORIS tabular export, read by the project's BORIS reader."""
    ann = read_boris_tabular(path, fps)
    return sorted((b.agent, b.modifiers[0] if b.modifiers else "self", b.action, b.start, b.stop) for b in ann.bouts)


def test_boris_events_read_back_to_the_same_bouts(report):
    bouts = pl.read_csv(report.videos["1"][0]).select("agent_id", "target_id", "action", "start_frame", "stop_frame")
    assert _read_boris(report.videos["1"][2], FPS) == sorted(bouts.rows())


def _header(path: Path) -> tuple[int, list[str]]:
    rows = list(csv.reader(path.open(encoding="utf-8-sig")))
    i = next(i for i, r in enumerate(rows) if r[:1] == ["Time"])
    return i, rows[i]


@pytest.mark.skipif(not REAL_BORIS.is_dir(), reason="../shared/real-labeled is absent")
def test_boris_events_follow_the_layout_of_a_real_boris_export(report):
    real_line, real = _header(next(REAL_BORIS.glob("*boris*.csv")))
    line, ours = _header(report.videos["1"][2])
    assert line == real_line  # the same header block above the table
    assert [c for c in ours if c != "Modifier 1"] == real  # BORIS adds `Modifier n` before Comment
    assert ours.index("Modifier 1") == real.index("Comment")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_BORIS.is_dir(), reason="../shared/real-labeled is absent")
def test_a_real_boris_file_survives_report_and_reads_back(tmp_path):
    """The real adult + juvenile video and its human BORIS labels: imported tracking, the labels
    as predictions (adult -> juvenile), report, then boris_events.csv read back: the same bouts."""
    pytest.importorskip("pandas")
    from mabe_store.cli import app as store_app

    for args in (["import", *REAL_BORIS.glob("*DLC*.csv"), "--raw", tmp_path / "raw", "--fps", 30, "--pix-per-cm", 10],
                 ["build", "--raw", tmp_path / "raw", "--out", tmp_path / "s.zarr", "--no-progress"]):
        r = CliRunner().invoke(store_app, [str(a) for a in args])
        assert r.exit_code == 0, r.output
    human = _read_boris(next(REAL_BORIS.glob("*boris*.csv")), 30.0)
    assert len(human) == 10 and {h[:3] for h in human} == {("adult", "self", "interact")}
    pred = [("1", "mouse1", "mouse2", action, start, stop) for _, _, action, start, stop in human]
    r = write_report(_write(pred, tmp_path / "pred.csv"), tmp_path / "s.zarr", tmp_path / "out")
    back = _read_boris(r.videos["1"][2], 30.0)
    assert back == sorted(("mouse1", "mouse2", *p[3:]) for p in pred)
    budget = pl.read_csv(r.videos["1"][1]).row(0, named=True)
    assert budget["tracked_s"] == 190.0 and budget["bouts"] == 10  # this video is tracked throughout
