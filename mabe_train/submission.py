"""Tables in the competition's text formats: submissions, solutions, the no-learning baseline.

The metric compares ids as text, so every table here writes them the way the real files do:
`mouse1`..`mouse4` for agents and targets, `self` as the target of a self behaviour. The writer
refuses anything the metric would reject or silently ignore (an unlabeled triple, two actions of
one pair on a frame, an empty interval, an empty file), because a Kaggle submission that fails to
score costs a day's quota: validation up front, all problems in one message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import polars as pl

from mabe_store.constants import mouse_name
from mabe_store.reader import Store
from mabe_train import MabeTrainError
from mabe_train.intervals import (
    ID_COLUMNS,
    INTERVAL_COLUMNS,
    INTERVAL_SCHEMA,
    SOLUTION_SCHEMA,
    SUBMISSION_COLUMNS,
    cast_intervals,
    empty_intervals,
)
from mabe_train.metric import check_overlaps


class SubmissionError(MabeTrainError, ValueError):
    """The intervals cannot be written as a valid submission; the message lists every problem."""


def mouse_text(agent: int, target: int) -> tuple[str, str]:
    """(`mouse2`, `self`) for a self pair (2, 2); (`mouse1`, `mouse3`) for (1, 3)."""
    return mouse_name(agent), "self" if agent == target else mouse_name(target)


def to_tracking_frames(frames, scale: float) -> np.ndarray:
    """Annotation frames -> tracking frames of a lab whose labels count `scale` frames per tracked
    frame (`pairs.decode.label_frame_scale`); rounded to the nearest frame."""
    frames = np.asarray(frames, dtype=np.int64)
    return frames if scale == 1 else np.rint(frames / scale).astype(np.int64)


def to_label_frames(frames, scale: float) -> np.ndarray:
    """The inverse of `to_tracking_frames`, for submission rows (round trip within one frame)."""
    frames = np.asarray(frames, dtype=np.int64)
    return frames if scale == 1 else np.rint(frames * scale).astype(np.int64)


def labeled_entries(store: Store, video_ids: Iterable) -> dict[str, set[str]]:
    """video_id (text) -> the clean "agent,target,action" entries the video labels."""
    out = {}
    for vid in video_ids:
        t = store.labeled_triples(vid)
        out[str(vid)] = {",".join((*mouse_text(int(a), int(g)), str(x)))
                         for a, g, x in zip(t["agent"], t["target"], t["action"], strict=True)}
    return out


# -- validation and writing -------------------------------------------------------------------
def _problems(df: pl.DataFrame, labeled: Mapping[str, set[str]]) -> list[str]:
    missing = [c for c in INTERVAL_COLUMNS if c not in df.columns]
    if missing:
        return [f"missing columns {missing}"]
    problems = []
    if df.height == 0:
        problems.append("no intervals (the metric rejects an empty submission; emit at least one row)")
    short = df.filter(pl.col("start_frame") >= pl.col("stop_frame")).height
    if short:
        problems.append(f"{short} intervals with start_frame >= stop_frame")
    entry = pl.concat_str([pl.col("agent_id"), pl.col("target_id"), pl.col("action")], separator=",")
    allowed = pl.DataFrame([(v, e) for v, es in labeled.items() for e in es],
                           schema={"video_id": pl.Utf8, "entry": pl.Utf8}, orient="row")
    outside = df.with_columns(entry.alias("entry")).join(allowed, on=["video_id", "entry"], how="anti")
    if outside.height:
        r = outside.row(0, named=True)
        problems.append(f"{outside.height} intervals of triples their video does not label "
                        f"(first: video {r['video_id']}, {r['entry']})")
    clashes = check_overlaps(df, ID_COLUMNS)
    if clashes.height:
        r = clashes.row(0, named=True)
        problems.append(f"{clashes.height} overlaps of two actions of one pair (first: video {r['video_id']}, "
                        f"{r['agent_id']},{r['target_id']} at frame {r['start_frame']})")
    return problems


def validate_submission(intervals: pl.DataFrame, labeled: Mapping[str, set[str]]) -> pl.DataFrame:
    """The intervals as text ids and Int64 frames, sorted; SubmissionError listing every problem."""
    df = cast_intervals(intervals.select([c for c in INTERVAL_COLUMNS if c in intervals.columns]))
    problems = _problems(df, {str(k): v for k, v in labeled.items()})
    if problems:
        raise SubmissionError("invalid submission: " + "; ".join(problems)
                              + " — decode with mabe_train.decode, which emits only valid rows")
    return df.sort("video_id", "agent_id", "target_id", "start_frame")


def write_submission(intervals: pl.DataFrame, path: str | Path, labeled: Mapping[str, set[str]]) -> Path:
    """Validate `intervals` against each video's labeled entries and write the Kaggle CSV."""
    df = validate_submission(intervals, labeled)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.with_row_index("row_id").select(SUBMISSION_COLUMNS).write_csv(path)
    return path


# -- tables from a store ----------------------------------------------------------------------
def solution_from_store(store: Store, video_ids: Iterable | None = None) -> pl.DataFrame:
    """The metric's solution table for the given videos (default: all) from their annotations.

    As in the competition's solution, a video contributes one row per annotation interval, so a
    video without annotations has no rows and predictions for it are dropped by the metric.
    """
    vids = list(store.videos["video_id"]) if video_ids is None else list(video_ids)
    parts = []
    for vid in vids:
        i = store.index(vid)
        ann = store.annotations(vid)
        if len(ann["action"]) == 0:
            continue
        agents, targets = zip(*(mouse_text(int(a), int(t)) for a, t in
                                zip(ann["agent_id"], ann["target_id"], strict=True)), strict=True)
        parts.append(pl.DataFrame({
            "video_id": [str(int(store.videos["video_id"][i]))] * len(agents),
            "agent_id": agents, "target_id": targets, "action": ann["action"].astype(str),
            "start_frame": ann["start_frame"].astype(np.int64), "stop_frame": ann["stop_frame"].astype(np.int64),
        }).with_columns(pl.lit(str(store.videos["lab_id"][i])).alias("lab_id"),
                        pl.lit(str(store.videos["behaviors_labeled"][i])).alias("behaviors_labeled")))
    if not parts:
        return empty_intervals(SOLUTION_SCHEMA)
    return pl.concat(parts)


def _spread(video_id, length: int, entries: set[str]) -> list[tuple]:
    """Rows of `INTERVAL_SCHEMA` (video_id as text): each pair's labeled actions in equal chunks."""
    by_pair: dict[tuple[str, str], list[str]] = {}
    for e in sorted(entries):
        a, t, x = e.split(",")
        by_pair.setdefault((a, t), []).append(x)
    rows = []
    for (a, t), acts in by_pair.items():
        step = -(-length // len(acts))  # ceil: equal consecutive chunks, the last one shorter
        rows += [(str(video_id), a, t, x, k * step, min((k + 1) * step, length))
                 for k, x in enumerate(acts) if k * step < length]
    return rows


def no_learning_baseline(store: Store, video_ids: Iterable) -> pl.DataFrame:
    """Each clean labeled triple spread over its whole video (about 0.07 on the real data).

    A pair with several labeled actions gets the video cut into equal consecutive chunks, one
    action each, so the metric's overlap rule never fires.
    """
    vids = list(video_ids)
    labeled = labeled_entries(store, vids)
    rows = []
    for vid in vids:
        length = int(store.videos["length"][store.index(vid)])
        rows += _spread(int(vid), length, labeled[str(vid)])
    return pl.DataFrame(rows, schema=INTERVAL_SCHEMA, orient="row")
