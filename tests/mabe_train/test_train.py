"""train(cfg): loss masking, checkpoints, exact resume, schedule, early stopping, mixed precision."""

import json
from pathlib import Path

import pytest
import torch

from mabe_store.reader import open_store
from mabe_train.config import load_config
from mabe_train.epoch_meter import EpochMeter, split_time
from mabe_train.grouped.labels import IGNORE_INDEX
from mabe_train.grouped.task import grouped_sampler, stage_grouped
from mabe_train.run import RunError, load_checkpoint, pick_device
from mabe_train.task import build_task
from mabe_train.train import TrainError, TrainState, train, warmup_lr

DEBUG = Path(__file__).resolve().parents[2] / "configs" / "debug.yaml"


def cfg_for(store, tmp_path, *extra):
    return load_config(DEBUG, [f"data.data_dir={store}", f"train.checkpoint_dir={tmp_path}", "train.progress=false",
                               "train.steps_per_epoch=3", "train.epochs=2", "data.batch_size=8", *extra])


def weights(run_dir, name="last.pt"):
    return load_checkpoint(Path(run_dir) / name)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# -- loss masking -----------------------------------------------------------------------------------
def test_ignored_frames_change_neither_loss_nor_gradient(train_store, tmp_path):  # noqa: F811
    cfg = cfg_for(train_store, tmp_path)
    task = build_task(cfg, open_store(train_store), {"train": [100], "val": [101]}, progress=False)
    y = torch.tensor([[0, 1, IGNORE_INDEX, 3, IGNORE_INDEX]])
    logits = torch.randn(1, 5, 4, requires_grad=True)
    loss = task.frame_loss(logits, y)
    loss.backward()
    assert (logits.grad[0, [2, 4]] == 0).all() and (logits.grad[0, [0, 1, 3]] != 0).any()
    other = logits.detach().clone()
    other[0, [2, 4]] = 100.0
    torch.testing.assert_close(task.frame_loss(other, y), loss.detach())
    w = torch.tensor(cfg.grouped.class_weights)
    known = torch.tensor([0, 1, 3])
    expected = torch.nn.functional.cross_entropy(logits.detach()[0, known], y[0, known], weight=w)
    torch.testing.assert_close(loss.detach(), expected)
    all_ignored = task.frame_loss(logits, torch.full((1, 5), IGNORE_INDEX))
    assert all_ignored.item() == 0.0  # not NaN


def test_unlabeled_video_contributes_nothing_to_the_loss(train_store, tmp_path):  # noqa: F811
    cfg = cfg_for(train_store, tmp_path)
    store = open_store(train_store)
    task = build_task(cfg, store, {"train": [100], "val": [101]}, progress=False)
    batch = grouped_sampler(store, *stage_grouped(store, [900]), window=16, batch_size=8).next_batch()
    model = torch.nn.Sequential(torch.nn.Linear(144, 4))
    loss = task.loss(model(task.inputs(batch, torch.device("cpu"))), batch)
    loss.backward()
    assert loss.item() == 0.0 and all((p.grad == 0).all() for p in model.parameters())


# -- the loop ---------------------------------------------------------------------------------------
def test_run_writes_metrics_and_checkpoints_that_load_weights_only(train_store, tmp_path):  # noqa: F811
    run = train(cfg_for(train_store, tmp_path, "train.run_name=r", "train.save_freq=1"))
    assert run == tmp_path / "r"
    for name in ("config.yaml", "split.json", "metrics.jsonl", "last.pt", "best.pt", "epoch_001.pt",
                 "epoch_002.pt", "summary.json"):
        assert (run / name).exists(), name
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [1, 2]
    for key in ("loss", "val_loss", "accuracy", "macro_f1", "per_class", "lr", "data_s", "compute_s",
                "epoch_s", "windows_per_s", "confusion"):
        assert key in lines[0], key
    assert set(lines[0]["per_class"]["social"]) == {"f1", "precision", "recall", "support"}
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["state"]["epoch"] == 2 and ck["state"]["step"] == 6
    assert not list(run.glob("*.tmp"))
    with pytest.raises(RunError, match="--resume"):
        train(cfg_for(train_store, tmp_path, "train.run_name=r"))


@pytest.mark.parametrize("ckpt_every_steps, kill_at, feeder", [(0, 4, "plain"), (1, 4, "plain"), (2, 2, "plain"),
                                                                (1, 4, "thread"), (1, 5, "device")])
def test_killed_and_resumed_run_reaches_identical_weights(train_store, tmp_path, ckpt_every_steps,  # noqa: F811
                                                           kill_at, feeder):
    extra = ("data.noise_std=0.05", "grouped.temporal_jitter=2", f"train.ckpt_every_steps={ckpt_every_steps}",
             f"train.feeder={feeder}")
    full = train(cfg_for(train_store, tmp_path, "train.run_name=full", *extra))
    cfg = cfg_for(train_store, tmp_path, "train.run_name=killed", *extra)
    killed = train(cfg, stop_after_steps=kill_at)  # returns mid-epoch 2 as if the process died
    if ckpt_every_steps == 0:
        assert load_checkpoint(killed / "last.pt")["state"]["step"] == 3  # only the epoch-1 checkpoint
    resumed = train(load_config(killed / "config.yaml"), run_dir=killed, resume=True)
    assert_same_weights(weights(full), weights(resumed))
    a = [json.loads(ln) for ln in (full / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(ln) for ln in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [x["loss"] for x in a] == [x["loss"] for x in b]


def test_warmup_is_linear_then_hands_over_to_the_scheduler(train_store, tmp_path):  # noqa: F811
    cfg = cfg_for(train_store, tmp_path, "optim.warmup_steps=4", "optim.learning_rate=0.01", "train.run_name=w")
    assert [warmup_lr(cfg, s) for s in range(5)] == [0.0025, 0.005, 0.0075, 0.01, None]
    run = train(cfg)  # 3 steps per epoch: epoch 1 ends inside the warmup
    lrs = [json.loads(ln)["lr"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert lrs == [pytest.approx(0.0075), pytest.approx(0.01)]


def test_early_stopping_stops_at_the_first_epoch_without_gain_when_patience_is_1(train_store, tmp_path):  # noqa: F811
    run = train(cfg_for(train_store, tmp_path, "train.run_name=es", "optim.learning_rate=1e-5",
                        "train.epochs=12", "train.early_stopping_patience=1"))
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) < 12
    assert [ln["best"] for ln in lines] == [True] * (len(lines) - 1) + [False]


def test_bf16_autocast_trains_on_cpu(train_store, tmp_path):  # noqa: F811
    run = train(cfg_for(train_store, tmp_path, "train.run_name=bf", "train.amp=bf16", "train.epochs=1"))
    line = json.loads((run / "metrics.jsonl").read_text())
    assert line["loss"] == line["loss"] and 0 <= line["macro_f1"] <= 1  # finite


def test_device_choice_and_resume_errors(tmp_path):
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(TrainError, match="no last.pt"):
        train(load_config(DEBUG), run_dir=tmp_path, resume=True)


def test_class_weights_must_match_the_classes(train_store, tmp_path):  # noqa: F811
    from mabe_train.config import ConfigError
    with pytest.raises(ConfigError, match=r"grouped.class_weights needs 4 positive values \(other, social"):
        cfg_for(train_store, tmp_path, "grouped.class_weights=[1.0, 2.0]")


def test_loss_sum_stays_on_the_device_and_reads_back_the_python_float_chain():
    losses = torch.rand(25, dtype=torch.float32)
    sums = {**TrainState().sums, "loss": 0.1}
    meter = EpochMeter(sums, torch.device("cpu"), log_every=10)
    expected = 0.1
    for i, loss in enumerate(losses):
        meter.add(loss, (0.0, 0.0, 0.5, 2.0), timed=meter.timed(i, 25))
        expected += float(loss)
    assert sums["loss"] == 0.1  # nothing read back until flush
    meter.flush()
    assert sums["loss"] == expected  # bit-identical to summing float(loss) per step
    assert sums["steps"] == sums["timed_steps"] == 25 and sums["untimed_s"] == 0.0
    assert split_time(sums) == (sums["data_s"], sums["compute_s"]) == (12.5, 37.5)  # exact off CUDA


def test_on_cuda_only_logged_steps_are_timed_and_the_rest_is_shared_out():
    meter = EpochMeter({"loss": 0.0, "steps": 0, "data_s": 0.0, "compute_s": 0.0}, torch.device("cpu"), 4)
    assert all(meter.timed(i, 10) for i in range(10))  # a sync is free off CUDA: every step timed
    meter.device = torch.device("cuda")  # the decision only (no CUDA here)
    assert [i for i in range(10) if meter.timed(i, 10)] == [3, 7, 9]  # every 4th step and the last
    sums = {"data_s": 1.0, "compute_s": 3.0, "untimed_s": 4.0}
    assert split_time(sums) == (2.0, 6.0)  # 8 s of wall time in the timed steps' 1:3 proportion


def test_a_non_finite_loss_stops_the_run_before_anything_is_saved(train_store, tmp_path, monkeypatch):  # noqa: F811
    from mabe_train.grouped.task import GroupedTask
    real = GroupedTask.loss
    monkeypatch.setattr(GroupedTask, "loss", lambda self, logits, batch: real(self, logits, batch) * float("inf"))
    with pytest.raises(TrainError, match="non-finite by step 1"):
        train(cfg_for(train_store, tmp_path, "train.run_name=inf", "train.log_every=1"))
    assert not list((tmp_path / "inf").glob("*.pt"))


def test_a_window_longer_than_every_video_is_refused_before_a_run_folder_exists(train_store, tmp_path):  # noqa: F811
    for task in ("grouped", "pairs"):
        cfg = cfg_for(train_store, tmp_path, f"train.run_name={task}", "data.sequence_length=5000")
        if task == "pairs":
            cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "pairs_demo.yaml",
                              [f"data.data_dir={train_store}", f"train.checkpoint_dir={tmp_path}",
                               "train.run_name=pairs", "data.sequence_length=5000"])
        with pytest.raises(TrainError, match="longest training video has 400"):
            train(cfg)
        assert not (tmp_path / task).exists()
