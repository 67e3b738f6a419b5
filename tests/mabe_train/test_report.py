"""`mabe-train report`: hand-made predictions with known bouts -> known seconds, counts, latencies."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from mabe_store.format import VideoData
from mabe_store.writer import write_store
from mabe_train.report import ReportError, bouts, load_predictions, time_budget, write_report

N_FEATURES = 144  # 4 mice x 18 default slots x (x, y)
FPS, LENGTH = 10.0, 200  # 20 s
PRED = [  # video, agent, target, action, start, stop
    (7, "mouse1", "mouse2", "sniff", 10, 40),
    (7, "mouse1", "mouse2", "sniff", 40, 70),  # touches the previous one: one 6 s bout
    (7, "mouse1", "mouse2", "sniff", 100, 110),
    (7, "mouse2", "self", "rear", 150, 250),  # runs past the end: clipped to 5 s
    (7, "mouse1", "mouse2", "attack", 0, 5),
    (7, "mouse1", "mouse2", "attack", 2, 8),  # overlaps: one bout [0, 8)
    (7, "mouse1", "mouse2", "attack", 20, 25),
    (7, "mouse1", "mouse2", "attack", 30, 30),  # empty: no bout
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "store.zarr"
    feats = np.zeros((LENGTH, N_FEATURES), dtype=np.float32)
    write_store(path, [VideoData(7, "LabR", feats, fps=FPS, split="test"),
                       VideoData(8, "LabR", feats[:50], fps=25.0, split="test")])
    return path


@pytest.fixture
def predictions(tmp_path):
    path = tmp_path / "pred.csv"
    pl.DataFrame(PRED, schema=["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"],
                 orient="row").with_row_index("row_id").write_csv(path)
    return path


def test_bouts_merge_touching_and_overlapping_intervals_and_clip_to_the_video(predictions):
    b = bouts(load_predictions(predictions), FPS, LENGTH)
    assert b.select("agent_id", "target_id", "action", "start_frame", "stop_frame").rows() == [
        ("mouse1", "mouse2", "attack", 0, 8), ("mouse1", "mouse2", "attack", 20, 25),
        ("mouse1", "mouse2", "sniff", 10, 70), ("mouse1", "mouse2", "sniff", 100, 110),
        ("mouse2", "self", "rear", 150, 200)]
    assert b["duration_s"].to_list() == pytest.approx([0.8, 0.5, 6.0, 1.0, 5.0])
    assert b["start_s"].to_list() == pytest.approx([0.0, 2.0, 1.0, 10.0, 15.0])


def test_time_budget_numbers(predictions):
    budget = time_budget(bouts(load_predictions(predictions), FPS, LENGTH), LENGTH, fps=FPS)
    want = pl.DataFrame({
        "agent_id": ["mouse1", "mouse1", "mouse2"], "target_id": ["mouse2", "mouse2", "self"],
        "action": ["attack", "sniff", "rear"], "total_s": [1.3, 7.0, 5.0], "pct_of_video": [6.5, 35.0, 25.0],
        "bouts": [2, 2, 1], "mean_bout_s": [0.65, 3.5, 5.0], "median_bout_s": [0.65, 3.5, 5.0],
        "latency_s": [0.0, 1.0, 15.0], "pct_of_tracked": [6.5, 35.0, 25.0], "tracked_s": [20.0] * 3,
        "untracked_s": [0.0] * 3})  # without a tracked mask every frame counts as tracked
    assert_frame_equal(budget, want, check_exact=False, abs_tol=1e-9)


def test_report_writes_every_file_and_a_summary(tmp_path, predictions, store):
    r = write_report(predictions, store, tmp_path / "out", videos=["7", "8"])
    assert sorted(r.videos) == ["7", "8"]
    for files in r.videos.values():
        assert all(f.is_file() and f.stat().st_size > 0 for f in files)
    summary = pl.read_csv(r.summary)
    assert summary["video_id"].to_list() == [7, 7, 7, 8]  # video 8 has no bouts: one row, listed still
    assert summary["video_s"].to_list() == [20.0] * 3 + [2.0] and summary["lab_id"].unique().to_list() == ["LabR"]
    assert summary.filter(pl.col("video_id") == 8).select("agent_id", "action", "total_s").rows() == [(None, None, None)]
    assert summary["total_s"].sum() == pytest.approx(13.3)
    assert pl.read_csv(r.videos["8"][1]).height == 0
    boris = pl.read_csv(tmp_path / "out" / "7" / "boris_events.csv", skip_rows=15)  # under BORIS's header block
    assert boris.height == 10 and boris["Status"].value_counts()["count"].to_list() == [5, 5]
    assert boris.row(0, named=True) == {
        "Time": 0.0, "Media file path": 7, "Total length": 20.0, "FPS": 10.0, "Subject": "mouse1", "Behavior": "attack",
        "Behavioral category": "social", "Modifier 1": "mouse2", "Comment": None, "Status": "START"}
    rear = boris.filter(pl.col("Behavior") == "rear")
    assert rear["Time"].to_list() == [15.0, 20.0] and rear["Modifier 1"].to_list() == [None, None]
    assert rear["Behavioral category"].to_list() == ["self", "self"]


def test_bad_predictions_list_every_problem(tmp_path, store):
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,agent_id,target_id,action,start_frame,stop_frame\n7,mouse1,self,rear,10,5\n"
                   "7,mouse1,self,rear,x,5\n")
    with pytest.raises(ReportError, match="1 rows with a missing value.*1 rows with start_frame > stop_frame"):
        load_predictions(bad)
    cols = tmp_path / "cols.csv"
    cols.write_text("video_id,action\n7,rear\n")
    with pytest.raises(ReportError, match="missing column"):
        load_predictions(cols)


def test_cli_report_and_an_unknown_video_is_one_line(tmp_path, predictions, store):
    from mabe_train.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["report", "--predictions", str(predictions), "--store", str(store),
                            "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    assert "reports of 2 videos" in r.output and (tmp_path / "rep" / "7" / "ethogram.png").is_file()
    assert (tmp_path / "rep" / "8" / "ethogram.png").is_file()  # the other test video: predicted, no interval
    r = runner.invoke(app, ["report", "--predictions", str(predictions), "--store", str(store),
                            "--out", str(tmp_path / "rep2"), "--videos", "7,99"])
    assert r.exit_code == 1 and "video '99' is not in" in r.output
    assert not (tmp_path / "rep2").exists()
