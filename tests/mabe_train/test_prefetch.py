"""Feeders (mabe_train.prefetch) give exactly the plain sampler's batches and resume state."""

from dataclasses import fields

import pytest
import torch

from mabe_store.reader import open_store
from mabe_train.grouped.task import grouped_sampler, stage_grouped
from mabe_train.prefetch import FeederError, Prefetcher, make_feeder
from mabe_train.windows import Batch

KW = {"window": 20, "batch_size": 8, "seed": 3, "frame_gap": 2, "noise_std": 0.1, "temporal_jitter": 2}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def staged(train_store):  # noqa: F811
    store = open_store(train_store)
    return store, *stage_grouped(store, [100, 101, 102])


def sampler(staged, **kw):
    return grouped_sampler(*staged, **{**KW, **kw})


def assert_same(a: Batch, b: Batch):
    for f in fields(Batch):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype, f.name
        torch.testing.assert_close(x.cpu(), y.cpu(), rtol=0, atol=0, equal_nan=True, msg=f.name)


def on_device(s, device="cpu"):
    return make_feeder(s, device, "device")


@pytest.mark.parametrize("wrap", [lambda s: Prefetcher(s, depth=3), lambda s: Prefetcher(s, depth=1, pin=False)]
                         + [lambda s, d=d: on_device(s, d) for d in DEVICES],
                         ids=["thread3", "thread1", *(f"device-{d}" for d in DEVICES)])
def test_feeder_yields_the_plain_sampler_batches(staged, wrap):
    plain, fed = sampler(staged), wrap(sampler(staged))
    for _ in range(6):
        assert_same(plain.next_batch(), fed.next_batch())
    assert fed.state_dict() == plain.state_dict()


@pytest.mark.parametrize("kind", ["thread", *(f"device-{d}" for d in DEVICES)])
def test_resume_from_a_feeder_state_is_exact(staged, kind):
    def wrap(s):
        return Prefetcher(s, depth=4) if kind == "thread" else on_device(s, kind.split("-")[1])
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


def test_batch_apply_maps_every_field(staged):
    b = sampler(staged).next_batch()
    out = b.apply(lambda t: t[:2])
    assert all(getattr(out, f.name).shape[0] == 2 for f in fields(Batch)) and torch.equal(out.unit, b.unit[:2])


def test_make_feeder_choices(staged):
    s = sampler(staged)
    assert make_feeder(s, "cpu") is s  # auto on a CPU: the sampler itself
    assert isinstance(make_feeder(s, "cpu", "thread"), Prefetcher)
    assert make_feeder(s, "cpu", "device") is s and s.device == torch.device("cpu")
    with pytest.raises(FeederError, match="choose from"):
        make_feeder(s, "cpu", "turbo")
    with pytest.raises(FeederError, match="use feeder 'thread'"):
        make_feeder(object(), "cpu", "device")


@pytest.mark.parametrize("device", DEVICES)
def test_device_feeder_holds_the_staged_bytes(staged, device):
    d = on_device(sampler(staged), device)
    _, st, targets = staged
    assert d.nbytes == st.features.nbytes + targets.nbytes
    assert d.features.device.type == device and d.next_batch().x.device.type == device
    assert d.policy.n_windows == sampler(staged).policy.n_windows


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
        assert_same(a, b)
    assert fed.state_dict() == plain.state_dict()
