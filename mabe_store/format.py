"""The store's on-disk contract: its layout, table columns and `VideoData`, an in-memory video.

What writes it lives in mabe_store/writer.py (`StoreWriter`, and `write_store` for in-memory
videos), which imports this module and never the other way round.

The store is the only thing `mabe_store` and `mabe_train` share: a Zarr v3 group that any
experiment can read with plain `zarr` + `numpy`. Layout (V videos, N frames in all, A actions: MABe's 37, or a lab's own):

    store.zarr/                     attrs: format_version (2), n_mice (4), keypoints (18 slot names),
                                           actions (A names, column order), build_config, source,
                                           committed (row counts), video_notes, unmapped_bodyparts;
                                           from `mabe-store build` also build_report; a lab's
                                           own store also `vocabulary` (self / undirected
                                           actions, annotation streams: mabe_store/vocabulary.py)
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
        source str (fingerprint of the raw inputs, for incremental reruns; "memory" from write_store)
      labeled/                          one row per clean (agent, target, action) entry
        video_index int32, agent int8, target int8 (== agent for self), action int16
      annotations/                      one row per annotation interval, verbatim (not clipped)
        video_index int32, agent_id int8, target_id int8, action int16 (index into attrs.actions),
        start_frame int32, stop_frame int32 (exclusive)

Frame t of video i is row `offset[i] + t`; videos need not be stored in table order.
With K = len(attrs.keypoints) slots (18 by default) the width is 4 * K * 2 and the column formula
uses K. A store may, after an interrupted build, hold rows past attrs.committed = {videos, rows,
annotations, labeled}: only the first `committed[...]` rows of each array are valid (`open_store`
applies this; the next build truncates the rest).

Storage (any zarr-python 3 reads it; codecs in mabe_store/codecs.py). `features` and `actions`
are sharded: one file per `shard_rows` rows (262,144 by default, all columns), holding inner
chunks of (16,384 rows x one mouse's 36 columns) for `features` and (16,384 x A) for `actions`;
a random window decodes one inner chunk per mouse. Inner chunks are stored transposed
(column-major) and compressed with byte shuffle + zstd level 1 (`numcodecs.shuffle` ships with
zarr but is outside the v3 spec: other implementations may not read it, and zarr-python prints a
notice that `open_store` silences). Inner chunks of untracked mice are not stored.
format_version 2 (this layout) replaced 1, whose arrays were unsharded (one file per 16,384 x 36
chunk, ~20k files for the full set) with plain zstd-1 and no transpose or shuffle, and whose
`write_store` stores had no `committed`, `source` or per-video `source`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mabe_store.constants import ACTION_INDEX, ACTIONS

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
    """One video in memory, for `writer.write_store`: `features` (T, 4 * K * 2) float32 pixels (NaN where
    untracked) and the intervals; the frame labels are derived from them by the writer."""

    video_id: int
    lab_id: str
    features: np.ndarray
    split: str = "train"
    fps: float = 30.0
    pix_per_cm: float = 1.0
    n_mice: int = 2
    width_pix: float = float("nan")
    height_pix: float = float("nan")
    behaviors_labeled: str = ""
    # (agent_id, target_id, action name, start_frame, stop_frame), verbatim
    annotations: list[tuple[int, int, str, int, int]] = field(default_factory=list)


def rasterise(annotations, length: int, actions=ACTIONS) -> np.ndarray:
    """(length, A) uint8 frame labels from intervals, clipped to [0, length); columns in the order
    of `actions` (the store's vocabulary; MABe's 37 by default)."""
    index = ACTION_INDEX if actions is ACTIONS else {a: i for i, a in enumerate(actions)}
    out = np.zeros((length, len(actions)), dtype=np.uint8)
    for _, _, action, start, stop in annotations:
        lo, hi = max(int(start), 0), min(int(stop), length)
        if hi > lo:
            out[lo:hi, index[action]] = 1
    return out
