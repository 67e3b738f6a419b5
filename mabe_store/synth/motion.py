"""Mouse bodies: free random-walk motion, keypoint rendering, tracking noise and dropouts.

Why: keypoints must move like bodies, not like independent noise, so that behaviours planted as
body motion (see `actions.py`) show up consistently in every keypoint. Each mouse is a body
state per frame, arrays of shape (frames, mice): centre `cx, cy` (cm, arena frame), `heading`
(rad), `length` (body-axis scale; < 1 when rearing or hunched), `yaw` (head bend at the neck,
rad) and `wag` (tail swing). Keypoints come from a template in the body frame (x forward,
y left, cm). Everything is vectorised over frames with numpy (smoothing is a convolution), so a
video costs a few array passes whatever its length. Trade-off: no legs, no 3-D, no identity swaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Body-frame template (cm): x forward along the body axis, y to the mouse's left.
TEMPLATE: dict[str, tuple[float, float]] = {
    "nose": (4.5, 0.0), "head": (3.3, 0.0), "ear_left": (2.7, 0.9), "ear_right": (2.7, -0.9),
    "neck": (1.8, 0.0), "spine_1": (1.0, 0.0), "body_center": (0.0, 0.0),
    "lateral_left": (0.0, 1.5), "lateral_right": (0.0, -1.5), "spine_2": (-1.5, 0.0),
    "hip_left": (-2.5, 1.2), "hip_right": (-2.5, -1.2), "tail_base": (-4.0, 0.0),
    "tail_middle_1": (-6.0, 0.0), "tail_midpoint": (-8.0, 0.0), "tail_middle_2": (-10.0, 0.0),
    "tail_tip": (-12.0, 0.0), "forepaw_left": (1.8, 1.1), "forepaw_right": (1.8, -1.1),
    "hindpaw_left": (-2.8, 1.5), "hindpaw_right": (-2.8, -1.5),
    "headpiece_topfrontleft": (3.4, 0.35), "headpiece_topfrontright": (3.4, -0.35),
    "headpiece_topbackleft": (2.6, 0.35), "headpiece_topbackright": (2.6, -0.35),
    "headpiece_bottomfrontleft": (3.5, 0.6), "headpiece_bottomfrontright": (3.5, -0.6),
    "headpiece_bottombackleft": (2.5, 0.6), "headpiece_bottombackright": (2.5, -0.6),
}
NECK_X, TAIL_X = 1.8, -4.0


@dataclass
class Bodies:
    """Per-frame body state of all mice; every array has shape (frames, mice)."""

    cx: np.ndarray
    cy: np.ndarray
    heading: np.ndarray
    length: np.ndarray
    yaw: np.ndarray
    wag: np.ndarray
    size: np.ndarray  # (mice,) body size factor
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the arena (cm)


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 (frames) with `sigma` in frames; edges reflect."""
    if sigma < 0.5:
        return x
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(r, r)] + [(0, 0)] * (x.ndim - 1), mode="reflect" if len(x) > r else "edge")
    if x.ndim == 1:
        return np.convolve(pad, k, mode="valid")
    return np.stack([np.convolve(pad[:, j], k, mode="valid") for j in range(x.shape[1])], 1)


def noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Smooth Gaussian noise with unit standard deviation and correlation time `sigma` frames."""
    return smooth(rng.standard_normal(shape), sigma) * np.sqrt(2 * np.sqrt(np.pi) * max(sigma, 0.5))


def fold(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect values into [lo, hi] (a triangle wave): a walk bounces off the arena walls."""
    w = hi - lo
    u = np.mod(v - lo, 2 * w)
    return lo + np.where(u > w, 2 * w - u, u)


def heading_of(cx: np.ndarray, cy: np.ndarray, fps: float) -> np.ndarray:
    """Heading from smoothed velocity; held from the last moving frame while a mouse is still."""
    vx = smooth(np.gradient(cx, axis=0), fps * 0.15)
    vy = smooth(np.gradient(cy, axis=0), fps * 0.15)
    moving = np.hypot(vx, vy) > 0.3 / fps  # cm per frame
    moving[0] = True
    idx = np.where(moving, np.arange(len(cx))[:, None], 0)
    idx = np.maximum.accumulate(idx, axis=0)
    h = np.arctan2(vy, vx)
    return np.take_along_axis(h, idx, axis=0)


def free_motion(n: int, mice: int, fps: float, box, rng: np.random.Generator) -> Bodies:
    """Bouts of exploration and pauses, smooth turns, bouncing off the walls."""
    x0, y0, x1, y1 = box
    moving = 1 / (1 + np.exp(-3 * noise(rng, (n, mice), 2.0 * fps)))
    speed = 7.0 * moving * np.exp(0.5 * noise(rng, (n, mice), fps))
    turn = 1.5 * noise(rng, (n, mice), 0.4 * fps)
    theta = rng.uniform(-np.pi, np.pi, mice) + np.cumsum(turn / fps, axis=0)
    cx = fold(rng.uniform(x0, x1, mice) + np.cumsum(speed * np.cos(theta) / fps, 0), x0, x1)
    cy = fold(rng.uniform(y0, y1, mice) + np.cumsum(speed * np.sin(theta) / fps, 0), y0, y1)
    heading = heading_of(cx, cy, fps)
    length = 1 + 0.05 * noise(rng, (n, mice), fps)
    yaw = 0.25 * noise(rng, (n, mice), 0.3 * fps)
    phase = np.cumsum(2 * np.pi * (0.5 + speed / 20) / fps, axis=0) + rng.uniform(0, 6, mice)
    wag = 0.8 * np.sin(phase)
    size = rng.uniform(0.9, 1.1, mice)
    return Bodies(cx, cy, heading, length, yaw, wag, size, box)


def part_xy(b: Bodies, name: str, sl=slice(None), m: int | None = None):
    """World (cm) position of one body part over frames `sl` for mouse `m` (all mice if None)."""
    mi = slice(None) if m is None else m
    lx, ly = _local(b, name, sl, mi)
    h = b.heading[sl, mi]
    return (b.cx[sl, mi] + lx * np.cos(h) - ly * np.sin(h),
            b.cy[sl, mi] + lx * np.sin(h) + ly * np.cos(h))


def _local(b: Bodies, name: str, sl, mi):
    return local_offset(name, b.size[mi], b.length[sl, mi], b.yaw[sl, mi], b.wag[sl, mi])


def local_offset(name: str, size, length, yaw, wag):
    """Body-frame offset (cm) of a part given size, body length scale, head yaw and tail wag."""
    tx, ty = TEMPLATE[name]
    if tx > NECK_X:  # head: bent by `yaw` at the neck
        dx, dy = (tx - NECK_X) * size, ty * size
        return (NECK_X * size * length + dx * np.cos(yaw) - dy * np.sin(yaw),
                dx * np.sin(yaw) + dy * np.cos(yaw))
    if tx < TAIL_X:  # tail: hangs from tail_base and swings with `wag`
        along = (TAIL_X - tx) / 8.0
        return TAIL_X * size * length + (tx - TAIL_X) * size, ty + wag * along**1.5 * 2
    return tx * size * length, ty * size


def render(b: Bodies, parts: tuple[str, ...], ppc: float, origin: tuple[float, float]) -> np.ndarray:
    """Keypoints in pixels, float32 (frames, mice, parts, 2)."""
    n, mice = b.cx.shape
    out = np.empty((n, mice, len(parts), 2), np.float32)
    ch, sh = np.cos(b.heading), np.sin(b.heading)
    for k, name in enumerate(parts):
        lx, ly = _local(b, name, slice(None), slice(None))
        out[:, :, k, 0] = (b.cx + lx * ch - ly * sh - b.box[0]) * ppc + origin[0]
        out[:, :, k, 1] = (b.cy + lx * sh + ly * ch - b.box[1]) * ppc + origin[1]
    return out


def corrupt(pts: np.ndarray, parts: tuple[str, ...], ppc: float, rng) -> np.ndarray:
    """Add tracking noise in place and return the `present` mask (frames, mice, parts).

    Dropouts: per-keypoint random misses (tails and paws more often), a few whole-frame gaps,
    and now and then one mouse missing for a stretch of seconds.
    """
    n, mice, k, _ = pts.shape
    jitter = np.array([0.35 if p.startswith(("tail_m", "tail_t", "fore", "hind")) else 0.12
                       for p in parts], np.float32)
    pts += (rng.standard_normal(pts.shape, dtype=np.float32) * (jitter * ppc)[:, None])
    p_miss = np.array([0.08 if p.startswith(("tail_t", "fore", "hind")) else 0.015 for p in parts])
    present = rng.random((n, mice, k), dtype=np.float32) >= p_miss
    for _ in range(rng.poisson(n / 4000)):
        s = int(rng.integers(0, n))
        present[s: s + int(rng.integers(3, 40))] = False
    for m in range(mice):
        if rng.random() < 0.3:
            s = int(rng.integers(0, n))
            present[s: s + int(rng.integers(15, 150)), m] = False
    return present
