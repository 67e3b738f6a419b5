"""Egocentric pair features: invariances, units, fps, missing points, self pairs."""

import math

import numpy as np
import pytest
import torch

from mabe_train.layout import DEFAULT_LAYOUT, Layout
from mabe_train.pairs.features import (
    FEATURE_NAMES,
    N_PAIR_FEATURES,
    SCALARS,
    SPEED_SCALE_CM_S,
    feature_names,
    pair_features,
)

KP = {name: i for i, name in enumerate(DEFAULT_LAYOUT.keypoints)}

# a mouse in its own frame (cm): facing +x, centred on body_center
BODY = {"nose": (5, 0), "ear_left": (3, 1), "ear_right": (3, -1), "neck": (2.5, 0),
        "body_center": (0, 0), "lateral_left": (0, 1.5), "lateral_right": (0, -1.5),
        "hip_left": (-2.5, 1), "hip_right": (-2.5, -1), "tail_base": (-4, 0),
        "tail_midpoint": (-7, 0), "tail_tip": (-11, 0)}
SCALAR = {name: FEATURE_NAMES.index(name) for name in SCALARS}


def place(centre, angle, pix_per_cm):
    """(144,) raw pixel columns of mouse 1 placed at `centre` (cm) facing `angle` (rad)."""
    out = np.full((4, 18, 2), np.nan, dtype=np.float64)
    c, s = math.cos(angle), math.sin(angle)
    for name, (bx, by) in BODY.items():
        out[0, KP[name]] = (centre[0] + c * bx - s * by, centre[1] + s * bx + c * by)
    return out


def scene(n_frames=40, pix_per_cm=10.0, fps=30.0, rot=0.0, shift=(0.0, 0.0), speed=12.0, seed=0):
    """(1, T, 144) two mice: agent walks along its heading at `speed` cm/s, target ahead-left."""
    rng = np.random.default_rng(seed)
    frames = []
    wobble = rng.normal(0, 0.3, size=(n_frames, 2))
    for t in range(n_frames):
        a = place((20 + speed * t / fps, 30), 0.0, 1)[0]
        b = place((40 + wobble[t, 0], 36 + wobble[t, 1]), 2.0, 1)[0]
        frames.append(np.stack([a, b, np.full_like(a, np.nan), np.full_like(a, np.nan)]))
    xy = np.stack(frames)  # (T, 4, 18, 2) cm
    c, s = math.cos(rot), math.sin(rot)
    xy = xy @ np.array([[c, s], [-s, c]]) + np.array(shift)
    return torch.tensor((xy * pix_per_cm).reshape(1, n_frames, 144), dtype=torch.float32)


def feats(x, agent=0, target=1, pix_per_cm=10.0, fps=30.0):
    b = x.shape[0]
    return pair_features(x, torch.full((b,), agent), torch.full((b,), target),
                         torch.full((b,), pix_per_cm), torch.full((b,), fps))


def test_shape_names_and_finite():
    f = feats(scene())
    assert f.shape == (1, 40, N_PAIR_FEATURES) == (1, 40, len(FEATURE_NAMES))
    assert torch.isfinite(f).all()


@pytest.mark.parametrize("rot,shift", [(0.7, (0, 0)), (-2.5, (300, -120)), (math.pi, (5, 5))])
def test_rotation_and_translation_invariant(rot, shift):
    base = feats(scene())
    moved = feats(scene(rot=rot, shift=shift))
    torch.testing.assert_close(moved, base, atol=2e-4, rtol=1e-4)


def test_scaled_to_cm_by_pix_per_cm():
    base = feats(scene(pix_per_cm=10.0), pix_per_cm=10.0)
    zoomed = feats(scene(pix_per_cm=25.0), pix_per_cm=25.0)
    torch.testing.assert_close(zoomed, base, atol=2e-4, rtol=1e-4)
    wrong = feats(scene(pix_per_cm=25.0), pix_per_cm=10.0)
    assert not torch.allclose(wrong, base, atol=1e-2)


def test_egocentric_frame_and_units():
    f = feats(scene())[0, 10]
    # agent's own nose is 5 cm ahead on +x: 0.5 in units of 10 cm
    assert f[FEATURE_NAMES.index("agent_nose_x")] == pytest.approx(0.5, abs=1e-4)
    assert f[FEATURE_NAMES.index("agent_nose_y")] == pytest.approx(0.0, abs=1e-4)
    # the target is ahead (+x) and to the left (+y)
    assert f[SCALAR["target_centre_x"]] > 1.0 and f[SCALAR["target_centre_y"]] > 0.3
    assert f[SCALAR["agent_speed"]] * SPEED_SCALE_CM_S == pytest.approx(12.0, rel=1e-3)
    assert f[SCALAR["agent_vel_fwd"]] * SPEED_SCALE_CM_S == pytest.approx(12.0, rel=1e-3)


@pytest.mark.parametrize("fps", [10.0, 30.0, 120.0])
def test_speeds_are_per_second_whatever_the_fps(fps):
    n = int(fps * 2)
    f = feats(scene(n_frames=n, fps=fps), fps=fps)
    speed = f[0, n // 2, SCALAR["agent_speed"]] * SPEED_SCALE_CM_S
    assert speed == pytest.approx(12.0, rel=1e-3)
    # the first frames have no past: speed unknown, flagged
    has = FEATURE_NAMES.index("has_agent_speed")
    assert f[0, 0, has] == 0 and f[0, n // 2, has] == 1


def test_missing_body_center_falls_back_and_is_flagged():
    x = scene()
    full = feats(x)
    col = (KP["body_center"]) * 2
    x[:, :, col:col + 2] = float("nan")
    f = feats(x)
    assert torch.isfinite(f).all()
    assert (f[..., FEATURE_NAMES.index("agent_has_body_center")] == 0).all()
    assert (f[..., FEATURE_NAMES.index("agent_body_center_x")] == 0).all()
    # the torso mean of this body sits ~1.1 cm behind body_center: distances move by about that
    near = FEATURE_NAMES.index("dist_centre_centre")
    assert torch.allclose(f[..., near], full[..., near], atol=0.15)


def test_agent_missing_frames_forward_fill_frame_and_flag_points():
    x = scene()
    x[:, 5:8, :36] = float("nan")  # agent untracked for three frames
    f = feats(x)
    assert torch.isfinite(f).all()
    assert (f[0, 5:8, FEATURE_NAMES.index("agent_has_nose")] == 0).all()
    # target points still placed, relative to the agent's last known frame
    assert (f[0, 5:8, FEATURE_NAMES.index("target_has_nose")] == 1).all()
    assert (f[0, 5:8, FEATURE_NAMES.index("has_dist_nose_nose")] == 0).all()


def test_self_pair_masks_target_block():
    x = scene()
    f = feats(x, agent=1, target=1)
    assert (f[..., FEATURE_NAMES.index("is_self")] == 1).all()
    target_cols = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("target_")]
    assert (f[..., target_cols] == 0).all()
    assert (f[0, 10:, FEATURE_NAMES.index("has_agent_speed")] == 1).all()
    assert (f[..., FEATURE_NAMES.index("has_dist_nose_nose")] == 0).all()
    pair = feats(x, agent=1, target=0)
    assert (pair[..., FEATURE_NAMES.index("is_self")] == 0).all()


def test_batch_mixes_pairs_fps_and_scales():
    x = torch.cat([scene(pix_per_cm=10.0), scene(pix_per_cm=20.0, fps=60.0, n_frames=40)])
    f = pair_features(x, torch.tensor([0, 1]), torch.tensor([1, 1]),
                      torch.tensor([10.0, 20.0]), torch.tensor([30.0, 60.0]))
    torch.testing.assert_close(f[0], feats(x[:1])[0])
    torch.testing.assert_close(f[1], feats(x[1:], agent=1, target=1, pix_per_cm=20.0, fps=60.0)[0])


def test_a_store_with_other_slots_gets_the_same_scalars_from_the_points_it_has():
    """Keypoints are looked up by name in the store's layout: a 2-mouse, 6-slot store gives the
    scalars the default layout gives when only those 6 points are tracked."""
    few = Layout(("nose", "ear_left", "ear_right", "neck", "body_center", "tail_base"), 2)
    rng = np.random.default_rng(0)
    full = np.full((1, 30, 4, 18, 2), np.nan, dtype=np.float32)
    small = np.full((1, 30, 2, 6, 2), np.nan, dtype=np.float32)
    for m in range(2):
        for k, name in enumerate(few.keypoints):
            xy = rng.uniform(100, 400, 2) + np.cumsum(rng.normal(0, 2, (30, 2)), axis=0)
            full[0, :, m, KP[name]] = small[0, :, m, k] = xy
    args = (torch.tensor([0]), torch.tensor([1]), torch.tensor([10.0]), torch.tensor([30.0]))
    f_full = pair_features(torch.from_numpy(full.reshape(1, 30, -1)), *args)
    f_small = pair_features(torch.from_numpy(small.reshape(1, 30, -1)), *args, layout=few)
    names = feature_names(few)
    assert f_small.shape == (1, 30, len(names)) == (1, 30, 4 * 6 + 2 * 6 + 41)
    for name in [*SCALARS, *(f"has_{s}" for s in SCALARS), "agent_nose_x", "target_tail_base_y"]:
        torch.testing.assert_close(f_small[..., names.index(name)], f_full[..., FEATURE_NAMES.index(name)])
