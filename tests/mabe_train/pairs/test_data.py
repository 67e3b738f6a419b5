"""Per-pair targets and masks, the pair window sampler and whole-video inference, on a hand-made store."""

import json

import numpy as np
import pytest
import torch

from mabe_store.constants import ACTION_INDEX
from mabe_store.format import VideoData, write_store
from mabe_store.reader import open_store
from mabe_train.pairs.labels import (
    build_pairs,
    pack_bits,
    pair_intervals,
    rasterise_pair,
    unpack_bits,
    video_pairs,
)
from mabe_train.pairs.sampler import PairSampler


def _video(vid, lab, length, n_mice, labeled, annotations, fps=30.0):
    feats = np.random.default_rng(vid).normal(300, 50, size=(length, 144)).astype(np.float32)
    feats[:, n_mice * 36:] = np.nan
    return VideoData(video_id=vid, lab_id=lab, features=feats, fps=fps, pix_per_cm=10.0,
                     n_mice=n_mice, behaviors_labeled=json.dumps(labeled), annotations=annotations)


@pytest.fixture
def store(tmp_path):
    videos = [
        _video(1, "LabA", 50, 2, ["mouse1,mouse2,sniff", "mouse2,mouse1,sniff", "mouse1,self,rear",
                                  "'mouse1','mouse2','attack'"],
               [(1, 2, "sniff", 10, 20), (2, 1, "sniff", 15, 25), (1, 1, "rear", 30, 60),
                (1, 2, "attack", 0, 5)]),
        _video(2, "LabB", 40, 3, ["mouse3,mouse1,chase", "mouse1,mouse4,chase", "mouse2,self,rest"],
               [(3, 1, "chase", -5, 8), (2, 2, "rest", 0, 40)], fps=60.0),
        _video(3, "LabB", 30, 2, [], []),
    ]
    write_store(tmp_path / "s.zarr", videos)
    return open_store(tmp_path / "s.zarr")


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
    back = unpack_bits(torch.from_numpy(pack_bits(y)))
    assert back.dtype == torch.float32 and (back.numpy() == y).all()


def test_build_pairs(store):
    staged = store.load()
    ps = build_pairs(store, staged.video_index)
    assert ps.n_pairs == 5  # video 1: three pairs, video 2: two, video 3 (unlabeled): none
    assert ps.bits.shape == (3 * 50 + 2 * 40,)
    keys = list(zip(ps.video.tolist(), ps.agent.tolist(), ps.target.tolist(), strict=True))
    p12 = keys.index((0, 0, 1))
    y = unpack_bits(torch.from_numpy(ps.bits[ps.label_start[p12]:ps.label_start[p12] + 50])).numpy()
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
    return staged, ps, PairSampler(staged, ps, **(args | kw))


def test_sampler_windows_stay_in_their_video_and_match_targets(store):
    staged, ps, s = _sampler(store)
    b = next(s)
    assert b.x.shape == (64, 16, 144) and b.y.shape == b.mask.shape == (64, 16, 37)
    for i in range(64):
        p, st = b.pair[i], b.start[i]
        assert st >= 0 and st + 16 <= ps.length[p]
        rows = staged.starts[ps.video[p]] + st + np.arange(16)
        np.testing.assert_array_equal(b.x[i].numpy(), staged.features[rows])
        assert (b.mask[i, 0].numpy().astype(bool) == ps.mask[p]).all()
        assert b.agent[i] == ps.agent[p] and b.target[i] == ps.target[p]
    assert set(b.fps.tolist()) == {30.0, 60.0}
    assert (b.y * (1 - b.mask)).sum() == 0  # no positive target outside the labeled actions


def test_sampler_positive_share_and_determinism(store):
    _, _, s = _sampler(store, positive_fraction=1.0)
    b = next(s)
    assert (b.y.amax(dim=(1, 2)) == 1).all()  # every window holds an annotated frame
    _, _, s1 = _sampler(store)
    _, _, s2 = _sampler(store)
    state = s1.state_dict()
    a, b2 = next(s1), next(s2)
    assert np.array_equal(a.pair, b2.pair) and np.array_equal(a.start, b2.start)
    s2.load_state_dict(state)
    again = next(s2)
    assert np.array_equal(a.start, again.start)


def test_sampler_pads_short_videos_as_invalid(store):
    _, ps, s = _sampler(store, window=45)
    b = next(s)
    short = ps.length[b.pair] == 40
    assert short.any()
    m = b.mask[torch.from_numpy(short)]
    assert (m[:, 40:] == 0).all() and (m[:, :40].sum(-1) > 0).all()


class _Probe(torch.nn.Module):
    """Logit = the first feature (agent nose x), so outputs depend on the pair's inputs."""

    def forward(self, x):
        return x[..., :1].expand(*x.shape[:2], 37)


def test_video_probs_cover_labeled_pairs_and_mask_actions(store):
    from mabe_train.pairs.infer import pair_truth, video_probs
    out = video_probs(_Probe(), store, 1, window=16, stride=8)
    assert [(p.agent, p.target) for p in out] == [(1, 1), (1, 2), (2, 1)]
    for p in out:
        assert p.probs.shape == (50, 37) and p.lab_id == "LabA"
        assert (p.probs[:, ~p.mask] == 0).all() and (p.probs[:, p.mask] > 0).all()
    assert not np.allclose(out[0].probs[:, ACTION_INDEX["rear"]], 0.5)
    assert video_probs(_Probe(), store, 3, window=16) == []  # unlabeled video
    truth = pair_truth(store, 1)
    assert truth[(1, 1)][:, ACTION_INDEX["rear"]].nonzero()[0].tolist() == list(range(30, 50))


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
