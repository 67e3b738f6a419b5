"""Plain tables of labels: per-frame 0/1 columns (SimBA's `targets_inserted`, any frame table) and
interval tables (MABe's annotation layout, in frames or seconds).

- Frame table: one row per frame, one 0/1 column per behaviour; an optional frame column
  (`frame`, `video_frame`, `frame_index`, or an unnamed first column as pandas writes its index)
  gives the row's frame — frame numbers follow the file's own index, they are not renumbered. Runs
  of 1 become bouts. Every behaviour column is scored (its 0s are negatives).
- SimBA `targets_inserted`: a frame table whose other columns are SimBA's pose (`<part>_x`,
  `<part>_y`, `<part>_p`) and feature columns; the behaviour columns are the 0/1 columns that follow
  the pose columns (SimBA appends its targets last). Any 0/1 feature column among them would be read
  as a behaviour: pass the behaviour names (`behaviors`) to pick them.
- Interval table: `action` (or `behavior`) with `start_frame, stop_frame` (stop exclusive, as MABe's
  files) or `start_s, stop_s` seconds; `agent_id`/`agent` and `target_id`/`target` when the labels
  name animals (ids 1..4, `mouse2`, `self`, or the tracking's individual names).
Frame and interval tables that name no animal are labels of the group (mapped in mice.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

from mabe_store.annotations.model import Annotation, AnnotationError, Bout

FRAME_COLUMNS = ("frame", "video_frame", "frame_index", "frame_number", "frames", "")
ACTION_COLUMNS = ("action", "behavior", "behaviour")
POSE = re.compile(r"_(x|y|p|likelihood)$", re.IGNORECASE)


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10000, encoding="utf8-lossy")
    except Exception as e:  # polars raises several types for a malformed table
        raise AnnotationError(f"not a readable table ({type(e).__name__}: {str(e)[:80]})") from None


def _lower(df: pl.DataFrame) -> dict[str, str]:
    return {c.strip().lower(): c for c in df.columns}


def _binary(s: pl.Series) -> bool:
    if not (s.dtype.is_numeric() or s.dtype == pl.Boolean):
        return False
    values = set(s.drop_nulls().cast(pl.Float64).unique().to_list())
    return bool(values) and values <= {0.0, 1.0}


def table_kind(path: Path) -> str:
    """simba, frame-table or interval-table, by the columns; anything else fails in one line."""
    df = _read(path)
    cols = _lower(df)
    if any(a in cols for a in ACTION_COLUMNS) and (
            {"start_frame", "stop_frame"} <= set(cols) or {"start_s", "stop_s"} <= set(cols)):
        return "interval-table"
    if any(POSE.search(c) for c in df.columns):
        return "simba"
    if any(_binary(df[c]) for c in df.columns if c.strip().lower() not in FRAME_COLUMNS):
        return "frame-table"
    raise AnnotationError("unknown annotation format: not a Caltech/Bento file, a BORIS export, a SimBA "
                        "targets_inserted csv, a 0/1 frame table nor an interval table "
                        f"(columns {df.columns[:6]})")


def _frames(df: pl.DataFrame) -> np.ndarray:
    cols = _lower(df)
    for name in FRAME_COLUMNS:
        if name in cols and df[cols[name]].dtype.is_integer():
            f = df[cols[name]].to_numpy().astype(np.int64)
            if (f < 0).any() or (np.diff(f) <= 0).any():
                raise AnnotationError(f"frame column {cols[name]!r} is not increasing from >= 0")
            return f
    return np.arange(df.height, dtype=np.int64)


def _runs(frames: np.ndarray, on: np.ndarray, action: str) -> list[Bout]:
    """Bouts of consecutive labelled frames (a gap in the frame numbers ends a bout)."""
    idx = np.flatnonzero(on)
    if not len(idx):
        return []
    f = frames[idx]
    breaks = np.flatnonzero(np.diff(f) != 1) + 1
    return [Bout(action, int(seg[0]), int(seg[-1]) + 1) for seg in np.split(f, breaks)]


def _frame_bouts(df: pl.DataFrame, names: list[str]) -> Annotation:
    frames = _frames(df)
    bouts = []
    for c in names:
        on = df[c].fill_null(0).cast(pl.Float64).to_numpy() > 0.5
        bouts += _runs(frames, on, c)
    return Annotation(sorted(bouts, key=lambda b: (b.start, b.action)), scored=list(names))


def read_frame_table(path: Path, fps: float | None = None, behaviors: tuple[str, ...] = ()) -> Annotation:
    del fps
    df = _read(path)
    names = list(behaviors) or [c for c in df.columns if c.strip().lower() not in FRAME_COLUMNS and _binary(df[c])]
    missing = [b for b in names if b not in df.columns]
    if missing or not names:
        raise AnnotationError(f"behaviour columns {missing or '(none: no 0/1 column)'} not in the table")
    return _frame_bouts(df, names)


def read_simba(path: Path, fps: float | None = None, behaviors: tuple[str, ...] = ()) -> Annotation:
    """The 0/1 columns after SimBA's last pose column (or the named `behaviors`)."""
    del fps
    df = _read(path)
    pose = [i for i, c in enumerate(df.columns) if POSE.search(c)]
    after = df.columns[max(pose) + 1:] if pose else df.columns
    names = list(behaviors) or [c for c in after if c.strip().lower() not in FRAME_COLUMNS and _binary(df[c])]
    if not names:
        raise AnnotationError("no 0/1 behaviour column after the pose columns (a features_extracted file, "
                            "not targets_inserted?)")
    ann = _frame_bouts(df, names)
    ann.notes.append(f"SimBA behaviour columns: {', '.join(names)}")
    return ann


def _first(cols: dict[str, str], *names: str) -> str | None:
    return next((cols[n] for n in names if n in cols), None)


def read_interval_table(path: Path, fps: float | None = None) -> Annotation:
    df = _read(path)
    cols = _lower(df)
    action = _first(cols, *ACTION_COLUMNS)
    if {"start_frame", "stop_frame"} <= set(cols):
        start, stop = df[cols["start_frame"]].cast(pl.Int64), df[cols["stop_frame"]].cast(pl.Int64)
    elif {"start_s", "stop_s"} <= set(cols):
        if not fps:
            raise AnnotationError("intervals are in seconds (start_s, stop_s) — give the video's fps")
        start = (df[cols["start_s"]].cast(pl.Float64) * fps).round().cast(pl.Int64)
        stop = (df[cols["stop_s"]].cast(pl.Float64) * fps).round().cast(pl.Int64)
    else:
        raise AnnotationError("an interval table needs start_frame, stop_frame (or start_s, stop_s)")
    agent, target = _first(cols, "agent_id", "agent"), _first(cols, "target_id", "target")
    bouts = []
    for i, (a, s, e) in enumerate(zip(df[action].to_list(), start.to_list(), stop.to_list(), strict=True)):
        if a is None or s is None or e is None or s > e:
            raise AnnotationError(f"row {i + 2}: missing values or start > stop")
        bouts.append(Bout(str(a), int(s), int(e), None if agent is None else str(df[agent][i]),
                          None if target is None else str(df[target][i])))
    return Annotation(bouts, scored=sorted({b.action for b in bouts}))
