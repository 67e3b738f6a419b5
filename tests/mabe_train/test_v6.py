"""V6: 288 motion inputs built on the device, bf16 autocast on a CPU, warmup then plateau."""

import json
import math
from pathlib import Path

import pytest
import torch

from mabe_train.config import load_config
from mabe_train.grouped.features import FeatureError, build_inputs, check_features
from mabe_train.models.conv1d_bilstm import Conv1DBiLSTM, expected_parameters
from mabe_train.train import autocast, build_optimizer, resolve_amp, train, train_step, warmup_lr

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# -- features ---------------------------------------------------------------------------------------
def trajectory(fps: float, seconds: float, accel: float = 0.0, vx: float = 3.0, vy: float = 4.0) -> torch.Tensor:
    """(1, T, 144): keypoint 0 of mouse 1 at x = vx t + accel t^2 / 2, y = vy t (cm, t in s); rest NaN."""
    t = torch.arange(int(round(fps * seconds)), dtype=torch.float64) / fps
    x = torch.full((1, len(t), 144), float("nan"), dtype=torch.float64)
    x[0, :, 0], x[0, :, 1] = vx * t + 0.5 * accel * t**2, vy * t
    return x


def test_v6_features_are_288_wide_and_validated_in_one_place():
    assert check_features(["coords", "speed", "accel_norm"]) == 288
    cfg = load_config(CONFIGS / "v6.yaml")
    assert check_features(cfg.grouped.features) == 288
    with pytest.raises(FeatureError, match="task: pairs"):
        check_features(["coords", "egocentric"])


@pytest.mark.parametrize("fps", [10.0, 30.0, 120.0])
def test_constant_velocity_gives_its_speed_in_cm_per_s_and_no_acceleration(fps):
    out = build_inputs(trajectory(fps, 1.0), torch.tensor([fps], dtype=torch.float64),
                       ["coords", "speed", "accel_norm"])
    speed, acc = out[0, :, 144], out[0, :, 216]
    torch.testing.assert_close(speed, torch.full_like(speed, 5.0))  # |(3, 4)| cm/s at any fps
    torch.testing.assert_close(acc, torch.zeros_like(acc))
    assert (out[0, :, 145:216] == 0).all()  # untracked keypoints: 0, not NaN


def test_constant_acceleration_and_frame_gap_scaling():
    fps, a = 30.0, 6.0
    x = trajectory(fps, 2.0, accel=a, vx=0.0, vy=0.0)
    out = build_inputs(x, torch.tensor([fps], dtype=torch.float64), ["accel_norm", "velocity"])
    torch.testing.assert_close(out[0, 2:, 0], torch.full_like(out[0, 2:, 0], a))  # cm/s^2
    # every 2nd frame with frame_gap=2 is the same motion: same cm/s^2 and the same mid-step velocity
    sub = build_inputs(x[:, ::2], torch.tensor([fps], dtype=torch.float64), ["accel_norm", "velocity"], frame_gap=2)
    torch.testing.assert_close(sub[0, 2:, 0], torch.full_like(sub[0, 2:, 0], a))
    v_mid = a * (torch.arange(1, x.shape[1] // 2, dtype=torch.float64) * 2 - 1) / fps  # v at the midpoint
    torch.testing.assert_close(sub[0, 1:, 72], v_mid)


# -- mixed precision --------------------------------------------------------------------------------
def test_bf16_autocast_on_cpu_runs_the_model_in_bf16_with_a_finite_loss():
    torch.manual_seed(0)
    model = Conv1DBiLSTM(288, 4, (16, 32), 3, 16, 2)
    seen = {}
    for name in ("conv.0", "lstm", "head"):
        model.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, (o[0] if isinstance(o, tuple) else o).dtype))
    x = torch.randn(4, 20, 288)
    with autocast(torch.device("cpu"), "bf16"):
        logits = model(x)
    assert seen == {"conv.0": torch.bfloat16, "lstm": torch.bfloat16, "head": torch.bfloat16}
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 4), torch.randint(0, 4, (80,)))
    assert math.isfinite(loss.item())
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in model.parameters())  # master weights and grads stay fp32


def test_resolve_amp_falls_back_to_fp16_without_cuda_bf16(monkeypatch):
    assert resolve_amp(torch.device("cpu"), "bf16") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_amp(torch.device("cuda"), "bf16") == "fp16"
    assert resolve_amp(torch.device("cuda"), "none") == "none"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_amp(torch.device("cuda"), "bf16") == "bf16"


# -- warmup then plateau ----------------------------------------------------------------------------
class _Task:
    def loss(self, logits, batch):
        return logits.float().square().mean()


def test_warmup_lr_values_and_the_lr_each_step_uses():
    cfg = load_config(CONFIGS / "debug.yaml", ["optim.warmup_steps=4", "optim.learning_rate=0.01"])
    assert [warmup_lr(cfg, s) for s in range(6)] == pytest.approx([0.0025, 0.005, 0.0075, 0.01, None, None])
    model = torch.nn.Linear(3, 2)
    opt, _ = build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    used = []
    for step in range(7):
        train_step(_Task(), model, opt, scaler, torch.randn(5, 3), None, torch.device("cpu"), cfg, step)
        used.append(opt.param_groups[0]["lr"])
    assert used == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01, 0.01])


def test_plateau_takes_over_after_warmup(train_store, tmp_path):  # noqa: F811
    lr = 0.01
    cfg = load_config(CONFIGS / "debug.yaml", [
        f"data.data_dir={train_store}", f"train.checkpoint_dir={tmp_path}", "train.progress=false",
        "train.steps_per_epoch=3", "train.epochs=4", "train.early_stopping_patience=0", "data.batch_size=8",
        "optim.warmup_steps=5", f"optim.learning_rate={lr}", "optim.scheduler.patience=0",
        "optim.scheduler.factor=0.5", "optim.scheduler.min_lr=0"])
    run = train(cfg)
    m = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert m[0]["lr"] == pytest.approx(lr * 3 / 5)  # still warming up: the scheduler is not stepped
    assert m[1]["lr"] == pytest.approx(lr)  # warmup done; the plateau's first call only sets its best
    best, expect = m[1]["macro_f1"], lr
    for line in m[2:]:  # from here ReduceLROnPlateau (mode max, rel threshold 1e-4, patience 0)
        if line["macro_f1"] > best * (1 + 1e-4):
            best = line["macro_f1"]
        else:
            expect *= 0.5
        assert line["lr"] == pytest.approx(expect)


# -- the V6 config ----------------------------------------------------------------------------------
def test_v6_trains_on_a_small_store_in_bf16(tiny_store, tmp_path):
    cfg = load_config(CONFIGS / "v6.yaml", [
        f"data.data_dir={tiny_store}", f"train.checkpoint_dir={tmp_path}", "train.progress=false",
        "train.epochs=1", "train.steps_per_epoch=2", "data.batch_size=8", "data.sequence_length=32",
        "train.device=cpu", "train.run_name=v6"])
    assert cfg.train.amp == "bf16" and cfg.data.batch_size == 8
    run = train(cfg)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["parameters"] == expected_parameters(288, 4)
    (line,) = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert math.isfinite(line["loss"]) and line["lr"] == pytest.approx(cfg.optim.learning_rate * 2 / 500)
