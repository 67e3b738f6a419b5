"""Normalisation, on-device features, split, staging, WindowSampler and whole-video prediction."""

import numpy as np
import pytest
import torch

from mabe_store.reader import open_store
from mabe_train.grouped.features import FeatureError, build_inputs, check_features, normalise_coords
from mabe_train.grouped.labels import IGNORE_INDEX
from mabe_train.grouped.task import stage_grouped
from mabe_train.split import load_split, save_split, split_videos
from mabe_train.windows import (
    BalancedStarts,
    DataError,
    UniformStarts,
    Units,
    WindowSampler,
    predict_video,
    window_span,
    window_starts,
)
from tests.mabe_train.stores import make_train_store


def encoded(lengths):
    """(features, targets, units) of videos whose features say (video, frame) in columns 0 and 1;
    targets = frame index (int16, as the grouped task's classes)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n = int(lengths.sum())
    coords = np.zeros((n, 144), dtype=np.float32)
    coords[:, 0] = np.repeat(np.arange(len(lengths)), lengths)
    coords[:, 1] = np.concatenate([np.arange(n_) for n_ in lengths])
    return coords, coords[:, 1].astype(np.int16), Units.videos(starts, lengths)


def sampler(lengths, window=100, batch_size=64, seed=0, frame_gap=1, fps=30.0, policy=None, **kw) -> WindowSampler:
    """The grouped task's kind of sampler (uniform starts) over `encoded(lengths)`."""
    feats, targets, units = encoded(lengths)
    policy = policy or UniformStarts(units.length, window_span(window, frame_gap))
    return WindowSampler(feats, targets, units, policy, fps=np.full(len(lengths), fps), window=window,
                         batch_size=batch_size, seed=seed, frame_gap=frame_gap, **kw)


# -- normalisation and features --------------------------------------------------------------------
def test_normalise_scales_to_cm_and_centres_on_tracked_points():
    f = np.full((2, 144), np.nan, dtype=np.float32)
    f[0, :4] = [10, 20, 30, 40]  # two points of frame 0: (10,20), (30,40), centre (20,30)
    f[1, :2] = [50, 60]  # one point: centred to 0
    out = normalise_coords(f, pix_per_cm=10.0)
    np.testing.assert_allclose(out[0, :4], [-1, -1, 1, 1])
    np.testing.assert_allclose(out[1, :2], [0, 0])
    assert np.isnan(out[0, 4:]).all() and np.isnan(out[1, 2:]).all()
    assert np.isnan(normalise_coords(np.full((1, 144), np.nan, np.float32), 5.0)).all()


def test_build_inputs_fills_nan_and_velocity_is_fps_aware():
    t = torch.arange(8, dtype=torch.float32)
    slow = torch.zeros(1, 8, 144)
    slow[..., 0] = t * 1.0  # 1 cm per frame at 30 fps = 30 cm/s
    fast = torch.zeros(1, 8, 144)
    fast[..., 0] = t * 0.5  # 0.5 cm per frame at 60 fps = 30 cm/s
    slow[0, 3, 5] = float("nan")
    a = build_inputs(slow, torch.tensor([30.0]), ["coords", "velocity", "acceleration", "missing"])
    b = build_inputs(fast, torch.tensor([60.0]), ["coords", "velocity", "acceleration", "missing"])
    assert a.shape == (1, 8, 144 * 3 + 72) == (1, 8, check_features(["coords", "velocity", "acceleration",
                                                                       "missing"]))
    assert not a.isnan().any()
    torch.testing.assert_close(a[0, :, 144], torch.full((8,), 30.0))
    torch.testing.assert_close(a[0, :, 144], b[0, :, 144])
    torch.testing.assert_close(a[0, :, 288], torch.zeros(8))  # constant speed: no acceleration
    assert a[0, 3, 5] == 0 and a[0, 3, 432 + 2] == 1 and a[0, 2, 432 + 2] == 0  # filled, flagged missing
    with pytest.raises(FeatureError, match="jerk"):
        check_features(["coords", "jerk"])


# -- split ------------------------------------------------------------------------------------------
def test_split_by_video_stratified_by_lab_seeded_and_saved(train_store, tmp_path):  # noqa: F811
    store = open_store(train_store)
    a, b = split_videos(store, 0.25, seed=1), split_videos(store, 0.25, seed=1)
    assert a == b and a != split_videos(store, 0.25, seed=2)
    assert not set(a["train"]) & set(a["val"])
    labs = dict(zip(store.videos["video_id"].tolist(), store.videos["lab_id"].tolist(), strict=True))
    assert {labs[v] for v in a["val"]} == {"Lab0", "Lab1"}  # every lab validated
    assert not {900} & set(a["train"] + a["val"])  # the unlabeled video is left out
    save_split(a, tmp_path / "split.json")
    assert load_split(tmp_path / "split.json") == a


# -- sampler ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("gap", [1, 3])
def test_windows_never_cross_videos_and_honour_frame_gap(gap):
    s = sampler([40, 33, 60], window=10, batch_size=256, frame_gap=gap, seed=0)
    b = s.next_batch()
    assert b.x.shape == (256, 10, 144) and b.x.dtype == torch.float32 and b.y.dtype == torch.int64
    assert (b.x[:, :, 0] == b.x[:, :1, 0]).all()  # one video per window
    assert (torch.diff(b.x[:, :, 1], dim=1) == gap).all()  # consecutive frames, gap apart
    assert (b.y == b.x[:, :, 1].long()).all()  # labels aligned with inputs (no jitter)
    assert (b.video == b.x[:, 0, 0].long()).all() and (b.fps == 30).all()
    assert b.valid.all() and (b.start == b.x[:, 0, 1].long()).all() and torch.equal(b.unit, b.video)


def test_every_frame_is_reachable_and_short_videos_are_skipped():
    s = sampler([25, 5, 40], window=8, batch_size=512, seed=0)  # video 1 is shorter than a window
    seen = set()
    for _ in range(10):
        b = s.next_batch()
        seen |= set(zip(b.x[:, :, 0].long().flatten().tolist(), b.x[:, :, 1].long().flatten().tolist(),
                        strict=True))
    assert seen == {(0, f) for f in range(25)} | {(2, f) for f in range(40)}
    assert s.policy.n_windows == (25 - 7) + (40 - 7)
    with pytest.raises(DataError, match="sequence_length"):
        sampler([25, 5, 40], window=50)


def test_deterministic_per_seed_and_resumable_from_state():
    kw = {"window": 16, "batch_size": 8, "noise_std": 0.1, "temporal_jitter": 2}
    a, b, c = sampler([100, 80], seed=5, **kw), sampler([100, 80], seed=5, **kw), sampler([100, 80], seed=6, **kw)
    xa, xb, xc = a.next_batch().x, b.next_batch().x, c.next_batch().x
    assert torch.equal(xa, xb) and not torch.equal(xa, xc)
    state = a.state_dict()
    expected = [a.next_batch() for _ in range(3)]
    fresh = sampler([100, 80], seed=0, **kw)
    fresh.load_state_dict(state)
    for e in expected:
        got = fresh.next_batch()
        assert torch.equal(got.x, e.x) and torch.equal(got.y, e.y)
    assert fresh.step == a.step == 4


def test_jitter_shifts_inputs_within_the_video_and_noise_has_its_std():
    s = sampler([30, 30], window=10, batch_size=2048, seed=0, temporal_jitter=2)
    b = s.next_batch()
    shift = b.x[:, :, 1] - b.y.float()
    assert shift.abs().max() <= 2 and shift.abs().max() > 0
    assert (b.x[:, :, 0] == b.x[:, :1, 0]).all()  # still inside one video
    noisy = sampler([30], window=10, batch_size=256, seed=0, noise_std=0.5)
    assert abs(float(noisy.next_batch().x[:, :, 2:].std()) - 0.5) < 0.02
    pix = sampler([30, 30], window=10, batch_size=256, seed=0, noise_std=0.5, noise_in_pixels=True,
                  pix_per_cm=np.array([2.0, 8.0]))  # raw-pixel features: noise in cm x pix_per_cm
    b = pix.next_batch()
    for video, ppc in ((0, 2.0), (1, 8.0)):
        assert abs(float(b.x[b.video == video][:, :, 2:].std()) - 0.5 * ppc) < 0.05 * ppc


def test_noise_bank_gives_each_batch_fresh_independent_gaussians_and_resumes_by_seed():
    kw = {"window": 10, "batch_size": 64, "noise_std": 0.5}
    s = sampler([50], seed=1, **kw)
    n1, n2 = (s.next_batch().x[:, :, 2:].flatten().double() for _ in range(2))  # columns 2+ are 0
    assert not torch.equal(n1, n2)  # consecutive batches take different slices of the bank
    assert abs(float(n1.mean())) < 0.01 and abs(float(n1.std()) - 0.5) < 0.01
    assert abs(float(torch.corrcoef(torch.stack([n1[:-1], n1[1:]]))[0, 1])) < 0.02  # neighbours independent
    other = sampler([50], seed=9, **kw)
    state = s.state_dict()
    expected = s.next_batch().x
    other.load_state_dict(state)  # the bank follows the state's seed, not the constructor's
    assert other.noise_seed == 1 and torch.equal(other.next_batch().x, expected)


def test_short_units_are_padded_with_their_last_frame_and_not_valid():
    feats, targets, units = encoded([40, 12])
    policy = BalancedStarts(units.length, np.array([0, 1]), np.zeros((0, 4), np.int64), span=16)
    s = WindowSampler(feats, targets, units, policy, fps=np.full(2, 30.0), window=16, batch_size=256, seed=0)
    b = s.next_batch()
    short = b.unit == 1
    assert short.any() and (~short).any()
    assert (b.start[short] == 0).all() and (b.valid[short][:, :12]).all() and not b.valid[short][:, 12:].any()
    assert (b.x[short][:, 12:, 1] == 11).all() and (b.y[short][:, 12:] == 11).all()  # the last frame repeated
    assert b.valid[~short].all() and (b.start[~short] + 16 <= 40).all()
    late = s.gather(np.array([0, 1]), np.array([30, 4]))  # windows that run past their unit's end
    assert late.valid.sum(1).tolist() == [10, 8] and (late.x[0, 10:, 1] == 39).all() and (late.y[1, 8:] == 11).all()


@pytest.mark.parametrize("lengths, window, gap, jitter", [([40, 12, 70], 16, 1, 0), ([40, 12, 70], 8, 3, 2),
                                                       ([9, 5], 12, 1, 1), ([300], 20, 2, 3)])
def test_gather_equals_a_frame_by_frame_reference(lengths, window, gap, jitter):
    """Whole windows come from window views, clipped ones row by row, and blocks shorter than a
    window row by row: every path gives the rows a frame-by-frame loop picks."""
    rng = np.random.default_rng(7)
    lengths = np.asarray(lengths)
    n = int(lengths.sum())
    feats = rng.normal(size=(n, 144)).astype(np.float32)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # two units per video (pairs-like): shared feature rows, separate target rows of 2 columns
    units = Units(np.repeat(starts, 2), np.arange(2 * len(lengths)) * lengths.max(), np.repeat(lengths, 2),
                  np.repeat(np.arange(len(lengths)), 2))
    targets = rng.integers(0, 250, (2 * len(lengths) * int(lengths.max()), 2)).astype(np.uint8)
    policy = BalancedStarts(units.length, units.video, np.zeros((0, 4), np.int64), window_span(window, gap))
    s = WindowSampler(feats, targets, units, policy, fps=np.full(len(lengths), 30.0), window=window,
                      batch_size=4, frame_gap=gap)
    unit = rng.integers(0, len(units.length), 200)
    start = (rng.random(200) * units.length[unit]).astype(np.int64)
    shift = rng.integers(-jitter, jitter + 1, (200, 1))
    b = s.gather(unit, start, shift if jitter else None)
    for i, (u, st, d) in enumerate(zip(unit, start, shift[:, 0] if jitter else np.zeros(200, int), strict=True)):
        frames = st + np.arange(window) * gap
        last = units.length[u] - 1
        assert torch.equal(b.x[i], torch.from_numpy(feats[units.feature_start[u] + np.clip(frames + d, 0, last)]))
        assert torch.equal(b.y[i], torch.from_numpy(targets[units.target_start[u] + np.minimum(frames, last)]))
        assert b.valid[i].tolist() == (frames <= last).tolist()


def test_gather_on_memmapped_blocks_is_zero_copy(tmp_path):
    feats, targets, units = encoded([30, 30])
    mm = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float32, shape=feats.shape)
    mm[:] = feats
    kw = {"fps": np.full(2, 30.0), "window": 10, "batch_size": 32, "seed": 4, "temporal_jitter": 1, "noise_std": 0.1}
    a = WindowSampler(mm, targets, units, UniformStarts(units.length, 10), **kw)
    b = WindowSampler(feats, targets, units, UniformStarts(units.length, 10), **kw)
    assert a.features.data_ptr() == mm.ctypes.data  # a view of the mapped file, not a copy
    for _ in range(3):
        x, y = a.next_batch(), b.next_batch()
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y)


def test_staging_normalises_stores_targets_and_spills_to_memmap(train_store, tmp_path):  # noqa: F811
    store = open_store(train_store)
    ids = [100, 101, 900]
    ram, ram_y = stage_grouped(store, ids)
    mm, mm_y = stage_grouped(store, ids, max_ram_gb=1e-6, out=tmp_path)
    assert isinstance(mm.features, np.memmap) and (tmp_path / "features.npy").exists()
    assert not isinstance(ram.features, np.memmap)
    np.testing.assert_array_equal(ram.features, mm.features)
    np.testing.assert_array_equal(ram_y, mm_y)
    raw = store.features(100)
    np.testing.assert_allclose(ram.features[ram.rows(0)], normalise_coords(raw, store.videos["pix_per_cm"][0]))
    assert ram.nbytes == ram.features.nbytes + ram.actions.nbytes and ram_y.dtype == np.int16
    assert (ram_y[ram.rows(2)] == IGNORE_INDEX).all()  # unlabeled video: every frame ignored
    with pytest.raises(DataError, match="split is empty"):
        stage_grouped(store, [])


# -- whole-video prediction -------------------------------------------------------------------------
@pytest.mark.parametrize("length, window, gap, stride", [(103, 20, 1, 7), (103, 20, 2, 10), (9, 20, 1, 0),
                                                          (20, 20, 3, 5)])
def test_predict_video_covers_every_frame_in_place(length, window, gap, stride):
    coords = np.random.default_rng(0).normal(size=(length, 144)).astype(np.float32)
    calls = []

    def forward(x, fps):  # a "model" whose logits are its first 3 inputs, so stitching is visible
        calls.append(x.shape)
        return x[..., :3] * fps[:, None, None] / 30
    out = predict_video(forward, coords, 30.0, window, gap, stride, batch_size=4)
    torch.testing.assert_close(out, torch.from_numpy(coords[:, :3]))
    assert all(c[1] <= window for c in calls)


def test_window_starts_cover_the_video():
    for length, w, s in [(100, 30, 15), (31, 30, 15), (10, 30, 5), (1000, 100, 50)]:
        st = window_starts(length, w, s)
        covered = np.zeros(length, bool)
        for a in st:
            covered[a:a + w] = True
        assert covered.all() and st.max() + min(w, length) == length


def test_make_train_store_is_seeded(tmp_path):
    a = make_train_store(tmp_path / "a.zarr", n_videos=2, length=50, seed=3)
    b = make_train_store(tmp_path / "b.zarr", n_videos=2, length=50, seed=3)
    np.testing.assert_array_equal(open_store(a).features(100), open_store(b).features(100))


def test_speed_and_accel_norm_are_per_keypoint_magnitudes():
    x = torch.zeros(1, 6, 144)
    x[0, :, 0], x[0, :, 1] = torch.arange(6.0) * 3, torch.arange(6.0) * 4  # keypoint 0: 5 cm per frame
    x[0, :, 2] = torch.arange(6.0) ** 2  # keypoint 1: x accelerates, 2 cm/frame^2
    out = build_inputs(x, torch.tensor([10.0]), ["speed", "accel_norm"])
    assert out.shape == (1, 6, 144)
    torch.testing.assert_close(out[0, :, 0], torch.full((6,), 50.0))  # 5 cm/frame at 10 fps
    torch.testing.assert_close(out[0, 2:, 72 + 1], torch.full((4,), 200.0))  # 2 cm/frame^2 * 10^2
    with pytest.raises(FeatureError, match="task: pairs"):
        check_features(["egocentric"])
