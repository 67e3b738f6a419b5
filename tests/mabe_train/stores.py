"""Tiny seeded stores with learnable structure, for the mabe_train tests.

Two mice per video. Behaviour comes in bouts of 20-80 frames: apart (other), close (sniff ->
social), close with violent jitter (attack -> aggressive), on top (mount -> mating). Frame labels
follow the bouts, so a model that reads relative position and motion can learn them. Pixel scale
(pix_per_cm) and arena offset vary per video, so coordinate normalisation matters. Some points are
untracked (NaN). The session fixture `train_store` (tests/mabe_train/conftest.py) is built from these.
The bouts are written as annotation intervals; the store's writer derives the frame labels (this
module is the tests' one way to write a store: `mabe_store.writer.write_store`, the builder's writer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mabe_store.format import VideoData
from mabe_store.writer import write_store

LABELED = json.dumps(["mouse1,mouse2,sniff", "mouse1,mouse2,attack", "mouse1,mouse2,mount",
                      "mouse1,self,rear"])
BOUTS = ("none", "sniff", "attack", "mount")


def _bouts(rng, length: int) -> np.ndarray:
    kinds = []
    while len(kinds) < length:
        kinds += [rng.choice(4, p=[0.45, 0.25, 0.15, 0.15])] * int(rng.integers(20, 80))
    return np.array(kinds[:length])


def make_video(video_id: int, lab: str, length: int, rng, labeled: bool = True,
               split: str = "train") -> VideoData:
    """One two-mouse video with planted bouts; features in pixels with some NaN."""
    ppc = float(rng.uniform(5, 15))
    kinds = _bouts(rng, length)
    c1 = np.cumsum(rng.normal(0, 0.3, (length, 2)), axis=0) * ppc + rng.uniform(100, 400, 2)
    angle = np.cumsum(rng.normal(0, 0.05, length))
    far = 12 * ppc * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    near = 1.5 * ppc * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    rel = np.where((kinds == 0)[:, None], far, near)
    rel[kinds == 2] += rng.normal(0, 1.5 * ppc, ((kinds == 2).sum(), 2))
    rel[kinds == 3] = [0.0, 0.3 * ppc]
    shape = rng.normal(0, 1.0, (18, 2)) * ppc
    feats = np.full((length, 4, 18, 2), np.nan, dtype=np.float32)
    for m, centre in enumerate((c1, c1 + rel)):
        feats[:, m] = centre[:, None, :] + shape[None] + rng.normal(0, 0.05 * ppc, (length, 18, 2))
    feats[:, :2][rng.random((length, 2, 18)) < 0.05] = np.nan
    return VideoData(video_id=video_id, lab_id=lab, features=feats.reshape(length, 144), split=split,
                     fps=30.0, pix_per_cm=ppc, n_mice=2, behaviors_labeled=LABELED if labeled else "",
                     annotations=bout_intervals(kinds) if labeled else [])


def bout_intervals(kinds: np.ndarray) -> list[tuple[int, int, str, int, int]]:
    """(1, 2, action, start, stop) for every run of one non-"none" bout kind."""
    edges = np.flatnonzero(np.diff(kinds)) + 1
    starts, stops = np.r_[0, edges], np.r_[edges, len(kinds)]
    return [(1, 2, BOUTS[kinds[s]], int(s), int(e)) for s, e in zip(starts, stops, strict=True) if kinds[s]]


def make_train_store(path: Path, n_videos: int = 8, length: int = 400, seed: int = 0,
                     n_unlabeled: int = 1, n_labs: int = 2) -> Path:
    """A store of `n_videos` labeled videos over `n_labs` labs plus `n_unlabeled` unlabeled ones."""
    rng = np.random.default_rng(seed)
    videos = [make_video(100 + i, f"Lab{i % n_labs}", length, rng) for i in range(n_videos)]
    videos += [make_video(900 + i, "Lab0", length, rng, labeled=False) for i in range(n_unlabeled)]
    write_store(path, videos)
    return path


PAIRS_DEBUG = ["sequence_length=32", "batch_size=16", "model.conv_channels=[16]", "lstm_hidden=16",
               "train.epochs=1", "train.steps_per_epoch=6", "train.max_val_videos=3", "train.progress=false"]


def pairs_debug_cfg(root: Path, name: str, *extra: str):
    """configs/pairs_demo.yaml at debug size on the store `root/s.zarr`, runs under `root/runs`."""
    from mabe_train.config import load_config
    return load_config("configs/pairs_demo.yaml", [f"data.data_dir={root / 's.zarr'}",
                                                   f"train.checkpoint_dir={root / 'runs'}",
                                                   f"train.run_name={name}", *PAIRS_DEBUG, *extra])


def make_pairs_run(root: Path) -> Path:
    """`mabe-store synth` (8 videos) -> `build` -> a debug-size pairs run `root/runs/p`."""
    from typer.testing import CliRunner

    from mabe_store.cli import app
    from mabe_train.train import train
    for args in (["synth", "--out", root / "raw", "--videos", 8, "--scale", 0.25],
                 ["build", "--raw", root / "raw", "--out", root / "s.zarr", "--no-progress"]):
        r = CliRunner().invoke(app, [str(a) for a in args])
        assert r.exit_code == 0, r.output
    return train(pairs_debug_cfg(root, "p"))
