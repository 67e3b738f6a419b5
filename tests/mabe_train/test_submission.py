"""Submission writer, solution table and no-learning baseline on a hand-made store."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mabe_store.format import VideoData
from mabe_store.reader import open_store
from mabe_store.writer import write_store
from mabe_train.intervals import INTERVAL_SCHEMA, SOLUTION_SCHEMA
from mabe_train.metric import counted_rows, score, score_details
from mabe_train.submission import (
    SubmissionError,
    labeled_entries,
    no_learning_baseline,
    solution_from_store,
    write_submission,
)

LABELED_1 = ["mouse1,mouse2,sniff", "mouse1,mouse2,attack", "mouse2,self,rear", "'mouse1','mouse2','sniff'"]
LABELED_2 = ["mouse3,mouse1,chase", "mouse2,self,rest"]


def _video(vid, lab, length, n_mice, labeled, annotations):
    feats = np.zeros((length, 144), dtype=np.float32)
    return VideoData(video_id=vid, lab_id=lab, features=feats, n_mice=n_mice,
                     behaviors_labeled=json.dumps(labeled) if labeled else "", annotations=annotations)


@pytest.fixture
def store(tmp_path):
    write_store(tmp_path / "s.zarr", [
        _video(11, "LabA", 100, 2, LABELED_1, [(1, 2, "sniff", 0, 30), (2, 2, "rear", 50, 90), (1, 2, "attack", 40, 40)]),
        _video(12, "LabB", 60, 3, LABELED_2, [(3, 1, "chase", 10, 20), (2, 2, "rest", 0, 70)]),
        _video(13, "LabB", 40, 2, [], []),
    ])
    return open_store(tmp_path / "s.zarr")


def test_solution_from_store_writes_ids_as_the_real_solution(store):
    s = solution_from_store(store)
    assert s.columns == ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame",
                         "lab_id", "behaviors_labeled"]
    assert s.select("video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame").rows() == [
        ("11", "mouse1", "mouse2", "sniff", 0, 30), ("11", "mouse2", "self", "rear", 50, 90),
        ("11", "mouse1", "mouse2", "attack", 40, 40), ("12", "mouse3", "mouse1", "chase", 10, 20),
        ("12", "mouse2", "self", "rest", 0, 70)]
    assert s.schema == SOLUTION_SCHEMA  # video_id text, as every interval table
    assert s.filter(pl.col("video_id") == "11")["behaviors_labeled"].unique().to_list() == [json.dumps(LABELED_1)]
    assert s["lab_id"].to_list() == ["LabA"] * 3 + ["LabB"] * 2
    none = solution_from_store(store, [13])
    assert none.height == 0 and none.schema == SOLUTION_SCHEMA


def test_labeled_entries_are_the_clean_ones(store):
    assert labeled_entries(store, [11, 13]) == {
        "11": {"mouse1,mouse2,sniff", "mouse1,mouse2,attack", "mouse2,self,rear"}, "13": set()}


def test_baseline_splits_each_pair_into_consecutive_chunks(store):
    b = no_learning_baseline(store, [11, 12, 13])
    assert sorted(b.rows()) == [
        ("11", "mouse1", "mouse2", "attack", 0, 50), ("11", "mouse1", "mouse2", "sniff", 50, 100),
        ("11", "mouse2", "self", "rear", 0, 100),
        ("12", "mouse2", "self", "rest", 0, 60), ("12", "mouse3", "mouse1", "chase", 0, 60)]
    assert b.schema == INTERVAL_SCHEMA
    d = score_details(solution_from_store(store), b)
    # LabA: sniff tp 0 fn 30 fp 50 -> 0; attack: zero-length truth + 50 fp -> 0; rear 2*40/(80+60)
    # LabB: chase 2*10/(20+50); rest 2*60/(120+10) (truth runs past the 60-frame video)
    expected = ((0 + 0 + 80 / 140) / 3 + (20 / 70 + 120 / 130) / 2) / 2
    assert d.score == pytest.approx(expected)


def test_written_submission_is_kaggle_format_and_fully_counted(store, tmp_path):
    b = no_learning_baseline(store, [11, 12])
    path = write_submission(b, tmp_path / "out" / "submission.csv", labeled_entries(store, [11, 12]))
    back = pl.read_csv(path, infer_schema=False)
    assert back.columns == ["row_id", "video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]
    assert back["row_id"].to_list() == [str(i) for i in range(b.height)]
    assert set(back["target_id"]) <= {"mouse1", "mouse2", "mouse3", "self"}
    sol = solution_from_store(store)
    typed = back.with_columns(pl.col("start_frame", "stop_frame").cast(pl.Int64))
    score(sol, typed)  # no error
    assert counted_rows(sol.with_columns(pl.col("video_id").cast(pl.Utf8)), typed).height == back.height


def test_writer_lists_every_problem_in_one_message(store, tmp_path):
    bad = pl.DataFrame([(11, "mouse1", "mouse2", "sniff", 0, 20), (11, "mouse1", "mouse2", "attack", 10, 30),
                        (11, "mouse2", "mouse1", "sniff", 0, 5), (11, "mouse2", "self", "rear", 9, 9)],
                       schema=["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"],
                       orient="row")
    with pytest.raises(SubmissionError) as e:
        write_submission(bad, tmp_path / "x.csv", labeled_entries(store, [11]))
    msg = str(e.value)
    assert "1 intervals with start_frame >= stop_frame" in msg
    assert "does not label (first: video 11, mouse2,mouse1,sniff)" in msg
    assert "overlaps of two actions of one pair (first: video 11, mouse1,mouse2" in msg
    assert not (tmp_path / "x.csv").exists()


def test_writer_refuses_an_empty_submission(store, tmp_path):
    empty = no_learning_baseline(store, [13])
    with pytest.raises(SubmissionError, match="no intervals"):
        write_submission(empty, tmp_path / "x.csv", labeled_entries(store, [13]))


def test_written_files_score_through_the_cli(store, tmp_path):
    """Store -> solution CSV + baseline submission CSV -> `score` command == score() in memory."""
    from typer.testing import CliRunner

    from mabe_train.cli import app

    sol = solution_from_store(store)
    sol.write_csv(tmp_path / "solution.csv")  # behaviors_labeled's JSON survives CSV quoting
    base = no_learning_baseline(store, [11, 12])
    write_submission(base, tmp_path / "submission.csv", labeled_entries(store, [11, 12]))
    res = CliRunner().invoke(app, ["score", "--solution", str(tmp_path / "solution.csv"),
                                   "--submission", str(tmp_path / "submission.csv")])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == f"score: {score(sol, base)!r}"
