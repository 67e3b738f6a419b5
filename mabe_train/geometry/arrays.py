"""The body geometry rules (`mabe_train.geometry`) in numpy, for one mouse of one video.

Points are `(frames, keypoints, xy)` in any unit (the models use cm); NaN = untracked.
"""

from __future__ import annotations

import numpy as np

from mabe_train.geometry import CENTRE_POINT, HEAD_END, MIN_DIRECTION_CM, TAIL_END, TORSO, Velocity
from mabe_train.layout import Layout


def slots(layout: Layout, names) -> list[int]:
    """The slots of the group `names` the store has, in the group's order."""
    return [i for i in (layout.index(n) for n in names) if i is not None]


def point(pts: np.ndarray, layout: Layout, name: str) -> np.ndarray:
    """(frames, xy) keypoint `name` of (frames, keypoints, xy); NaN when the store has no such slot."""
    i = layout.index(name)
    return pts[:, i] if i is not None else np.full((len(pts), 2), np.nan)


def centroid(pts: np.ndarray) -> np.ndarray:
    """(..., points, xy) -> (..., xy): mean of the tracked points, NaN where none; keeps the dtype."""
    ok = np.isfinite(pts)
    n = ok.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(ok, pts, 0).sum(axis=-2) / n, np.nan)
    return mean.astype(pts.dtype, copy=False)


def group_centroid(pts: np.ndarray, layout: Layout, names) -> np.ndarray:
    """(frames, keypoints, xy) -> (frames, xy) centroid of the group `names`."""
    return centroid(pts[:, slots(layout, names)])


def fill(first: np.ndarray, *fallbacks: np.ndarray) -> np.ndarray:
    """`first`, each NaN taken from the first fallback that has a value there."""
    out = first.copy()
    for f in fallbacks:
        out = np.where(np.isnan(out), f, out)
    return out


def body_centre(pts: np.ndarray, layout: Layout) -> np.ndarray:
    """(frames, keypoints, xy) -> (frames, xy): body_center, else the torso's centroid, else all points'."""
    return fill(point(pts, layout, CENTRE_POINT), group_centroid(pts, layout, TORSO), centroid(pts))


def forward_fill(v: np.ndarray) -> np.ndarray:
    """Carry the last finite row of (frames, ...) forward; rows before the first stay NaN."""
    ok = np.isfinite(v.reshape(len(v), -1)).all(axis=1)
    idx = np.maximum.accumulate(np.where(ok, np.arange(len(v)), 0))
    return v[idx]


def unit(v: np.ndarray) -> np.ndarray:
    """(..., xy) scaled to length 1; NaN where shorter than MIN_DIRECTION_CM."""
    n = np.sqrt((v * v).sum(axis=-1))[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > MIN_DIRECTION_CM, v / n, np.nan)


def heading(pts: np.ndarray, layout: Layout, centre: np.ndarray, hold: bool) -> np.ndarray:
    """(frames, xy) unit vector tail end -> head end of (frames, keypoints, xy); `centre` (frames, xy)
    stands in for an untracked tail end; `hold` carries the last known heading over gaps."""
    rear = fill(group_centroid(pts, layout, TAIL_END), centre)
    u = unit(group_centroid(pts, layout, HEAD_END) - rear)
    return forward_fill(u) if hold else u


def rate(v: np.ndarray, fps: float, velocity: Velocity) -> np.ndarray:
    """Per-second rate of change of (frames, ...) under `velocity`; NaN where a span leaves the video."""
    lag = velocity.frames(fps)
    out = np.full(v.shape, np.nan)
    if len(v) > lag:
        at = lag - velocity.lead(lag)
        out[at:at + len(v) - lag] = (v[lag:] - v[:-lag]) * (fps / lag)
    return out


def turn_rate(u: np.ndarray, fps: float, velocity: Velocity, unwrapped: bool) -> np.ndarray:
    """(frames,) per-second turn of the heading `u` (frames, xy) under `velocity`; NaN where a span
    leaves the video or the heading is unknown (see `mabe_train.geometry` for `unwrapped`)."""
    if unwrapped:
        angle = np.unwrap(np.nan_to_num(np.arctan2(u[:, 1], u[:, 0])))
        return np.where(np.isnan(u[:, 0]), np.nan, rate(angle, fps, velocity))
    lag = velocity.frames(fps)
    out = np.full(len(u), np.nan)
    if len(u) > lag:
        at, a, b = lag - velocity.lead(lag), u[:-lag], u[lag:]
        out[at:at + len(u) - lag] = np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], (a * b).sum(-1)) * (fps / lag)
    return out


def to_ego(p: np.ndarray, origin: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Points (frames, ..., xy) in the frame centred on `origin` (frames, xy) with unit `u` (frames, xy)
    along +x."""
    shape = (len(origin), *([1] * (p.ndim - 2)), 2)
    d = p - origin.reshape(shape)
    ux, uy = u.reshape(shape)[..., 0], u.reshape(shape)[..., 1]
    return np.stack([d[..., 0] * ux + d[..., 1] * uy, -d[..., 0] * uy + d[..., 1] * ux], axis=-1)
