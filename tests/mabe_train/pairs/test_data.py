"""Per-pair targets and masks, the pair window sampler and whole-video inference, on a hand-made store."""

import numpy as np
import torch

from mabe_store.constants import ACTION_INDEX
from mabe_train.pairs.labels import (
    build_pairs,
    pack_bits,
    pair_intervals,
    rasterise_pair,
    unpack_bits,
    video_pairs,
)
from mabe_train.pairs.sampler import pair_sampler, pair_targets


def _mask(*actions):
    m = np.zeros(37, dtype=bool)
    m[[ACTION_INDEX[a] for a in actions]] = True
    return m


def test_video_pairs_follow_clean_triples_and_n_mice(store):
    got = {(a, t): m for a, t, m in video_pairs(store, 1)}
    assert set(got) == {(1, 1), (1, 2), (2, 1)}  # the quoted attack entry is not clean
    assert (got[(1, 2)] == _mask("sniff")).all() and (got[(1, 1)] == _mask("rear")).all()
    got2 = {(a, t): m for a, t, m in video_pairs(store, 2)}
    assert set(got2) == {(3, 1), (2, 2)}  # mouse4 is outside the video's 3 mice
    assert video_pairs(store, 3) == []


def test_rasterise_pair_clips_to_the_video(store):
    ann = store.annotations(2)
    iv = pair_intervals(ann, 3, 1, 40)
    assert iv.tolist() == [[ACTION_INDEX["chase"], 0, 8]]
    y = rasterise_pair(iv, 40)
    assert y.shape == (40, 37) and y[:, ACTION_INDEX["chase"]].nonzero()[0].tolist() == list(range(8))
    assert y.sum() == 8


def test_pack_unpack_roundtrip():
    y = (np.random.default_rng(0).random((100, 37)) < 0.3).astype(np.uint8)
    back = unpack_bits(torch.from_numpy(pack_bits(y)), y.shape[1])
    assert back.dtype == torch.float32 and (back.numpy() == y).all()


def test_build_pairs(store):
    staged = store.load()
    ps = build_pairs(store, staged.video_index)
    assert ps.n_pairs == 5  # video 1: three pairs, video 2: two, video 3 (unlabeled): none
    assert ps.bits.shape == (3 * 50 + 2 * 40,)
    keys = list(zip(ps.video.tolist(), ps.agent.tolist(), ps.target.tolist(), strict=True))
    p12 = keys.index((0, 0, 1))
    y = unpack_bits(torch.from_numpy(ps.bits[ps.label_start[p12]:ps.label_start[p12] + 50]), ps.mask.shape[1]).numpy()
    assert y[:, ACTION_INDEX["sniff"]].nonzero()[0].tolist() == list(range(10, 20))
    assert y[:, ACTION_INDEX["attack"]].sum() == 0  # annotated but not labeled: unknown, no target
    assert not ps.mask[p12, ACTION_INDEX["attack"]]
    p11 = keys.index((0, 0, 0))
    assert ps.intervals[ps.intervals[:, 0] == p11, 1:].tolist() == [[ACTION_INDEX["rear"], 30, 50]]


def _sampler(store, **kw):
    staged = store.load()
    ps = build_pairs(store, staged.video_index)
    v = store.videos
    idx = staged.video_index
    args = dict(lab=v["lab_id"][idx], fps=v["fps"][idx], pix_per_cm=v["pix_per_cm"][idx],
                window=16, batch_size=64, seed=3)
    return staged, ps, pair_sampler(staged, ps, **(args | kw))


def test_sampler_windows_stay_in_their_video_and_match_targets(store):
    staged, ps, s = _sampler(store)
    b = s.next_batch()
    y, mask = pair_targets(b, torch.as_tensor(ps.mask, dtype=torch.float32))
    assert b.x.shape == (64, 16, 144) and y.shape == mask.shape == (64, 16, 37)
    for i in range(64):
        p, st = int(b.unit[i]), int(b.start[i])
        assert st >= 0 and st + 16 <= ps.length[p] and b.video[i] == ps.video[p]
        rows = staged.starts[ps.video[p]] + st + np.arange(16)
        np.testing.assert_array_equal(b.x[i].numpy(), staged.features[rows])
        assert (mask[i, 0].numpy().astype(bool) == ps.mask[p]).all()
    assert set(b.fps.tolist()) == {30.0, 60.0} and (b.pix_per_cm == 10.0).all()
    assert (y * (1 - mask)).sum() == 0  # no positive target outside the labeled actions


def test_sampler_positive_share_and_determinism(store):
    staged, ps, s = _sampler(store, positive_fraction=1.0)
    y, _ = pair_targets(s.next_batch(), torch.as_tensor(ps.mask, dtype=torch.float32))
    assert (y.amax(dim=(1, 2)) == 1).all()  # every window holds an annotated frame
    _, _, s1 = _sampler(store)
    _, _, s2 = _sampler(store)
    state = s1.state_dict()
    a, b2 = s1.next_batch(), s2.next_batch()
    assert torch.equal(a.unit, b2.unit) and torch.equal(a.start, b2.start)
    s2.load_state_dict(state)
    again = s2.next_batch()
    assert torch.equal(a.start, again.start)


def test_sampler_pads_short_videos_as_invalid(store):
    _, ps, s = _sampler(store, window=45)
    b = s.next_batch()
    _, m = pair_targets(b, torch.as_tensor(ps.mask, dtype=torch.float32))
    short = torch.from_numpy(ps.length)[b.unit] == 40
    assert short.any()
    m = m[short]
    assert (m[:, 40:] == 0).all() and (m[:, :40].sum(-1) > 0).all()


def test_sampler_noise_is_in_cm_on_raw_pixels(store):
    _, _, clean = _sampler(store)
    _, _, noisy = _sampler(store, noise_std=0.5)
    a, b = clean.next_batch(), noisy.next_batch()
    assert torch.equal(a.unit, b.unit) and torch.equal(a.start, b.start)  # the offset is drawn after the windows
    d = (b.x - a.x)[~a.x.isnan()]
    assert abs(float(d.std()) - 0.5 * 10.0) < 0.1  # 0.5 cm at 10 px/cm


class _Probe(torch.nn.Module):
    """Logit = the first feature (agent nose x), so outputs depend on the pair's inputs."""

    def forward(self, x):
        return x[..., :1].expand(*x.shape[:2], 37)


def test_video_probs_cover_labeled_pairs_and_mask_actions(store):
    from mabe_train.decode import truth_raster
    from mabe_train.pairs.infer import video_probs
    from mabe_train.submission import solution_from_store
    out = video_probs(_Probe(), store, 1, window=16, stride=8)
    assert out.pairs == [(1, 1), (1, 2), (2, 1)] and out.video_id == 1 and out.lab_id == "LabA"
    assert out.probs.shape == (3, 50, 37) and out.labeled.shape == (3, 37)
    for probs, mask in zip(out.probs, out.labeled, strict=True):
        assert (probs[:, ~mask] == 0).all() and (probs[:, mask] > 0).all()
    assert not np.allclose(out.probs[0, :, ACTION_INDEX["rear"]], 0.5)
    assert video_probs(_Probe(), store, 3, window=16) is None  # unlabeled video
    truth = truth_raster(out, solution_from_store(store, [1]))
    assert truth[0, :, ACTION_INDEX["rear"]].nonzero()[0].tolist() == list(range(30, 50))


class _PairProbe(torch.nn.Module):
    """Logits that differ per pair and per frame: where the target sits in the agent's frame."""

    def forward(self, x):
        from mabe_train.pairs.features import FEATURE_NAMES
        col = x[..., FEATURE_NAMES.index("target_centre_x")] + x[..., FEATURE_NAMES.index("is_self")]
        return col.unsqueeze(-1) * torch.linspace(-1, 1, 37)


def test_all_pairs_in_one_call_equal_pair_by_pair(store):
    from mabe_train.pairs.infer import pairs_probs
    raw = np.ascontiguousarray(store.features(2))
    pairs = [(3, 1), (1, 3), (2, 2), (1, 2)]
    together = pairs_probs(_PairProbe(), raw, pairs, 60.0, 10.0, window=16, stride=8)
    assert together.shape == (4, 40, 37)
    for p, pair in enumerate(pairs):
        alone = pairs_probs(_PairProbe(), raw, [pair], 60.0, 10.0, window=16, stride=8)[0]
        np.testing.assert_allclose(together[p], alone, atol=1e-6)
    assert not np.allclose(together[0], together[1])


def test_sampler_over_a_memory_mapped_staging_gives_the_same_batches(store, tmp_path):
    mapped = store.load(out=tmp_path / "cache", max_ram_gb=1e-9)  # "larger than RAM": .npy files
    assert isinstance(mapped.features, np.memmap)
    ps = build_pairs(store, mapped.video_index)
    v, idx = store.videos, mapped.video_index
    kw = dict(lab=v["lab_id"][idx], fps=v["fps"][idx], pix_per_cm=v["pix_per_cm"][idx], window=16,
              batch_size=32, seed=5, noise_std=0.1)
    _, _, ram = _sampler(store, **{k: kw[k] for k in ("batch_size", "seed", "noise_std")})
    disk = pair_sampler(mapped, ps, **kw)
    for _ in range(3):
        a, b = ram.next_batch(), disk.next_batch()
        assert torch.equal(a.x.nan_to_num(), b.x.nan_to_num()) and torch.equal(a.y, b.y) and torch.equal(a.valid, b.valid)
