"""Model inputs from the store's coordinate columns: normalised once, derived per batch.

Two stages, so the store is never rebuilt for a feature change:

1. `normalise_coords` (numpy, once per video while staging): pixels -> cm (divide by the video's
   pix_per_cm) and centred on the per-frame centroid of all tracked points (`mabe_train.geometry`), so
   arena size, camera zoom and position drop out. Untracked points stay NaN.
2. `build_inputs` (torch, on the training device, inside the batch): concatenates the selected
   feature blocks — `coords`, `velocity` (cm/s), `acceleration` (cm/s^2): x and y of every
   (mouse, keypoint) point, 144 columns with the default 4 mice x 18 slots; `speed` and
   `accel_norm`: one magnitude per point (72); `missing`: 1 per point whose x or y is untracked (72)
   — and fills NaN with 0. Widths follow the store's layout (mabe_train.layout). Velocity/acceleration are finite
   differences scaled by fps / frame_gap (fps-aware: a 120 fps and a 30 fps video give the same
   cm/s); the first frame of a window repeats the second's difference; a difference that touches
   an untracked point is 0.

NaN policy: 0 after centring means "at the group centroid" — a neutral value; add `missing` to the
features when the model should know which points were absent (V5 keeps the original 144 inputs).
"""

from __future__ import annotations

import numpy as np
import torch

from mabe_train import MabeTrainError
from mabe_train.geometry.arrays import centroid
from mabe_train.layout import DEFAULT_LAYOUT, Layout

PER_POINT = {"coords": 2, "velocity": 2, "acceleration": 2, "speed": 1, "accel_norm": 1, "missing": 1}


class FeatureError(MabeTrainError, ValueError):
    """An unknown feature name in the config."""


def check_features(names: list[str], layout: Layout = DEFAULT_LAYOUT) -> int:
    """Total input width of `names` for the store's layout; raises FeatureError naming the unknown ones."""
    bad = [n for n in names if n not in PER_POINT]
    if bad or not names:
        hint = (" (egocentric pair features are built by the pair model: set task: pairs)"
                if "egocentric" in bad else "")
        raise FeatureError(f"unknown features {bad} in grouped.features — choose from "
                           f"{', '.join(PER_POINT)}{hint}")
    return sum(PER_POINT[n] for n in names) * layout.n_points


def normalise_coords(features: np.ndarray, pix_per_cm: float) -> np.ndarray:
    """(T, 2P) pixels -> (T, 2P) cm, centred per frame on the mean tracked point. NaN stays."""
    x = features.reshape(len(features), -1, 2).astype(np.float32, copy=True)  # (frames, mice*keypoints, xy)
    scale = float(pix_per_cm) if np.isfinite(pix_per_cm) and pix_per_cm > 0 else 1.0
    x -= centroid(x)[:, None]  # an all-NaN frame has no centroid: its points stay NaN
    x /= scale
    return x.reshape(len(features), -1)


def _diff(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Time derivative of (B, T, F) at `rate` (B,) frames/s; NaN-touching differences are NaN."""
    d = torch.diff(x, dim=1) * rate[:, None, None]
    return torch.cat([d[:, :1], d], dim=1) if x.shape[1] > 1 else torch.zeros_like(x)


def _norm_xy(x: torch.Tensor) -> torch.Tensor:
    """(B, T, 2K) interleaved x/y -> (B, T, K) magnitudes."""
    return torch.linalg.vector_norm(x.unflatten(-1, (-1, 2)), dim=-1)


def build_inputs(coords: torch.Tensor, fps: torch.Tensor, names: list[str], frame_gap: int = 1) -> torch.Tensor:
    """(B, T, 2P) normalised coords (NaN = untracked) -> (B, T, width) model inputs, no NaN."""
    check_features(names)
    rate = fps.to(coords.dtype) / frame_gap
    motion = {"velocity", "acceleration", "speed", "accel_norm"} & set(names)
    vel = _diff(coords, rate) if motion else None
    acc = _diff(vel, rate) if motion & {"acceleration", "accel_norm"} else None
    make = {
        "coords": lambda: coords,
        "velocity": lambda: vel,
        "acceleration": lambda: acc,
        "speed": lambda: _norm_xy(vel),
        "accel_norm": lambda: _norm_xy(acc),
        "missing": lambda: coords.isnan().unflatten(-1, (-1, 2)).any(-1).to(coords.dtype),
    }
    return torch.nan_to_num(torch.cat([make[n]() for n in names], dim=-1), nan=0.0)
