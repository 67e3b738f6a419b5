"""Poses -> the MABe raw layout: a long tracking parquet and a metadata row, like Kaggle's files.

What this decides, once for every format:
- points: a point is kept when x and y are finite and (with `min_confidence` > 0) its confidence
  is at least `min_confidence`; everything else is an absent row, as untracked points are in the
  Kaggle files. Stored values are the file's, cast to float32 (Kaggle's dtype).
- mice: individuals in file order (or `--individuals` order) become mouse1..mouse4; an individual
  with no kept point is not a mouse; more than 4 is an error naming `--individuals`.
- names: body parts go to the store slot the keypoint map gives them; others keep their own name.
  Two names of one file that land in one slot are an error (the store would keep only one).
The parquet is written with Polars defaults and Kaggle's dtypes (video_frame int32, mouse_id int8,
bodypart string, x/y float32), so `mabe-store build` cannot tell it from a downloaded file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mabe_store.constants import ACTION_INDEX, N_MICE
from mabe_store.importers.keymap import slot_of
from mabe_store.importers.poses import ImportFailure, Poses

META_COLUMNS = ["lab_id", "video_id"] + [f"mouse{m}_{f}" for m in range(1, N_MICE + 1) for f in (
    "strain", "color", "sex", "id", "age", "condition")] + [
    "frames_per_second", "video_duration_sec", "pix_per_cm_approx", "video_width_pix", "video_height_pix",
    "arena_width_cm", "arena_height_cm", "arena_shape", "arena_type", "body_parts_tracked",
    "behaviors_labeled", "tracking_method"]


@dataclass
class Converted:
    """One video ready to write: long rows, the mice and names chosen, and what was left out."""

    tracking: pl.DataFrame
    mice: list[str]  # individual names; mouse k+1 is mice[k]
    names: dict[str, str]  # file body part -> written body part (a slot, or its own name)
    unmapped: dict[str, int]  # file body part that fits no slot -> points kept under its own name
    dropped_low: int = 0  # points dropped for low confidence
    notes: list[str] = field(default_factory=list)


def kept_points(poses: Poses, min_confidence: float) -> np.ndarray:
    """(frames, individuals, keypoints) bool: finite x and y, and confident enough."""
    keep = np.isfinite(poses.position).all(axis=-1)
    if min_confidence > 0 and poses.confidence is not None:
        keep &= np.nan_to_num(poses.confidence, nan=-np.inf) >= min_confidence
    return keep


def choose_mice(poses: Poses, keep: np.ndarray, individuals: list[str] | None) -> tuple[list[int], list[str]]:
    """Indices of the individuals that become mouse1.., and notes on the tracks left out."""
    notes = []
    if individuals:
        unknown = [n for n in individuals if n not in poses.individuals]
        if unknown:
            raise ImportFailure(f"--individuals names {unknown} not in the file (it has {poses.individuals})")
        order = [poses.individuals.index(n) for n in individuals]
    else:
        order = list(range(len(poses.individuals)))
    has = keep.any(axis=(0, 2))
    empty = [poses.individuals[i] for i in order if not has[i]]
    if empty:
        notes.append(f"left out {len(empty)} track(s) with no points: {', '.join(empty)}")
    order = [i for i in order if has[i]]
    if not order:
        raise ImportFailure("no tracked points: every track is empty (NaN-only or below --min-confidence)")
    if len(order) > N_MICE:
        names = ", ".join(poses.individuals[i] for i in order)
        raise ImportFailure(f"{len(order)} individuals with points ({names}); the store holds {N_MICE} mice "
                            "— pick four with --individuals a,b,c,d")
    return order, notes


def map_names(keypoints: list[str], keymap: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """file name -> written name, and the names that fit no slot; two names in one slot fail."""
    out, unmapped, by_slot = {}, [], {}
    for name in keypoints:
        slot = slot_of(name, keymap)
        if slot is None:
            unmapped.append(name)
            out[name] = name
            continue
        if slot in by_slot:
            raise ImportFailure(f"body parts {by_slot[slot]!r} and {name!r} both map to slot {slot} "
                                "— drop one from the keypoint map (--keypoints)")
        by_slot[slot] = name
        out[name] = slot
    return out, unmapped


def convert(poses: Poses, keymap: dict[str, str], *, min_confidence: float = 0.0,
            individuals: list[str] | None = None) -> Converted:
    """Poses -> long rows (frame-major, then mouse, then body part in file order)."""
    finite = np.isfinite(poses.position).all(axis=-1)
    keep = kept_points(poses, min_confidence)
    order, notes = choose_mice(poses, keep, individuals)
    names, unmapped = map_names(poses.keypoints, keymap)
    keep = keep[:, order]
    f, m, k = np.nonzero(keep)
    xy = poses.position[:, order][f, m, k]
    written = np.array([names[n] for n in poses.keypoints], dtype=object)
    tracking = pl.DataFrame({
        "video_frame": pl.Series(f, dtype=pl.Int32), "mouse_id": pl.Series(m + 1, dtype=pl.Int8),
        "bodypart": pl.Series(written.tolist(), dtype=pl.String).gather(k),
        "x": pl.Series(xy[:, 0], dtype=pl.Float32), "y": pl.Series(xy[:, 1], dtype=pl.Float32)})
    counts = np.bincount(k, minlength=len(poses.keypoints))
    low = int((finite[:, order] & ~keep).sum())
    return Converted(tracking, [poses.individuals[i] for i in order], names,
                     {n: int(counts[poses.keypoints.index(n)]) for n in unmapped}, low, notes)


def check_behaviors(entries: list[str], n_mice: int, known=ACTION_INDEX) -> list[str]:
    """`agent,target,action` entries (train.csv's behaviors_labeled) valid for `n_mice` mice and
    the `known` actions (MABe's, or the lab's vocabulary), or ImportFailure listing every bad one."""
    mice = [f"mouse{k}" for k in range(1, n_mice + 1)]
    bad = []
    for e in entries:
        parts = e.split(",")
        ok = (len(parts) == 3 and parts[0] in mice and parts[1] in [*mice, "self"] and parts[1] != parts[0]
              and parts[2] in known)
        if not ok:
            bad.append(e)
    if bad:
        raise ImportFailure(f"--behaviors entries {bad} are not agent,target,action with agent in "
                            f"{', '.join(mice)}, target one of them or self, and a known action")
    return entries


def meta_row(c: Converted, *, lab: str, video_id: int, n_frames: int, fps: float,
             pix_per_cm: float | None, arena: dict[str, float | None], source: str,
             behaviors: list[str] = (), known=ACTION_INDEX) -> dict[str, str]:
    """train.csv/test.csv row (every value text, as Kaggle's); unknown values are empty."""
    row = dict.fromkeys(META_COLUMNS, "")
    for k, name in enumerate(c.mice, start=1):
        row[f"mouse{k}_id"] = name
    parts = list(dict.fromkeys(c.tracking["bodypart"].to_list()))
    row.update(lab_id=lab, video_id=str(video_id), frames_per_second=f"{fps:g}",
               video_duration_sec=f"{n_frames / fps:g}",
               pix_per_cm_approx="" if pix_per_cm is None else f"{pix_per_cm:g}",
               body_parts_tracked=json.dumps(parts), tracking_method=source,
               behaviors_labeled=json.dumps(check_behaviors(list(behaviors), len(c.mice), known)) if behaviors else "")
    for key, value in arena.items():
        row[key] = "" if value is None else f"{value:g}"
    return row


def merge_metadata(raw: Path, split: str, row: dict[str, str], splits=("train", "test")) -> None:
    """Put `row` into {split}.csv, replacing any row of the same video_id in either csv."""
    vid = row["video_id"]
    for s in splits:
        path = raw / f"{s}.csv"
        df = pl.read_csv(path, infer_schema=False) if path.is_file() else pl.DataFrame(
            schema=dict.fromkeys(META_COLUMNS, pl.String))
        df = df.filter(pl.col("video_id") != vid)
        if s == split:
            cols = df.columns + [c for c in META_COLUMNS if c not in df.columns]
            new = pl.DataFrame([{c: row.get(c, "") for c in cols}], schema=dict.fromkeys(cols, pl.String))
            df = pl.concat([df.with_columns(pl.lit("").alias(c) for c in cols if c not in df.columns), new])
        if path.is_file() or s == split:
            df.write_csv(path)
