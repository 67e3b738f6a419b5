"""Shared fixtures: tiny raw datasets in the Kaggle layout, and stores built from them.

`raw_dir` / `tiny_store` come from `mabe_store.synth` (realistic labs, for every helper's tests).
`handmade_raw` / `handmade_store` come from `make_raw`, which writes hand-made videos (gaps, dropped keypoints, headpiece points, paws that fit no
slot, int16 annotation frames, an interval past the end, a quoted behaviors_labeled entry), so the
store tests know every expected value without the synth package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mabe_store.build import build_store
from tests.s3_server import new_bucket, s3_server  # noqa: F401 (a local S3 server for the object-store tests)

META_COLUMNS = ["lab_id", "video_id"] + [f"mouse{m}_{f}" for m in range(1, 5) for f in (
    "strain", "color", "sex", "id", "age", "condition")] + [
    "frames_per_second", "video_duration_sec", "pix_per_cm_approx", "video_width_pix", "video_height_pix",
    "arena_width_cm", "arena_height_cm", "arena_shape", "arena_type", "body_parts_tracked",
    "behaviors_labeled", "tracking_method"]
PARTS = ["nose", "ear_left", "ear_right", "neck", "body_center", "tail_base", "tail_tip"]
HEADPIECE = ["headpiece_topfrontleft", "headpiece_topfrontright"]


def tracking_frame(rng, frames: int, mice: int, parts: list[str], drop: float = 0.1) -> pl.DataFrame:
    """Long tracking rows with a fraction `drop` of keypoints absent (untracked) and frame 1 missing."""
    f, m, p = np.meshgrid(np.arange(frames), np.arange(1, mice + 1), np.arange(len(parts)), indexing="ij")
    keep = (rng.random(f.shape) >= drop) & (f != 1)
    return pl.DataFrame({
        "video_frame": f[keep].astype(np.int64), "mouse_id": m[keep].astype(np.int64),
        "bodypart": np.array(parts)[p[keep]], "x": rng.uniform(0, 500, keep.sum()).astype(np.float32),
        "y": rng.uniform(0, 400, keep.sum()).astype(np.float32)})


def meta_row(lab: str, vid: int, mice: int, parts: list[str], labeled: list[str], fps: float = 30.0) -> dict:
    row = {c: "" for c in META_COLUMNS}
    row.update(lab_id=lab, video_id=str(vid), frames_per_second=str(fps), pix_per_cm_approx="12.5",
               video_width_pix="640", video_height_pix="480", body_parts_tracked=json.dumps(parts),
               behaviors_labeled=json.dumps(labeled) if labeled else "")
    for k in range(1, mice + 1):
        row[f"mouse{k}_strain"], row[f"mouse{k}_id"] = "C57Bl/6J", str(k)
    return row


def write_annotation(path: Path, rows: list[tuple[int, int, str, int, int]], frame_dtype=pl.Int16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    a, t, act, s, e = zip(*rows, strict=True) if rows else ([], [], [], [], [])
    pl.DataFrame({"agent_id": pl.Series(a, dtype=pl.Int8), "target_id": pl.Series(t, dtype=pl.Int8),
                  "action": pl.Series(act, dtype=pl.String), "start_frame": pl.Series(s, dtype=frame_dtype),
                  "stop_frame": pl.Series(e, dtype=frame_dtype)}).write_parquet(path)


def make_raw(root: Path, seed: int = 0) -> Path:
    """Four train videos in two labs and one test video; returns `root`."""
    rng = np.random.default_rng(seed)
    specs = [  # lab, video, split, frames, mice, parts, labeled, annotations
        ("LabA", 101, "train", 120, 2, PARTS, ["mouse1,mouse2,sniff", "mouse2,self,rear"],
         [(1, 2, "sniff", 10, 40), (2, 2, "rear", 100, 150)]),
        ("LabA", 102, "train", 90, 2, PARTS, ["mouse1,mouse2,sniff", "'mouse1','mouse2','sniff'"],
         [(1, 2, "sniff", 0, 5)]),
        ("LabB", 201, "train", 60, 3, PARTS[:4] + HEADPIECE + ["forepaw_left"], ["mouse3,mouse1,attack"],
         [(3, 1, "attack", 20, 30)]),
        ("LabB", 202, "train", 50, 2, PARTS[:4], [], []),
        ("LabA", 301, "test", 70, 2, PARTS, [], []),
    ]
    rows = {"train": [], "test": []}
    for lab, vid, split, frames, mice, parts, labeled, ann in specs:
        path = root / f"{split}_tracking" / lab / f"{vid}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        tracking_frame(rng, frames, mice, parts).write_parquet(path)
        if split == "train" and labeled:
            write_annotation(root / "train_annotation" / lab / f"{vid}.parquet", ann)
        rows[split].append(meta_row(lab, vid, mice, parts, labeled))
    for split, r in rows.items():
        pl.DataFrame(r, schema=dict.fromkeys(META_COLUMNS, pl.String)).write_csv(root / f"{split}.csv")
    return root


@pytest.fixture
def handmade_raw(tmp_path: Path) -> Path:
    """A fresh hand-made raw dataset per test (tests may corrupt it); every value is known."""
    return make_raw(tmp_path / "raw")


@pytest.fixture(scope="session")
def handmade_store(tmp_path_factory) -> Path:
    """A store built once per session from `make_raw`; treat it as read-only."""
    root = tmp_path_factory.mktemp("handmade")
    build_store(make_raw(root / "raw"), root / "store.zarr", progress=False, log=lambda _: None)
    return root / "store.zarr"


def synth_raw(root: Path, videos: int = 6, scale: float = 0.05) -> Path:
    """A small synthetic dataset (7 videos, ~1.7k frames, 6 labs incl. a test video)."""
    from mabe_store.synth import synthesize

    synthesize(root, profile="small", videos=videos, scale=scale, seed=0, progress=False)
    return root


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """A fresh tiny synthetic raw dataset (Kaggle layout) per test."""
    return synth_raw(tmp_path / "raw")


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """A store built once per session from a tiny synthetic dataset; treat it as read-only."""
    root = tmp_path_factory.mktemp("tiny")
    build_store(synth_raw(root / "raw"), root / "store.zarr", progress=False, log=lambda _: None)
    return root / "store.zarr"
