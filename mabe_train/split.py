"""Which labeled videos train and which validate: divided by video, stratified by lab, seeded.

The split is a run artefact (`split.json` in the run directory), so `evaluate`, `predict --split
val` and a resumed run all see the videos the run was trained and validated on. Cross-validation
(mabe_train.cv) deals the same videos into K folds here (`assign_folds`) and hands each fold's
train/val division to `train(cfg, split=...)` (`fold_split`, checked by `check_split`).
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


def usable_ids(store: Store) -> list[int]:
    """Sorted ids of the labeled `train`-split videos: what splits and folds divide."""
    v = store.videos
    usable = (v["split"] == "train") & v["labeled_actions"].any(axis=1)
    return sorted(int(x) for x in v["video_id"][usable])


def assign_folds(store: Store, k: int, seed: int = 0, labs: list[str] | None = None) -> dict[int, int]:
    """{video_id: fold} for the labeled train videos of `labs` (default: all), stratified by lab.

    Each lab's videos are dealt round-robin from a seeded shuffle, starting where the previous lab
    stopped, so 1-2 video labs do not pile into fold 0.
    """
    v = store.videos
    usable = (v["split"] == "train") & v["labeled_actions"].any(axis=1)
    have = sorted(set(v["lab_id"][usable].tolist()))
    unknown = sorted(set(labs or []) - set(have))
    if unknown:
        raise DataError(f"--labs {', '.join(unknown)}: no labeled training video of that lab in {store.path} "
                        f"(labs: {', '.join(have)})")
    if k < 2:
        raise DataError(f"--folds must be >= 2, got {k}")
    rng = np.random.default_rng(seed)
    out, start = {}, 0
    for lab in labs or have:
        ids = rng.permutation(v["video_id"][usable & (v["lab_id"] == lab)])
        for j, vid in enumerate(ids):
            out[int(vid)] = (start + j) % k
        start = (start + len(ids)) % k
    if len(set(out.values())) < k:
        raise DataError(f"{len(out)} videos to validate cannot fill {k} folds — use fewer --folds")
    return out


def fold_split(folds: dict[int, int], fold: int, ids: list[int]) -> dict:
    """Fold `fold`'s division: its videos validate, every other video of `ids` trains (videos of
    labs outside `--labs` always train)."""
    val = sorted(v for v, f in folds.items() if f == fold)
    held = set(val)
    return {"train": [v for v in ids if v not in held], "val": val, "fold": fold}


def check_split(store: Store, split: dict) -> None:
    """DataError listing every problem of a given split: unknown or unlabeled videos, overlap, empty sides."""
    ok = set(usable_ids(store))
    train, val = [int(x) for x in split.get("train", [])], [int(x) for x in split.get("val", [])]
    problems = [f"no {side} videos" for side, ids in (("train", train), ("val", val)) if not ids]
    if bad := sorted(set(train + val) - ok):
        problems.append(f"not labeled training videos of {store.path}: {bad[:10]}")
    if both := sorted(set(train) & set(val)):
        problems.append(f"in both train and val: {both[:10]}")
    if problems:
        raise DataError(f"the given split cannot be trained on: {'; '.join(problems)}")


def save_split(split: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(split, indent=1))


def load_split(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
