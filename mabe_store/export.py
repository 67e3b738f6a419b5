"""`mabe-store export`: one store video back out as a movement netCDF or a DeepLabCut table.

The inverse of `mabe-store import`, for other tools (movement, SimBA, DeepLabCut's own plots):
mice become individuals `mouse1..`, store slots become keypoints; only the mice and slots with any
point are written. Values are the store's float32 pixels widened to float64, so importing the
export gives back exactly the stored coordinates. Frames past the last tracked one are not in the
store (its length is the last tracked frame + 1, as for Kaggle files), so they are not exported.
What the store does not hold cannot come back, and `export_notes` says so in one line each: the
tracker's confidence (a point the import kept is written with likelihood/confidence 1) and body
parts that fit no slot (the build counts them per lab and leaves them out); they stay in the raw
folder's tracking parquet and in the original files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mabe_store.constants import N_MICE
from mabe_store.importers.dlc import write_dlc
from mabe_store.importers.movement import write_movement
from mabe_store.importers.poses import Poses
from mabe_store.reader import Store, StoreError

EXPORT_FORMATS = ("movement", "dlc")


def store_poses(store: Store, video_id) -> Poses:
    """A store video as Poses (frames, mice with points, slots with points, 2)."""
    i = store.index(video_id)
    k = len(store.keypoints)
    feats = np.asarray(store.features(video_id)).reshape(-1, N_MICE, k, 2)
    has = np.isfinite(feats).all(-1)  # (frames, mice, slots)
    mice = np.flatnonzero(has.any(axis=(0, 2)))
    slots = np.flatnonzero(has[:, mice].any(axis=(0, 1)))
    fps = float(store.videos["fps"][i])
    return Poses(feats[:, mice][:, :, slots].astype(np.float64), None, [f"mouse{m + 1}" for m in mice],
                 [store.keypoints[s] for s in slots], fps=fps if np.isfinite(fps) and fps > 0 else None,
                 source="mabe")


def export_notes(store: Store, video_id) -> list[str]:
    """One line per kind of input the export cannot carry, for this video's lab."""
    lab = str(store.videos["lab_id"][store.index(video_id)])
    parts = sorted(store.attrs.get("unmapped_bodyparts", {}).get(lab, {}))
    notes = ["not exported: the tracker's confidence (the store keeps none) — points are written with "
             "confidence 1, untracked ones as NaN"]
    if parts:
        notes.append(f"not exported: body parts of lab {lab} that fit no store slot ({', '.join(parts)}) — give "
                     "them a slot with an alias in configs/store.yaml and rebuild to keep them")
    return notes


def export_video(store: Store, video_id, fmt: str, out: str | Path) -> Path:
    """Write `video_id` of `store` to `out` as `movement` (netCDF) or `dlc` (.h5, or .csv)."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    poses = store_poses(store, video_id)
    return write_movement(poses, out) if fmt == "movement" else write_dlc(poses, out)
