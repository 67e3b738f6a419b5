"""Which frames a mouse, or a pair of mice, is tracked on, and predicted intervals cut to them.

A model still outputs probabilities where a mouse has no keypoint (its input there is the fill
value), so a recording tracked on 0.075 % of its frames was reported as one behaviour for 100 % of
it. This module holds the one definition that predict and report share:

- a mouse is tracked on a frame where at least one of its keypoint slots has a finite x and y, or
  inside a gap of at most `MAX_GAP_S` seconds between two such frames (a detector dropping a mouse
  for a few frames is not the mouse leaving: the models' inputs carry its last pose through it);
- a pair (agent, target) is tracked where both mice are; a self pair (target == agent, written
  `self` in a submission) where the agent is.

`cut_to_tracked` turns one video's intervals into their pieces on tracked frames: an interval over
an untracked stretch becomes two, one wholly untracked vanishes, one wholly tracked is unchanged.
Masks are (frames, mice) bool, mice 1..N_MICE in columns 0..N_MICE-1.

Why bridge 1 s: on the 14 real two-rat DeepLabCut recordings (../shared/real-labeled, 202,005
frames, both rats tracked on 62 % of them) cutting the human social/aggression bouts to strictly
tracked frames split 828 bouts into 6,220 pieces (7.5x) and kept 58 % of their time; bridging gaps
of 0.1 / 0.25 / 0.5 / 1 / 2 s gave 3.5x / 2.3x / 1.7x / 1.24x / 1.06x pieces and kept 62 / 68 / 74 /
82 / 91 %. 1 s is the shortest bridge under 1.25x; longer gaps count as untracked time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from mabe_store.constants import N_COORDS, N_MICE
from mabe_train import MabeTrainError


class TrackedError(MabeTrainError):
    """An interval names a mouse in a form this module cannot read."""


def mice_tracked(features: np.ndarray, n_keypoints: int) -> np.ndarray:
    """(T, N_MICE) bool from (T, N_MICE * n_keypoints * 2) pixel coordinates (NaN = not tracked)."""
    xy = np.asarray(features).reshape(len(features), N_MICE, n_keypoints, N_COORDS)
    return np.isfinite(xy).all(axis=3).any(axis=2)


MAX_GAP_S = 1.0


def bridge_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """(T, M) bool with every run of False of at most `max_gap` frames between two True frames set True
    (a gap at the start or end of the video stays untracked)."""
    out = np.array(mask, dtype=bool, copy=True)
    if max_gap <= 0:
        return out
    for m in range(out.shape[1]):
        starts, stops = runs(~out[:, m])
        inner = (starts > 0) & (stops < len(out)) & (stops - starts <= max_gap)
        for a, b in zip(starts[inner], stops[inner], strict=True):
            out[a:b, m] = True
    return out


def store_tracked(store, video_id, max_gap_s: float = MAX_GAP_S) -> np.ndarray:
    """(T, N_MICE) bool of one video of an open `mabe_store.reader.Store`, gaps up to `max_gap_s` bridged."""
    fps = float(store.videos["fps"][store.index(video_id)])
    gap = int(round(max_gap_s * fps)) if np.isfinite(fps) and fps > 0 else 0
    return bridge_gaps(mice_tracked(store.features(video_id), len(store.keypoints)), gap)


def pair_tracked(mice: np.ndarray, agent: int, target: int) -> np.ndarray:
    """(T,) bool: frames where the pair is tracked (the agent alone when target == agent)."""
    def one(m: int) -> np.ndarray:
        return mice[:, m - 1] if 1 <= m <= mice.shape[1] else np.zeros(len(mice), dtype=bool)
    return one(agent) if target == agent else one(agent) & one(target)


def mouse_number(text: str, agent: int | None = None) -> int:
    """`mouse3` -> 3; `self` -> the agent's number."""
    text = str(text)
    if text == "self" and agent is not None:
        return agent
    if text.startswith("mouse") and text[5:].isdigit():
        return int(text[5:])
    raise TrackedError(f"cannot read the mouse id {text!r} (expected mouse1..mouse{N_MICE} or self)")


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the True runs of a (T,) bool mask, stops exclusive."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def cut(starts, stops, run_starts, run_stops) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals [starts, stops) intersected with disjoint sorted runs: (row of each piece, start, stop)."""
    s, e = np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64)
    first = np.searchsorted(run_stops, s, side="right")  # first run ending after the start
    last = np.searchsorted(run_starts, e, side="left")  # runs beginning before the stop
    counts = np.maximum(last - first, 0)
    row = np.repeat(np.arange(len(s)), counts)
    k = np.repeat(first, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    a, b = np.maximum(s[row], run_starts[k]), np.minimum(e[row], run_stops[k])
    keep = b > a
    return row[keep], a[keep], b[keep]


def cut_to_tracked(intervals: pl.DataFrame, mice: np.ndarray, scale: float = 1.0) -> pl.DataFrame:
    """One video's intervals (agent_id, target_id, start_frame, stop_frame, any other columns) cut to
    the frames where their pair is tracked, in the input's row order.

    scale: interval frames per tracking frame (`DecodeConfig.scale`); run edges are mapped with it,
    and the last tracked run stays open-ended, so an interval of a fully tracked pair is unchanged."""
    if intervals.height == 0:
        return intervals
    df = intervals.with_row_index("_row")
    pieces = []
    for (agent_t, target_t), g in df.group_by(["agent_id", "target_id"], maintain_order=True):
        agent = mouse_number(agent_t)
        rs, re = runs(pair_tracked(mice, agent, mouse_number(target_t, agent)))
        open_end = re == len(mice)
        rs, re = np.rint(rs * scale).astype(np.int64), np.rint(re * scale).astype(np.int64)
        re[open_end] = np.iinfo(np.int64).max
        row, a, b = cut(g["start_frame"], g["stop_frame"], rs, re)
        pieces.append(g[row].with_columns(pl.Series("start_frame", a, dtype=g["start_frame"].dtype),
                                          pl.Series("stop_frame", b, dtype=g["stop_frame"].dtype)))
    return pl.concat(pieces).sort("_row", "start_frame", maintain_order=True).drop("_row")


def clip_to_tracked(intervals: pl.DataFrame, store, scale: Callable[[str], float] | None = None) -> pl.DataFrame:
    """Intervals of any videos of `store` (video_id column) cut to their pairs' tracked frames;
    scale(lab_id): interval frames per tracking frame of a lab (default 1)."""
    if intervals.height == 0:
        return intervals
    parts = []
    for (vid,), g in intervals.group_by(["video_id"], maintain_order=True):
        lab = str(store.videos["lab_id"][store.index(vid)])
        parts.append(cut_to_tracked(g, store_tracked(store, vid), scale(lab) if scale else 1.0))
    return pl.concat(parts)
