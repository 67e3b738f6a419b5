"""Which labeled videos train and which validate: divided by video, stratified by lab, seeded.

The split is a run artefact (`split.json` in the run directory), so `evaluate`, `predict --split
val` and a resumed run all see the videos the run was trained and validated on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mabe_store.reader import Store
from mabe_train.windows import DataError


def split_videos(store: Store, val_fraction: float = 0.2, seed: int = 0, max_videos: int = 0) -> dict:
    """Labeled `train`-split videos divided by video, stratified by lab, seeded.

    Each lab with >= 2 videos gives round(val_fraction * n) (at least 1) of them to validation;
    when no lab has 2, the same share of all videos is held out (tiny stores).
    Unlabeled videos are left out: every frame of theirs would be ignored by the loss anyway.
    """
    v = store.videos
    usable = (v["split"] == "train") & (v["labeled_actions"].any(axis=1))
    idx = np.flatnonzero(usable)
    if idx.size == 0:
        raise DataError(f"{store.path} has no labeled training videos — build it from data with "
                        "annotations (`mabe-store synth` makes some)")
    rng = np.random.default_rng(seed)
    if 0 < max_videos < idx.size:
        idx = np.sort(rng.choice(idx, size=max_videos, replace=False))
    train, val = [], []
    for lab in sorted(set(v["lab_id"][idx].tolist())):
        rows = rng.permutation(idx[v["lab_id"][idx] == lab])
        n_val = 0 if len(rows) < 2 else min(max(1, round(val_fraction * len(rows))), len(rows) - 1)
        val += rows[:n_val].tolist()
        train += rows[n_val:].tolist()
    if not val:  # no lab has 2+ videos: hold out a share of all videos instead
        if len(train) < 2:
            raise DataError(f"only {len(train)} labeled training video(s): need 2+ to validate — "
                            "use a bigger store or a larger data.max_videos")
        rows = rng.permutation(train)
        n_val = min(max(1, round(val_fraction * len(rows))), len(rows) - 1)
        val, train = rows[:n_val].tolist(), rows[n_val:].tolist()
    ids = v["video_id"]
    return {"train": sorted(int(ids[i]) for i in train), "val": sorted(int(ids[i]) for i in val),
            "seed": seed, "val_fraction": val_fraction}


def save_split(split: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(split, indent=1))


def load_split(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
