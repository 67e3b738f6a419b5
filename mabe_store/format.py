"""The store's on-disk contract, and a plain writer of it.

The store is the only thing `mabe_store` and `mabe_train` share: a Zarr v3 group that any
experiment can read with plain `zarr` + `numpy`. Layout (V videos, N frames in all, A = 37 actions):

    store.zarr/                     attrs: format_version, n_mice (4), keypoints (18 slot names),
                                           actions (A names, column order), build_config, source;
                                           from `mabe-store build` also: committed (row counts),
                                           build_report, video_notes, unmapped_bodyparts
      features        float32 (N, 144)  raw pixel x/y; column ((mouse_id-1)*18 + k)*2 + c,
                                        c = 0 for x, 1 for y; NaN where not tracked
      actions         uint8   (N, A)    1 where an annotated interval of that action (any agent,
                                        target) covers the frame: start <= t < stop, clipped
      videos/                           one row per video
        video_id int64, lab_id str, split str ("train"|"test"), offset int64 (row of frame 0),
        length int64 (max(video_frame)+1), fps float32, pix_per_cm float32, n_mice int8,
        width_pix float32, height_pix float32,
        behaviors_labeled str (train.csv's text, verbatim; "" when unlabeled),
        labeled_actions uint8 (V, A) (1 where a clean behaviors_labeled entry names the action),
        source str (`mabe-store build` only: fingerprint of the raw inputs, for incremental reruns)
      labeled/                          one row per clean (agent, target, action) entry
        video_index int32, agent int8, target int8 (== agent for self), action int16
      annotations/                      one row per annotation interval, verbatim (not clipped)
        video_index int32, agent_id int8, target_id int8, action int16 (index into attrs.actions),
        start_frame int32, stop_frame int32 (exclusive)

Frame t of video i is row `offset[i] + t`; videos need not be stored in table order.
With K = len(attrs.keypoints) slots (18 by default) the width is 4 * K * 2 and the column formula
uses K. A store built by `mabe-store build` may, after an interrupted build, hold rows past
attrs.committed = {videos, rows, annotations, labeled}: only the first `committed[...]` rows of each
array are valid (`open_store` applies this; the next build truncates the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mabe_store.behaviors import clean_triples
from mabe_store.constants import ACTION_INDEX, ACTIONS, DEFAULT_KEYPOINTS, FORMAT_VERSION, N_MICE

N_FEATURES = N_MICE * len(DEFAULT_KEYPOINTS) * 2

VIDEO_COLUMNS: dict[str, str] = {
    "video_id": "int64", "lab_id": "str", "split": "str", "offset": "int64", "length": "int64",
    "fps": "float32", "pix_per_cm": "float32", "n_mice": "int8", "width_pix": "float32",
    "height_pix": "float32", "behaviors_labeled": "str",
}
ANNOTATION_COLUMNS: dict[str, str] = {
    "video_index": "int32", "agent_id": "int8", "target_id": "int8", "action": "int16",
    "start_frame": "int32", "stop_frame": "int32",
}
LABELED_COLUMNS: dict[str, str] = {
    "video_index": "int32", "agent": "int8", "target": "int8", "action": "int16",
}


@dataclass
class VideoData:
    """One video in memory, as the store holds it. `features` is (T, 144), `actions` (T, A)."""

    video_id: int
    lab_id: str
    features: np.ndarray
    actions: np.ndarray | None = None
    split: str = "train"
    fps: float = 30.0
    pix_per_cm: float = 1.0
    n_mice: int = 2
    width_pix: float = float("nan")
    height_pix: float = float("nan")
    behaviors_labeled: str = ""
    # (agent_id, target_id, action name, start_frame, stop_frame), verbatim
    annotations: list[tuple[int, int, str, int, int]] = field(default_factory=list)


def rasterise(annotations, length: int) -> np.ndarray:
    """(length, A) uint8 frame labels from intervals, clipped to [0, length)."""
    out = np.zeros((length, len(ACTIONS)), dtype=np.uint8)
    for _, _, action, start, stop in annotations:
        lo, hi = max(int(start), 0), min(int(stop), length)
        if hi > lo:
            out[lo:hi, ACTION_INDEX[action]] = 1
    return out


def _write_table(group: zarr.Group, columns: dict[str, str], data: dict[str, Any]) -> None:
    for name, dtype in columns.items():
        values = np.asarray(data[name], dtype=dtype if dtype != "str" else str)
        arr = group.create_array(name, shape=values.shape, dtype=values.dtype if dtype != "str" else str,
                                 chunks=values.shape or (1,), overwrite=True)
        if values.size:
            arr[...] = values


def write_store(path: str | Path, videos: list[VideoData], *, build_config: dict | None = None,
                source: dict | None = None, chunk_rows: int = 16384) -> None:
    """Write a complete store in one go (tests, small experiments). Overwrites `path`."""
    lengths = np.array([v.features.shape[0] for v in videos], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if videos else lengths
    n = int(lengths.sum())
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs.update({
        "format_version": FORMAT_VERSION, "n_mice": N_MICE, "keypoints": list(DEFAULT_KEYPOINTS),
        "actions": list(ACTIONS), "build_config": build_config or {}, "source": source or {},
    })
    feats = root.create_array("features", shape=(n, N_FEATURES), dtype="float32",
                              chunks=(chunk_rows, N_FEATURES), fill_value=np.nan)
    acts = root.create_array("actions", shape=(n, len(ACTIONS)), dtype="uint8",
                             chunks=(chunk_rows, len(ACTIONS)), fill_value=0)
    if n:
        feats[...] = np.concatenate([v.features for v in videos]).astype(np.float32)
        acts[...] = np.concatenate([
            v.actions if v.actions is not None else rasterise(v.annotations, v.features.shape[0])
            for v in videos])
    table = {c: [getattr(v, c, None) for v in videos] for c in VIDEO_COLUMNS}
    table["offset"], table["length"] = offsets, lengths
    vg = root.require_group("videos")
    _write_table(vg, VIDEO_COLUMNS, table)
    mask = np.zeros((len(videos), len(ACTIONS)), dtype=np.uint8)
    lab = {c: [] for c in LABELED_COLUMNS}
    ann = {c: [] for c in ANNOTATION_COLUMNS}
    for i, v in enumerate(videos):
        for t in clean_triples(v.behaviors_labeled):
            mask[i, ACTION_INDEX[t.action]] = 1
            for c, val in zip(LABELED_COLUMNS, (i, t.agent, t.target, ACTION_INDEX[t.action]), strict=True):
                lab[c].append(val)
        for a, tg, action, start, stop in v.annotations:
            for c, val in zip(ANNOTATION_COLUMNS, (i, a, tg, ACTION_INDEX[action], start, stop), strict=True):
                ann[c].append(val)
    arr = vg.create_array("labeled_actions", shape=mask.shape, dtype="uint8",
                          chunks=(max(len(videos), 1), len(ACTIONS)), overwrite=True)
    if mask.size:
        arr[...] = mask
    _write_table(root.require_group("labeled"), LABELED_COLUMNS, lab)
    _write_table(root.require_group("annotations"), ANNOTATION_COLUMNS, ann)
