"""The interval table: one definition of the rows that decoding emits, the metric scores, a
submission carries and a report reads — `video_id, agent_id, target_id, action, start_frame,
stop_frame` (stop exclusive), plus `row_id` in a Kaggle submission and `lab_id,
behaviors_labeled` in a solution.

Every id column is text (`pl.Utf8`), `video_id` included, and the frames are Int64. Text because
the competition's metric compares ids as text ("007" and "7" are different videos), so two tables
match here exactly when they match on Kaggle; because a CSV read back keeps an id verbatim only as
text; and because text holds any id while an integer type cannot hold "007" or a lab's own names.
The store keys videos by int64 (`mabe_store.format.VIDEO_COLUMNS`); `Store.index` takes either
form, and `str(video_id)` is the one conversion, made where a table is built from the store.

`read_intervals_csv` is the one reader of such a CSV (submissions, solutions, predictions).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mabe_train import MabeTrainError

ID_COLUMNS = ("video_id", "agent_id", "target_id", "action")
FRAME_COLUMNS = ("start_frame", "stop_frame")
INTERVAL_COLUMNS = (*ID_COLUMNS, *FRAME_COLUMNS)
INTERVAL_SCHEMA: dict[str, pl.DataType] = {**dict.fromkeys(ID_COLUMNS, pl.Utf8), **dict.fromkeys(FRAME_COLUMNS, pl.Int64)}
SUBMISSION_COLUMNS = ("row_id", *INTERVAL_COLUMNS)  # the Kaggle file; row_id is ignored by the metric
SOLUTION_COLUMNS = (*INTERVAL_COLUMNS, "lab_id", "behaviors_labeled")
SOLUTION_SCHEMA: dict[str, pl.DataType] = {**INTERVAL_SCHEMA, "lab_id": pl.Utf8, "behaviors_labeled": pl.Utf8}
_TYPES: dict[str, pl.DataType] = {"row_id": pl.Int64, **SOLUTION_SCHEMA}


class IntervalsError(MabeTrainError, ValueError):
    """An interval table (or its CSV) cannot be read; the message says which file and why."""


def cast_intervals(df: pl.DataFrame) -> pl.DataFrame:
    """`df` with each column of the schema it has cast to the schema's type (ids to text, frames to
    Int64); other columns and column order untouched. Missing columns are the caller's to report."""
    return df.cast({c: t for c, t in _TYPES.items() if c in df.columns})


def empty_intervals(schema: dict[str, pl.DataType] = INTERVAL_SCHEMA) -> pl.DataFrame:
    """A table with no rows and the schema's columns and types."""
    return pl.DataFrame(schema=schema)


def read_intervals_csv(path: str | Path, name: str = "intervals", *, strict: bool = True) -> pl.DataFrame:
    """A CSV with every column as text and start/stop frames parsed as Int64 (surrounding blanks
    allowed). `strict`: a frame that is not an integer is an IntervalsError; otherwise it reads as
    null, for a caller that lists every problem of the file in one message. `name` says in
    messages which file it is ("solution", "submission", ...)."""
    path = Path(path)
    if path.is_dir():
        raise IntervalsError(f"{name} file {path} is a directory — pass a CSV file")
    if not path.is_file():
        raise IntervalsError(f"{name} file {path} does not exist — pass an existing CSV")
    try:
        df = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise IntervalsError(f"Missing solution or submission data — {name} file {path} is empty") from None
    except pl.exceptions.PolarsError as e:
        raise IntervalsError(f"{name} file {path} is not a readable CSV: {str(e).splitlines()[0]}") from None
    frames = [c for c in FRAME_COLUMNS if c in df.columns]
    try:
        return df.with_columns(pl.col(c).str.strip_chars().cast(pl.Int64, strict=strict) for c in frames)
    except pl.exceptions.PolarsError:
        raise IntervalsError(f"{name} file {path}: start_frame/stop_frame must be integers") from None
