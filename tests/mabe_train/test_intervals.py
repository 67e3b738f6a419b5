"""The one interval-table schema and the one CSV reader of such tables."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mabe_store.constants import ACTION_INDEX, ACTIONS
from mabe_train import submit
from mabe_train.decode import VideoProbs, decode_video
from mabe_train.intervals import (
    INTERVAL_COLUMNS,
    INTERVAL_SCHEMA,
    SOLUTION_SCHEMA,
    SUBMISSION_COLUMNS,
    IntervalsError,
    cast_intervals,
    read_intervals_csv,
)

HEADER = ",".join(SUBMISSION_COLUMNS)


def test_the_schema_is_text_ids_and_int64_frames():
    assert tuple(INTERVAL_SCHEMA) == INTERVAL_COLUMNS
    assert [str(t) for t in INTERVAL_SCHEMA.values()] == ["String"] * 4 + ["Int64"] * 2
    assert list(SOLUTION_SCHEMA)[:6] == list(INTERVAL_COLUMNS) and SUBMISSION_COLUMNS[0] == "row_id"


def test_every_table_maker_emits_the_one_schema():
    """Decoded rows, the Kaggle fallback rows: the same columns and types (the solution and the
    baseline are checked in test_submission)."""
    probs = np.zeros((1, 20, len(ACTIONS)), np.float32)
    probs[0, 5:15, ACTION_INDEX["sniff"]] = 0.9
    labeled = np.zeros((1, len(ACTIONS)), bool)
    labeled[0, ACTION_INDEX["sniff"]] = True
    decoded = decode_video(VideoProbs(7, "L", [(1, 2)], probs, labeled))
    assert decoded.height == 1 and decoded.schema == INTERVAL_SCHEMA
    assert decoded["video_id"].to_list() == ["7"]
    fallback = submit.fallback_rows([submit.TestVideo(7, "L", {"mouse1,mouse2,sniff"}, 20)], "baseline")
    assert fallback.schema == INTERVAL_SCHEMA and fallback.rows() == [("7", "mouse1", "mouse2", "sniff", 0, 20)]
    assert submit.fallback_rows([], "none").schema == INTERVAL_SCHEMA


def test_cast_keeps_other_columns_and_order():
    df = pl.DataFrame({"extra": [1.5], "video_id": [7], "start_frame": ["3"], "stop_frame": [4], "lab_id": [2]})
    out = cast_intervals(df)
    assert out.columns == df.columns
    assert out.schema == {"extra": pl.Float64, "video_id": pl.Utf8, "start_frame": pl.Int64,
                          "stop_frame": pl.Int64, "lab_id": pl.Utf8}
    assert out.row(0) == (1.5, "7", 3, 4, "2")


def test_reader_keeps_ids_verbatim_and_parses_frames(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(f"{HEADER}\n0,007,mouse1,self,rear, 10 ,20\n")
    df = read_intervals_csv(path, "submission")
    assert df.row(0, named=True) == {"row_id": "0", "video_id": "007", "agent_id": "mouse1", "target_id": "self",
                                     "action": "rear", "start_frame": 10, "stop_frame": 20}


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    ("", "is empty"),
    (f"{HEADER}\n0,7,mouse1,self,rear,x,20\n", "start_frame/stop_frame must be integers"),
])
def test_reader_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "s.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(IntervalsError, match=message) as e:
        read_intervals_csv(path, "submission")
    assert str(e.value).count(str(path)) == 1 and "submission" in str(e.value)
    with pytest.raises(IntervalsError, match="is a directory"):
        read_intervals_csv(tmp_path, "solution")


def test_lenient_reader_leaves_bad_frames_null_for_the_caller_to_list(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER}\n0,7,mouse1,self,rear,x,20\n1,7,mouse1,self,rear,1,2\n")
    df = read_intervals_csv(path, strict=False)
    assert df["start_frame"].to_list() == [None, 1] and df["stop_frame"].to_list() == [20, 2]
