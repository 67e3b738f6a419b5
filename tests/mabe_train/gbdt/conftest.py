"""A learnable store with annotation intervals (the GBDT reads intervals, not frame labels)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mabe_store.constants import ACTIONS
from mabe_store.writer import write_store
from tests.mabe_train.stores import make_video


def intervals(actions: np.ndarray) -> list[tuple[int, int, str, int, int]]:
    """(1, 2, action, start, stop) rows of each planted bout of (T, A) frame labels."""
    rows = []
    for a in np.flatnonzero(actions.any(axis=0)):
        edges = np.diff(np.concatenate([[0], actions[:, a].astype(int), [0]]))
        rows += [(1, 2, ACTIONS[a], int(s), int(e)) for s, e in zip(np.flatnonzero(edges == 1),
                                                                   np.flatnonzero(edges == -1), strict=True)]
    return rows


def make_gbdt_store(path: Path, n_videos: int = 8, length: int = 400, n_labs: int = 2,
                    skip: dict[int, tuple[str, ...]] | None = None) -> Path:
    """`n_videos` two-mouse videos (sniff, attack, mount bouts; `rear` labeled, never shown) over
    `n_labs` labs; `skip` {video_id: actions} drops those actions' intervals from a video."""
    rng = np.random.default_rng(0)
    videos = []
    for i in range(n_videos):
        v = make_video(100 + i, f"Lab{i % n_labs}", length, rng)
        # the store format may carry frame labels (`actions`) or derive them from the intervals
        frames = getattr(v, "actions", None)
        rows = v.annotations or (intervals(frames) if frames is not None else [])
        drop = (skip or {}).get(100 + i, ())
        v = dataclasses.replace(v, annotations=[r for r in rows if r[2] not in drop], width_pix=640.0,
                                height_pix=480.0, **({"actions": None} if frames is not None else {}))
        videos.append(v)
    write_store(path, videos)
    return path


@pytest.fixture(scope="session")
def gbdt_store(tmp_path_factory) -> Path:
    return make_gbdt_store(tmp_path_factory.mktemp("gbdt-store") / "store.zarr")
