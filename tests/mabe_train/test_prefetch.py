"""Feeders (mabe_train.prefetch) give exactly the plain sampler's batches and resume state."""

import numpy as np
import pytest
import torch

from mabe_store.reader import open_store
from mabe_train.grouped.task import grouped_targets
from mabe_train.prefetch import DeviceWindowSampler, FeederError, Prefetcher, make_feeder
from mabe_train.windows import Batch, WindowSampler, stage_videos

KW = {"window": 20, "batch_size": 8, "seed": 3, "frame_gap": 2, "noise_std": 0.1, "temporal_jitter": 2}


@pytest.fixture(scope="module")
def staged(train_store):  # noqa: F811
    return stage_videos(open_store(train_store), [100, 101, 102], grouped_targets(), progress=False)


def sampler(staged, **kw):
    return WindowSampler(None, staged=staged, progress=False, **{**KW, **kw})


def assert_same(a: Batch, b: Batch):
    for name, x, y in zip(Batch._fields, a, b, strict=True):
        assert x.dtype == y.dtype, name
        torch.testing.assert_close(x.cpu(), y.cpu(), rtol=0, atol=0, equal_nan=True, msg=name)


@pytest.mark.parametrize("wrap", [lambda s: Prefetcher(s, depth=3), lambda s: Prefetcher(s, depth=1, pin=False),
                                  lambda s: DeviceWindowSampler(s, "cpu")], ids=["thread3", "thread1", "device"])
def test_feeder_yields_the_plain_sampler_batches(staged, wrap):
    plain, fed = sampler(staged), wrap(sampler(staged))
    for _ in range(6):
        assert_same(plain.next_batch(), fed.next_batch())
    assert fed.state_dict() == plain.state_dict()


@pytest.mark.parametrize("kind", ["thread", "device"])
def test_resume_from_a_feeder_state_is_exact(staged, kind):
    def wrap(s):
        return Prefetcher(s, depth=4) if kind == "thread" else DeviceWindowSampler(s, "cpu")
    first = wrap(sampler(staged))
    for _ in range(3):
        first.next_batch()
    state = first.state_dict()  # the thread has drawn ahead; the state must be the consumed one
    expected = [first.next_batch() for _ in range(3)]
    resumed = wrap(sampler(staged, seed=99))
    resumed.load_state_dict(state)
    for e in expected:
        assert_same(e, resumed.next_batch())
    plain = sampler(staged, seed=99)
    plain.load_state_dict(state)
    assert_same(expected[0], plain.next_batch())


def test_closing_the_thread_rewinds_the_sampler_to_the_consumed_batches(staged):
    base = sampler(staged)
    fed = Prefetcher(base, depth=4)
    taken = [fed.next_batch() for _ in range(2)]
    fed.close()
    assert base.step == 2
    plain = sampler(staged)
    for t in taken:
        assert_same(t, plain.next_batch())
    assert_same(plain.next_batch(), base.next_batch())


def test_thread_errors_reach_the_caller():
    class Broken:
        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

        def next_batch(self):
            raise RuntimeError("disk went away")
    with pytest.raises(RuntimeError, match="disk went away"):
        Prefetcher(Broken()).next_batch()


def test_pinning_keeps_non_tensor_fields_and_dataclasses():
    from dataclasses import dataclass

    from mabe_train.prefetch import _map_tensors

    @dataclass
    class B:
        x: torch.Tensor
        pair: np.ndarray
    out = _map_tensors(B(torch.ones(2), np.arange(2)), lambda t: t * 2)
    assert torch.equal(out.x, torch.full((2,), 2.0)) and np.array_equal(out.pair, [0, 1])


def test_make_feeder_choices(staged):
    s = sampler(staged)
    assert make_feeder(s, "cpu") is s  # auto on a CPU: the sampler itself
    assert isinstance(make_feeder(s, "cpu", "thread"), Prefetcher)
    assert isinstance(make_feeder(s, "cpu", "device"), DeviceWindowSampler)
    with pytest.raises(FeederError, match="choose from"):
        make_feeder(s, "cpu", "turbo")
    with pytest.raises(FeederError, match="use feeder 'thread'"):
        make_feeder(object(), "cpu", "device")


def test_device_feeder_holds_the_staged_bytes(staged):
    d = DeviceWindowSampler(sampler(staged), "cpu")
    assert d.nbytes == staged.coords.nbytes + staged.targets.nbytes
    assert d.n_windows == sampler(staged).n_windows


def test_thread_feeder_over_the_pair_sampler_is_exact(train_store, tmp_path):  # noqa: F811
    from pathlib import Path

    from mabe_train.config import load_config
    from mabe_train.task import build_task

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "pairs_demo.yaml",
                      [f"data.data_dir={train_store}", "data.batch_size=6", "data.sequence_length=20"])
    split = {"train": [100, 101, 102], "val": [103]}

    def sampler():
        return build_task(cfg, open_store(train_store), split, progress=False).train_batches()
    plain, fed = sampler(), Prefetcher(sampler(), depth=3)
    for _ in range(3):
        a, b = plain.next_batch(), fed.next_batch()
        for name in ("x", "agent", "target", "pix_per_cm", "fps", "y", "mask"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0, equal_nan=True)
        assert np.array_equal(a.pair, b.pair) and np.array_equal(a.start, b.start)
    assert fed.state_dict() == plain.state_dict()
