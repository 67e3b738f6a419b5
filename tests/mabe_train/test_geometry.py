"""Body geometry: the numpy and torch implementations give the same numbers for every quantity.

The same (frames, mice, keypoints, xy) points, with untracked keypoints, dropped points, untracked
frames and slots the store lacks, go through `geometry.arrays` one mouse at a time and through
`geometry.tensors` with the mice as the batch.
"""

import numpy as np
import pytest
import torch

from mabe_train.geometry import HEAD_END, TAIL_END, TORSO, Velocity
from mabe_train.geometry import arrays as ga
from mabe_train.geometry import tensors as gt
from mabe_train.layout import DEFAULT_LAYOUT, Layout

FEW = Layout(("ear_left", "nose", "hip_right", "tail_base", "lateral_left", "neck"), 3)  # no body_center
VELOCITIES = (Velocity(0.1, centred=True), Velocity(1 / 30, centred=False), Velocity(0.0, centred=False))


def points(layout: Layout, frames: int = 120, seed: int = 0) -> np.ndarray:
    """(frames, mice, keypoints, xy) random walks in cm with every kind of hole."""
    rng = np.random.default_rng(seed)
    k = len(layout.keypoints)
    pts = rng.uniform(0, 40, (1, layout.n_mice, k, 2)) + np.cumsum(rng.normal(0, 0.5, (frames, layout.n_mice, k, 2)), 0)
    pts[rng.random((frames, layout.n_mice, k)) < 0.3] = np.nan  # points dropped
    pts[:, 0, rng.random(k) < 0.4] = np.nan  # keypoints one mouse never has
    pts[rng.random(frames) < 0.1] = np.nan  # frames nobody is tracked
    pts[:4] = np.nan  # a video starting untracked
    pts[:, -1, :, :] = np.nan  # a mouse never tracked
    return pts


def both(pts: np.ndarray, fn_np, fn_t) -> tuple[np.ndarray, np.ndarray]:
    """fn_np per mouse on (frames, keypoints, xy), fn_t on the (mice, frames, keypoints, xy) batch."""
    by_np = np.stack([fn_np(pts[:, m]) for m in range(pts.shape[1])])
    by_t = fn_t(torch.from_numpy(np.ascontiguousarray(pts.transpose(1, 0, 2, 3)))).numpy()
    return by_np, by_t


def call(pts: np.ndarray, name: str, *args) -> tuple[np.ndarray, np.ndarray]:
    """`both` for the function `name` of each implementation, called as name(points, *args)."""
    return both(pts, lambda p: getattr(ga, name)(p, *args), lambda p: getattr(gt, name)(p, *args))


def heading_of(g, layout: Layout, hold: bool):
    """The heading about the body centre, by implementation `g` (geometry.arrays or .tensors)."""
    return lambda p: g.heading(p, layout, g.body_centre(p, layout), hold)


def turn_of(g, fps, velocity: Velocity, unwrapped: bool):
    """The turn rate of the held heading, by implementation `g`."""
    return lambda p: g.turn_rate(heading_of(g, DEFAULT_LAYOUT, True)(p), fps, velocity, unwrapped)


def assert_same(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6) -> None:
    assert a.shape == b.shape
    assert (np.isnan(a) == np.isnan(b)).all(), "NaN where the other has a value"
    assert np.isfinite(a).any(), "a comparison of nothing"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("layout", [DEFAULT_LAYOUT, FEW], ids=["default", "few-slots"])
def test_points_centroids_centre_and_heading_agree(layout):
    pts = points(layout)
    absent = call(pts, "point", layout, "tail_tip")
    assert layout.index("tail_tip") is not None or all(np.isnan(a).all() for a in absent)
    for name in [n for n in ("nose", "body_center", "tail_base") if layout.index(n) is not None]:
        assert_same(*call(pts, "point", layout, name))
    for group in (HEAD_END, TAIL_END, TORSO):
        assert_same(*call(pts, "group_centroid", layout, group))
    none = call(pts, "group_centroid", layout, ())
    assert all(np.isnan(a).all() and a.shape == (layout.n_mice, len(pts), 2) for a in none)
    assert_same(*call(pts, "centroid"))
    assert_same(*call(pts, "body_centre", layout))
    for hold in (True, False):
        assert_same(*both(pts, heading_of(ga, layout, hold), heading_of(gt, layout, hold)))


@pytest.mark.parametrize("velocity", VELOCITIES, ids=["centred-0.1s", "backward-1/30s", "one-frame"])
@pytest.mark.parametrize("fps", [10.0, 25.0, 30.0, 75.0, 120.0])
def test_rates_agree(velocity, fps):
    pts = points(DEFAULT_LAYOUT, seed=1)
    m = pts.shape[1]
    fps_t = torch.full((m,), fps)
    assert_same(*both(pts, lambda p: ga.rate(ga.body_centre(p, DEFAULT_LAYOUT), fps, velocity),
                      lambda p: gt.rate(gt.body_centre(p, DEFAULT_LAYOUT), fps_t, velocity)))
    assert_same(*both(pts, lambda p: ga.rate(p, fps, velocity), lambda p: gt.rate(p, fps_t, velocity)))
    for unwrapped in (True, False):
        assert_same(*both(pts, turn_of(ga, fps, velocity, unwrapped), turn_of(gt, fps_t, velocity, unwrapped)))


def test_forward_fill_and_frame_of_reference_agree():
    pts = points(DEFAULT_LAYOUT, seed=2)
    centre = lambda p, g: g.body_centre(p, DEFAULT_LAYOUT)  # noqa: E731
    assert_same(*both(pts, lambda p: ga.forward_fill(centre(p, ga)), lambda p: gt.forward_fill(centre(p, gt))))

    def ego(p, g):
        c = g.body_centre(p, DEFAULT_LAYOUT)
        return g.to_ego(p, g.forward_fill(c), g.heading(p, DEFAULT_LAYOUT, c, hold=True))
    assert_same(*both(pts, lambda p: ego(p, ga), lambda p: ego(p, gt)))


@pytest.mark.parametrize("velocity", VELOCITIES)
def test_span_in_frames_is_one_rule(velocity):
    fps = [5.0, 10.0, 15.0, 25.0, 29.97, 30.0, 45.0, 50.0, 60.0, 75.0, 100.0, 120.0]
    frames = [velocity.frames(f) for f in fps]
    assert gt.span_frames(torch.tensor(fps), velocity).tolist() == frames
    assert min(frames) >= (2 if velocity.centred else 1)
    assert all(f % 2 == 0 for f in frames) or not velocity.centred


def test_turn_rate_per_second_short_way_or_unwrapped():
    angle = np.array([0.0, 0.5, 1.0, 3.0, -3.0, np.nan, 0.0])
    u = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    out = ga.turn_rate(u, 10.0, Velocity(0.1, centred=False), unwrapped=False)
    assert np.isnan(out[[0, 5, 6]]).all()
    assert np.allclose(out[1:5], np.array([0.5, 0.5, 2.0, 2 * np.pi - 6.0]) * 10.0)
    # unwrapped: the same turns frame to frame; a frame after a gap measures from angle 0
    out = ga.turn_rate(u, 10.0, Velocity(0.1, centred=False), unwrapped=True)
    assert np.isnan(out[[0, 5]]).all()
    assert np.allclose(out[[1, 2, 3, 4, 6]], np.array([0.5, 0.5, 2.0, 2 * np.pi - 6.0, 0.0]) * 10.0)


def test_rate_is_per_second_and_placed_by_the_rule():
    v = np.arange(10.0)[:, None] * np.array([[3.0, -1.0]])  # 3 and -1 per frame
    back = ga.rate(v, 30.0, Velocity(2 / 30, centred=False))
    assert np.isnan(back[:2]).all() and np.allclose(back[2:], [90.0, -30.0])
    cent = ga.rate(v, 30.0, Velocity(4 / 30, centred=True))
    assert np.isnan(cent[:2]).all() and np.isnan(cent[-2:]).all() and np.allclose(cent[2:-2], [90.0, -30.0])


def test_centroid_ignores_untracked_points_and_is_nan_without_any():
    pts = np.array([[[1.0, 2.0], [3.0, np.nan], [np.nan, np.nan]], [[np.nan, np.nan]] * 3])
    out = ga.centroid(pts)
    assert out[0].tolist() == [2.0, 2.0] and np.isnan(out[1]).all()
    assert ga.centroid(pts.astype(np.float32)).dtype == np.float32


def test_heading_hold_carries_the_last_known_heading():
    pts = np.full((4, len(DEFAULT_LAYOUT.keypoints), 2), np.nan)
    pts[1, DEFAULT_LAYOUT.index("nose")] = (1.0, 0.0)
    pts[1, DEFAULT_LAYOUT.index("tail_base")] = (0.0, 0.0)
    centre = ga.body_centre(pts, DEFAULT_LAYOUT)
    held = ga.heading(pts, DEFAULT_LAYOUT, centre, hold=True)
    assert np.isnan(held[0]).all() and held[1:].tolist() == [[1.0, 0.0]] * 3
    assert np.isnan(ga.heading(pts, DEFAULT_LAYOUT, centre, hold=False)[[0, 2, 3]]).all()


def test_forward_fill():
    v = torch.tensor([[[float("nan")], [1.0], [float("nan")], [3.0], [float("nan")]]])
    out = gt.forward_fill(v)[0, :, 0]
    assert torch.isnan(out[0]) and out[1:].tolist() == [1.0, 1.0, 3.0, 3.0]
