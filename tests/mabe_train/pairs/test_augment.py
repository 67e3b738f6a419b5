"""The pair model's input options: left/right mirror, flip TTA, lab one-hot, time resampling (pairs.augment)."""

import numpy as np
import pytest
import torch

from mabe_train.config import ConfigError, load_config
from mabe_train.layout import DEFAULT_LAYOUT, Layout
from mabe_train.models.conv1d_bilstm import Conv1DBiLSTM
from mabe_train.pairs.augment import KNOWN_LABS, N_LAB_INPUTS, lab_onehot, lab_slot, mirror
from mabe_train.pairs.features import FEATURE_NAMES, N_PAIR_FEATURES, pair_features
from mabe_train.pairs.infer import pairs_probs
from mabe_train.pairs.settings import PairsSettings

L = DEFAULT_LAYOUT


def col(mouse: int, kp: str, c: int, layout: Layout = L) -> int:
    return ((mouse * len(layout.keypoints)) + layout.index(kp)) * 2 + c


def _raw(seed=0, b=3, t=20):
    x = torch.from_numpy(np.random.default_rng(seed).normal(300, 40, size=(b, t, L.width)).astype(np.float32))
    x[:, :, col(1, "ear_left", 0):col(1, "ear_left", 0) + 2] = float("nan")  # an untracked point
    return x


def test_mirror_swaps_left_right_slots_and_negates_x():
    x = _raw()
    m = mirror(x)
    for mouse in range(4):
        for a, b in (("ear_left", "ear_right"), ("hip_left", "hip_right"), ("lateral_right", "lateral_left")):
            torch.testing.assert_close(m[..., col(mouse, a, 0)], -x[..., col(mouse, b, 0)], equal_nan=True)
            torch.testing.assert_close(m[..., col(mouse, a, 1)], x[..., col(mouse, b, 1)], equal_nan=True)
        torch.testing.assert_close(m[..., col(mouse, "nose", 0)], -x[..., col(mouse, "nose", 0)])
        torch.testing.assert_close(m[..., col(mouse, "nose", 1)], x[..., col(mouse, "nose", 1)])
    assert torch.isnan(m[:, :, col(1, "ear_right", 0)]).all()  # the untracked left ear moved right
    torch.testing.assert_close(mirror(m), x, equal_nan=True)  # an involution


def test_mirror_only_the_chosen_windows_and_layouts_without_partners():
    x = _raw()
    which = torch.tensor([True, False, True])
    m = mirror(x, L, which)
    torch.testing.assert_close(m[1], x[1], equal_nan=True)
    torch.testing.assert_close(m[[0, 2]], mirror(x)[[0, 2]], equal_nan=True)
    small = Layout(("nose", "tail_base"), 2)
    y = torch.arange(2 * 3 * small.width, dtype=torch.float32).view(2, 3, -1)
    torch.testing.assert_close(mirror(y, small), y * torch.tensor([-1.0, 1.0]).repeat(small.n_points))


def test_mirrored_features_are_the_reflected_pair():
    """What the model sees: egocentric y negated (left ear <-> right ear), distances unchanged."""
    x = _raw()
    x[:, :, col(1, "ear_left", 0):col(1, "ear_left", 0) + 2] = 5.0  # tracked again
    args = (torch.tensor([0, 1, 2]), torch.tensor([1, 0, 2]), torch.full((3,), 12.0), torch.full((3,), 30.0))
    f, g = pair_features(x, *args), pair_features(mirror(x), *args)
    n = FEATURE_NAMES.index
    for who in ("agent", "target"):
        torch.testing.assert_close(g[..., n(f"{who}_ear_left_y")], -f[..., n(f"{who}_ear_right_y")], atol=1e-4, rtol=0)
        torch.testing.assert_close(g[..., n(f"{who}_nose_x")], f[..., n(f"{who}_nose_x")], atol=1e-4, rtol=0)
    for s in ("dist_nose_nose", "agent_speed", "approach_rate"):
        torch.testing.assert_close(g[..., n(s)], f[..., n(s)], atol=1e-4, rtol=0)
    torch.testing.assert_close(g[..., n("target_centre_y")], -f[..., n("target_centre_y")], atol=1e-4, rtol=0)


def test_lab_slots_and_an_unseen_lab():
    assert lab_slot("CRIM13") == KNOWN_LABS.index("CRIM13") and lab_slot("NoSuchLab") == -1
    hot = lab_onehot(torch.tensor([lab_slot("CRIM13"), -1]), 4)
    assert hot.shape == (2, 4, N_LAB_INPUTS)
    assert hot[0, :, lab_slot("CRIM13")].eq(1).all() and hot[0].sum() == 4 and hot[1].eq(0).all()


def _model(input_dim):
    torch.manual_seed(0)
    return Conv1DBiLSTM(input_dim, 37, (8,), lstm_hidden=8, lstm_layers=1).eval()


def _walk(t=40, x_const=None):
    rng = np.random.default_rng(1)
    raw = np.full((t, L.width), np.nan, dtype=np.float32)
    for m in range(2):
        cy = 200 + 50 * m + np.cumsum(rng.normal(0, 3, t))
        cx = 300 + np.cumsum(rng.normal(0, 3, t)) if x_const is None else np.full(t, x_const)
        for kp, dy in (("nose", 30.0), ("body_center", 0.0), ("tail_base", -30.0)):
            raw[:, col(m, kp, 0)], raw[:, col(m, kp, 1)] = cx, cy + dy
        if x_const is None:
            raw[:, col(m, "ear_left", 0)], raw[:, col(m, "ear_left", 1)] = cx - 8, cy + 20
    return raw


def _probs(raw, model, **opt):
    return pairs_probs(model, raw, [(1, 2), (2, 1), (1, 1)], 30.0, 12.0, window=16, stride=8,
                       options=PairsSettings(**opt))


def test_flip_tta_is_mirror_invariant_and_a_no_op_on_a_symmetric_input():
    model = _model(N_PAIR_FEATURES)
    raw = _walk()
    plain, tta = _probs(raw, model), _probs(raw, model, tta_flip=True)
    assert tta.shape == plain.shape == (3, 40, 37)
    assert np.abs(tta - plain).max() > 1e-4  # the ear makes the input handed
    flipped = mirror(torch.from_numpy(raw)[None])[0].numpy()
    np.testing.assert_allclose(_probs(flipped, model, tta_flip=True), tta, atol=1e-5)
    sym = _walk(x_const=300.0)  # every point on one vertical line: its mirror is a translation
    np.testing.assert_allclose(_probs(sym, model, tta_flip=True), _probs(sym, model), atol=1e-5)


def test_lab_input_at_predict_handles_an_unseen_lab():
    model = _model(N_PAIR_FEATURES + N_LAB_INPUTS)
    raw = _walk()
    new = pairs_probs(model, raw, [(1, 2)], 30.0, 12.0, window=16, lab="NoSuchLab",
                      options=PairsSettings(lab_input=True))
    none = pairs_probs(model, raw, [(1, 2)], 30.0, 12.0, window=16, options=PairsSettings(lab_input=True))
    crim = pairs_probs(model, raw, [(1, 2)], 30.0, 12.0, window=16, lab="CRIM13",
                       options=PairsSettings(lab_input=True))
    assert new.shape == (1, 40, 37) and np.isfinite(new).all()
    np.testing.assert_array_equal(new, none)  # an unseen lab is the no-lab input
    assert np.abs(crim - new).max() > 1e-4  # a known lab changes the input


def test_bad_pairs_options_are_reported_together():
    with pytest.raises(ConfigError) as e:
        load_config("configs/pairs_demo.yaml", ["pairs.mirror=1.5", "pairs.pos_weight=[1.0, -2.0]"])
    assert "pairs.mirror" in str(e.value) and "pos_weight" in str(e.value)


def test_harmonise_sides_fills_an_untracked_hip_or_lateral_point_from_its_partner():
    from mabe_train.pairs.augment import harmonise_sides
    x = torch.full((1, 2, L.width), float("nan"))
    x[..., col(0, "hip_left", 0):col(0, "hip_left", 0) + 2] = torch.tensor([1.0, 2.0])  # a hip lab
    x[..., col(1, "lateral_right", 0):col(1, "lateral_right", 0) + 2] = torch.tensor([3.0, 4.0])  # a lateral lab
    x[..., col(2, "hip_left", 0):col(2, "hip_left", 0) + 2] = 5.0  # both tracked: kept as they are
    x[..., col(2, "lateral_left", 0):col(2, "lateral_left", 0) + 2] = 6.0
    h = harmonise_sides(x)
    assert h[..., col(0, "lateral_left", 0)].eq(1).all() and h[..., col(0, "lateral_left", 1)].eq(2).all()
    assert h[..., col(1, "hip_right", 0)].eq(3).all() and h[..., col(1, "hip_right", 1)].eq(4).all()
    assert h[..., col(2, "hip_left", 0)].eq(5).all() and h[..., col(2, "lateral_left", 0)].eq(6).all()
    assert torch.isnan(h[..., col(0, "hip_right", 0)]).all()  # no partner tracked: still untracked
    assert torch.isnan(h[..., col(0, "nose", 0)]).all() and torch.isnan(x[..., col(0, "lateral_left", 0)]).all()


# -- time resampling: pairs.time_stretch and pairs.common_fps ---------------------------------------
def _ramp_batch(b=2, w=9):
    """x[i, t, c] = t (frame number), y = frame number, all valid, 30 fps."""
    from mabe_train.windows import Batch
    x = torch.arange(w, dtype=torch.float32)[None, :, None].expand(b, w, 4).clone()
    y = torch.arange(w)[None, :, None].expand(b, w, 1).clone()
    z = torch.zeros(b, dtype=torch.long)
    return Batch(x, y, torch.ones(b, w, dtype=torch.bool), z, z, z, torch.full((b,), 30.0), torch.full((b,), 10.0))


def test_interp_frames_is_linear_and_keeps_untracked_untracked():
    from mabe_train.pairs.augment import interp_frames
    x = torch.tensor([0.0, 10.0, float("nan"), 30.0, 40.0])[None, :, None]
    out = interp_frames(x, torch.tensor([[0.5, 0.25, 1.4, 1.6, 2.0, 3.5, 9.0, -1.0]]))[0, :, 0]
    # linear; next to a gap the nearest frame's point; at the gap NaN; clamped past the ends
    torch.testing.assert_close(out[[0, 1, 5, 6, 7]], torch.tensor([5.0, 2.5, 35.0, 40.0, 0.0]))
    assert out[2] == 10.0 and torch.isnan(out[3]) and torch.isnan(out[4])


def test_stretch_window_resamples_about_the_centre_and_scales_fps():
    from mabe_train.pairs.augment import stretch_window
    b = _ramp_batch()
    same = stretch_window(b, torch.ones(2))
    for f in ("x", "y", "valid", "fps"):
        torch.testing.assert_close(getattr(same, f), getattr(b, f))
    s = stretch_window(b, torch.tensor([0.5, 1.5]))
    c = 4.0  # centre of 9 frames
    slow = c + (torch.arange(9.0) - c) * 0.5  # 0.5 source frames per output frame: slowed down
    torch.testing.assert_close(s.x[0, :, 0], slow)
    assert s.valid[0].all() and s.y[0, :, 0].tolist() == slow.round().long().tolist()
    fast = c + (torch.arange(9.0) - c) * 1.5
    inside = (fast >= -0.5) & (fast <= 8.5)
    assert s.valid[1].tolist() == inside.tolist() and not inside.all()  # edges read past the window
    torch.testing.assert_close(s.x[1, inside, 0], fast[inside].clamp(0, 8))  # within half a frame: the edge
    torch.testing.assert_close(s.fps, torch.tensor([60.0, 20.0]))  # per-second features stay physical


def test_time_stretch_sampler_is_resumable_and_off_leaves_batches_unchanged(store):
    from tests.mabe_train.pairs.test_data import _sampler
    _, _, off = _sampler(store, mirror=0.5)
    _, _, plain = _sampler(store, mirror=0.5, time_stretch=0.0)
    a, b = off.next_batch(), plain.next_batch()
    torch.testing.assert_close(a.x, b.x, equal_nan=True)
    _, _, s1 = _sampler(store, mirror=0.5, time_stretch=0.3)
    _, _, s2 = _sampler(store, mirror=0.5, time_stretch=0.3)
    s1.next_batch()
    state = s1.state_dict()
    nxt = s1.next_batch()
    s2.load_state_dict(state)
    again = s2.next_batch()
    torch.testing.assert_close(nxt.x, again.x, equal_nan=True)
    assert torch.equal(nxt.fps, again.fps) and torch.equal(nxt.valid, again.valid)
    ratio = nxt.fps / torch.from_numpy(s1._fps)[nxt.video]  # 1 / factor, factor in [0.7, 1.3]
    assert (ratio >= 1 / 1.3 - 1e-5).all() and (ratio <= 1 / 0.7 + 1e-5).all() and ratio.std() > 0.05
    assert not torch.equal(nxt.x.nan_to_num(), s2.gather(nxt.unit.numpy(), nxt.start.numpy()).x.nan_to_num())


def test_common_fps_sampler_shows_every_window_at_that_rate(store):
    from tests.mabe_train.pairs.test_data import _sampler
    _, _, s = _sampler(store, common_fps=30.0)
    b = s.next_batch()
    assert set(s._fps[b.video.numpy()].tolist()) == {30.0, 60.0}  # both videos drawn
    torch.testing.assert_close(b.fps, torch.full_like(b.fps, 30.0))
    at60 = b.video == int(np.flatnonzero(s._fps == 60.0)[0])
    assert not b.valid[at60][:, 0].any() and b.valid[~at60].all()  # 2 source frames per output frame


def test_resample_video_and_back_is_the_identity_on_a_smooth_signal():
    from mabe_train.pairs.augment import back_to_video, resample_video
    t = torch.arange(50, dtype=torch.float32)
    x = torch.stack([t * 2.0, torch.sin(t / 10)], dim=1)
    up = resample_video(x, 25.0, 30.0)
    assert up.shape == (60, 2)
    torch.testing.assert_close(up[:, 0], (torch.arange(60.0) * 25 / 30).clamp(max=49) * 2)  # last: clamped
    back = back_to_video(up, 25.0, 30.0, 50)
    torch.testing.assert_close(back[:-1], x[:-1], atol=2e-3, rtol=0)
    assert abs(float(back[-1, 0] - x[-1, 0])) < 0.5  # the last frame reads the clamped edge: < 1/4 frame off


def test_common_fps_predictions_come_back_on_the_videos_own_frames():
    model = _model(N_PAIR_FEATURES)
    raw = _walk(t=50)
    at = {f: pairs_probs(model, raw, [(1, 2), (2, 1)], 25.0, 12.0, window=16, stride=8,
                         options=PairsSettings(common_fps=f)) for f in (0.0, 25.0, 30.0, 12.5)}
    for f, p in at.items():
        assert p.shape == (2, 50, 37) and np.isfinite(p).all(), f
    np.testing.assert_array_equal(at[25.0], at[0.0])  # the video's own rate: nothing resampled
    assert np.abs(at[30.0] - at[0.0]).max() > 1e-4 and np.abs(at[12.5] - at[0.0]).max() > 1e-4


def test_bad_time_options_are_reported_together():
    with pytest.raises(ConfigError) as e:
        load_config("configs/pairs_demo.yaml", ["pairs.time_stretch=1.5", "pairs.common_fps=-30", "pairs.mirror=2"])
    assert "pairs.time_stretch" in str(e.value) and "pairs.common_fps" in str(e.value) and "pairs.mirror" in str(e.value)
