"""The pairs task: masked BCE, batches -> inputs, validation by the official metric, thresholds."""

import json

import numpy as np
import pytest
import torch

from mabe_store.format import VideoData
from mabe_store.reader import open_store
from mabe_store.writer import write_store
from mabe_train.config import ConfigError, load_config
from mabe_train.pairs.features import N_PAIR_FEATURES
from mabe_train.pairs.task import masked_bce
from mabe_train.task import build_task


def test_masked_bce_ignores_unknown_cells():
    logits = torch.randn(2, 5, 37, requires_grad=True)
    y = (torch.rand(2, 5, 37) < 0.3).float()
    mask = torch.zeros(2, 5, 37)
    mask[0, :, 3] = 1
    mask[1, :2, 7] = 1
    loss = masked_bce(logits, y, mask)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask > 0], y[mask > 0])
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert (logits.grad[mask == 0] == 0).all() and (logits.grad[mask > 0] != 0).any()
    assert masked_bce(logits, y, torch.zeros_like(mask)) == 0  # no known cell: 0, not NaN


def test_pos_weight_scales_positive_cells():
    logits, y, mask = torch.zeros(1, 1, 37), torch.ones(1, 1, 37), torch.ones(1, 1, 37)
    plain = masked_bce(logits, y, mask)
    torch.testing.assert_close(masked_bce(logits, y, mask, torch.tensor([3.0])), 3 * plain)


def _walk(rng, n, n_mice):
    """(n, 144) pixels: mice wandering, mouse 1 nose-to-nose with mouse 2 on frames 20..40."""
    xy = np.full((n, 4, 18, 2), np.nan, dtype=np.float32)
    centre = 300 + np.cumsum(rng.normal(0, 2, size=(n, n_mice, 2)), axis=0)
    for k, off in ((0, 40.0), (6, 0.0), (13, -40.0)):  # nose, body_center, tail_base
        xy[:, :n_mice, k, 0] = centre[..., 0] + off
        xy[:, :n_mice, k, 1] = centre[..., 1]
    return xy.reshape(n, 144)


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    videos = []
    for i in range(6):
        lab = "LabA" if i < 3 else "LabB"
        labeled = (["mouse1,mouse2,sniff", "mouse2,self,rear"] if lab == "LabA"
                   else ["mouse1,mouse3,attack", "mouse3,mouse1,attack"])
        ann = ([(1, 2, "sniff", 20, 40), (2, 2, "rear", 50, 70)] if lab == "LabA"
               else [(1, 3, "attack", 10, 30)])
        videos.append(VideoData(video_id=100 + i, lab_id=lab, features=_walk(rng, 90, 3 if lab == "LabB" else 2),
                                fps=30.0, pix_per_cm=12.0, n_mice=3 if lab == "LabB" else 2,
                                behaviors_labeled=json.dumps(labeled), annotations=ann))
    write_store(tmp_path / "s.zarr", videos)
    return open_store(tmp_path / "s.zarr")


def _task(store, tmp_path, *overrides):
    cfg = load_config("configs/pairs_demo.yaml", ["sequence_length=32", "batch_size=8",
                                                  f"data.data_dir={store.path}", *overrides])
    split = {"train": [100, 101, 103, 104], "val": [102, 105]}
    return build_task(cfg, store, split, run_dir=tmp_path, progress=False)


def test_task_batches_inputs_and_loss(store, tmp_path):
    task = _task(store, tmp_path)
    assert (task.input_dim, task.n_outputs, task.monitor) == (N_PAIR_FEATURES, 37, "score")
    batch = task.train_batches().next_batch()
    x = task.inputs(batch, torch.device("cpu"))
    assert x.shape == (8, 32, N_PAIR_FEATURES) and torch.isfinite(x).all()
    loss = task.loss(torch.zeros(8, 32, 37), batch)
    assert torch.isclose(loss, torch.tensor(np.log(2.0), dtype=torch.float32))
    assert task.frames_per_epoch() == 4 * 2 * 90  # four videos, two labeled pairs each


def test_task_reads_the_config_pairs_section(store, tmp_path):
    task = _task(store, tmp_path, "pairs.positive_fraction=0.25", "pairs.decode.smooth=7",
                 "pairs.decode.max_gap=0")
    assert task.train_batches().policy.positive_fraction == 0.25
    dec = task.settings.decode
    assert (dec.smooth, dec.min_bout, dec.max_gap) == (7, 3, 0)


def test_task_rejects_bad_pos_weight(store, tmp_path):
    with pytest.raises(ConfigError, match="pos_weight"):
        _task(store, tmp_path, "pairs.pos_weight=[1.0, 2.0]")


class _Oracle(torch.nn.Module):
    """Sniff/attack logits from the nose-nose distance feature: a model that 'knows' the answer."""

    def forward(self, x):
        from mabe_train.pairs.features import FEATURE_NAMES
        near = x[..., FEATURE_NAMES.index("dist_nose_nose")]
        return (near - 0.5).unsqueeze(-1).expand(*x.shape[:2], 37) * -10


def test_validate_scores_with_the_metric_and_returns_its_thresholds_writing_nothing(store, tmp_path):
    task = _task(store, tmp_path)
    out, artefacts = task.validate(_Oracle(), torch.device("cpu"))
    assert set(out) >= {"score", "val_loss", "per_lab_score"} and 0 <= out["score"] <= 1
    assert set(out["per_lab"]) == {"LabA", "LabB"}
    assert out["per_lab"]["LabB"]["score"] == out["per_lab_score"]["LabB"]
    assert set(out["per_lab"]["LabA"]["f"]) <= {"sniff", "rear"}
    assert [out["per_lab"][lab]["n_videos"] for lab in ("LabA", "LabB")] == [1, 1]  # val: 102, 105
    saved = artefacts["thresholds.json"]
    assert saved["score"] == out["score"] and saved["thresholds"]
    assert json.loads(json.dumps(saved)) == saved  # plain JSON: it rides in checkpoints (weights_only)
    assert not list(tmp_path.rglob("thresholds.json"))  # validation is pure: train() writes the artefacts
    flat, flat_artefacts = task.validate(_Flat(), torch.device("cpu"))
    assert flat["score"] < out["score"] and flat_artefacts["thresholds.json"]["score"] == flat["score"]


class _Flat(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(*x.shape[:2], 37)


def test_mirror_setting_mirrors_that_share_of_windows_and_resumes_exactly(store, tmp_path):
    from mabe_train.pairs.augment import mirror
    plain = _task(store, tmp_path, "train.seed=3", "pairs.mirror=0").train_batches().next_batch()
    flipped = _task(store, tmp_path, "train.seed=3", "pairs.mirror=1.0").train_batches().next_batch()
    torch.testing.assert_close(flipped.x, mirror(plain.x), equal_nan=True)  # same windows, all mirrored
    assert torch.equal(flipped.y, plain.y)  # labels unchanged
    half = _task(store, tmp_path, "train.seed=3", "pairs.mirror=0.5").train_batches()
    b = half.next_batch()
    same = [torch.equal(torch.nan_to_num(b.x[i]), torch.nan_to_num(plain.x[i])) for i in range(8)]
    assert 0 < sum(same) < 8
    state = half.state_dict()
    after = half.next_batch()
    again = _task(store, tmp_path, "train.seed=3", "pairs.mirror=0.5").train_batches()
    again.load_state_dict(state)
    torch.testing.assert_close(again.next_batch().x, after.x, equal_nan=True)


def test_lab_input_appends_the_lab_one_hot_dropped_on_some_windows(store, tmp_path, monkeypatch):
    from mabe_train.pairs import augment
    monkeypatch.setattr(augment, "KNOWN_LABS", ("LabB", "LabA"))
    task = _task(store, tmp_path, "pairs.lab_input=true", "batch_size=64")
    assert task.input_dim == N_PAIR_FEATURES + augment.N_LAB_INPUTS
    batch = task.train_batches().next_batch()
    hot = task.inputs(batch, torch.device("cpu"))[:, :, N_PAIR_FEATURES:]
    assert hot.shape == (64, 32, augment.N_LAB_INPUTS)
    labs = task.store.videos["lab_id"]
    vids = [task.split["train"][int(v)] for v in batch.video]
    dropped = batch.start % augment.LAB_DROP_EVERY == 0
    for i, vid in enumerate(vids):
        want = torch.zeros(augment.N_LAB_INPUTS)
        if not dropped[i]:
            want[("LabB", "LabA").index(str(labs[task.store.index(vid)]))] = 1
        assert torch.equal(hot[i], want.expand(32, -1))
    assert dropped.any() and not dropped.all()
