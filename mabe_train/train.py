"""`train(cfg) -> run_dir`: the one training loop, called by the CLI, the tests and the Modal function.

Parts come from small builders (store -> split -> task -> model -> optimizer/scheduler), so the
loop only moves tensors and never knows the task's targets or input width. An epoch is a fixed
number of random-window steps (`train.steps_per_epoch`, default about one pass over the training
frames), then whole-video validation; ReduceLROnPlateau and early stopping follow the task's
`monitor` metric (maximised). Everything needed to continue — weights, optimizer, scheduler, torch
RNG, sampler RNG + step, epoch/step counters and the partial epoch's sums — is in `last.pt`, written
atomically (tmp + os.replace) at each epoch end (and every `ckpt_every_steps` steps), so a killed
run resumed with `resume=True` reaches bit-identical weights on CPU. The run directory's files and
checkpoint format belong to mabe_train.run; validation is pure and its artefacts (the pairs task's
thresholds) are stored in the checkpoint and, for the best epoch, beside best.pt. The loop never waits for the GPU
per step: the loss is summed on the device and read back every `train.log_every` steps, and the
data vs compute split is sampled on those steps only (`epoch_meter.EpochMeter`); on a CPU it is exact.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mabe_store.log import Log, progress_bar, say
from mabe_store.reader import open_store
from mabe_train import MabeTrainError
from mabe_train.config import Config
from mabe_train.epoch_meter import EpochMeter, split_time
from mabe_train.layout import Layout
from mabe_train.models import build_model, count_parameters
from mabe_train.prefetch import make_feeder
from mabe_train.run import (
    append_history,
    check_store_generation,
    copy_atomic,
    load_checkpoint,
    make_run_dir,
    mark_run,
    pick_device,
    run_layout,
    save_artefacts,
    save_checkpoint,
    save_config,
    set_threads,
    trim_history,
    write_atomic,
)
from mabe_train.runs.files import BEST_CHECKPOINT, LAST_CHECKPOINT, SPLIT_FILE, SUMMARY_FILE
from mabe_train.split import check_split, load_split, save_split, split_videos
from mabe_train.task import build_task


class TrainError(MabeTrainError, RuntimeError):
    """The run cannot start or continue; the message says what to do."""


@dataclass
class Hooks:
    """How a launcher talks to a running `train`: `should_stop` is asked after every step (True:
    write last.pt now and return, e.g. on SIGTERM before a preemption), `on_checkpoint(path)` runs
    after every last.pt write (e.g. committing a Modal Volume)."""

    should_stop: Callable[[], bool] = lambda: False
    on_checkpoint: Callable[[Path], None] = lambda path: None


@dataclass
class TrainState:
    """Counters that a checkpoint carries besides the weights (plain types only)."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken in all
    epoch_step: int = 0  # steps taken in the current, unfinished epoch
    best: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    sums: dict = field(default_factory=lambda: {"loss": 0.0, "steps": 0, "data_s": 0.0, "compute_s": 0.0,
                                                "untimed_s": 0.0, "timed_steps": 0})


# -- builders -------------------------------------------------------------------------------------
def build_optimizer(cfg: Config, model: torch.nn.Module):
    o = cfg.optim
    opt = torch.optim.AdamW(model.parameters(), lr=o.learning_rate, weight_decay=o.weight_decay)
    s = o.scheduler
    sched = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=s.factor, patience=s.patience,
                                                         min_lr=s.min_lr)
             if s.name == "plateau" else None)
    return opt, sched


def resolve_amp(device: torch.device, amp: str) -> str:
    """The precision a run really uses: bf16 becomes fp16 (with the grad scaler) on a CUDA card
    without bf16 (pre-Ampere: T4, V100); a CPU autocasts to bf16 natively."""
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16"
    return amp


def autocast(device: torch.device, amp: str):
    """Mixed-precision context for forward passes: bf16 or fp16 autocast, or nothing."""
    if amp == "none":
        return nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def warmup_lr(cfg: Config, step: int) -> float | None:
    """Linear warmup: the lr for optimizer step `step` (0-based), or None once warmup is over."""
    w = cfg.optim.warmup_steps
    return cfg.optim.learning_rate * (step + 1) / w if step < w else None


# -- checkpoints ----------------------------------------------------------------------------------
def checkpoint(*, model, opt, sched, sampler, state: TrainState, cfg: Config, artefacts: dict) -> dict:
    """Everything a resumed run needs, as tensors and plain types (loads with weights_only=True)."""
    ck = {"model": model.state_dict(), "optimizer": opt.state_dict(),
          "scheduler": sched.state_dict() if sched else {}, "sampler": sampler.state_dict(),
          "torch_rng": torch.get_rng_state(), "state": asdict(state), "config": cfg.to_dict(),
          "artefacts": artefacts}
    if torch.cuda.is_available():
        ck["cuda_rng"] = torch.cuda.get_rng_state_all()
    return ck


# -- the loop -------------------------------------------------------------------------------------
def _prepare(cfg: Config, run_dir: Path | None, resume: bool, overwrite: bool, given: dict | None = None):
    """Store, split (`given`, else split.py's choice) and run directory; the folder is made only once
    the store and split are good. A resumed run keeps the split.json it started with."""
    if resume and (run_dir is None or not (Path(run_dir) / LAST_CHECKPOINT).exists()):
        raise TrainError(f"nothing to resume in {run_dir}: no last.pt")
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    if resume:
        run_dir = Path(run_dir)
        if (trained := run_layout(run_dir)) is not None:
            Layout.of(store).check_same(trained, f"run {run_dir}")
        check_store_generation(run_dir, store)
        split = load_split(run_dir / SPLIT_FILE)
    else:
        if given is not None:
            check_split(store, given)
            split = dict(given)
        else:
            split = split_videos(store, cfg.data.val_fraction, cfg.data.split_seed, cfg.data.max_videos)
        _check_window(cfg, store, split)
        run_dir = Path(run_dir) if run_dir else make_run_dir(cfg, overwrite)
        run_dir.mkdir(parents=True, exist_ok=True)
        mark_run(run_dir, cfg, store)
        save_split(split, run_dir / SPLIT_FILE)
    save_config(cfg, run_dir)
    return run_dir, store, split


def _check_window(cfg: Config, store, split: dict) -> None:
    """Before any folder is made: the window must fit at least one training video (a pairs window
    longer than every video would pad every sample to it: memory grows with the window, not the data)."""
    span = (cfg.data.sequence_length - 1) * (cfg.grouped.frame_gap if cfg.task == "grouped" else 1) + 1
    longest = max(int(store.videos["length"][store.index(v)]) for v in split["train"])
    if span > longest:
        raise TrainError(f"a window spans {span} frames (data.sequence_length={cfg.data.sequence_length}) but "
                         f"the longest training video has {longest} — lower data.sequence_length")


def _check_finite(loss_sum: float, model: torch.nn.Module | None, step: int) -> None:
    """TrainError at a non-finite loss sum (read back every log_every steps) or, before anything is
    saved, a non-finite weight: no non-finite model is ever written."""
    bad = not math.isfinite(loss_sum) or (
        model is not None and not all(bool(torch.isfinite(p).all()) for p in model.parameters()))
    if bad:
        raise TrainError(f"the loss or the weights became non-finite by step {step} (loss sum {loss_sum}) — "
                         "check the store for inf/huge coordinates (`mabe-store verify --raw`), or lower "
                         "optim.learning_rate; nothing of this epoch was saved")


def train(cfg: Config, *, run_dir: str | Path | None = None, resume: bool = False,
          overwrite: bool = False, stop_after_steps: int | None = None, hooks: Hooks | None = None,
          split: dict | None = None, log: Log = say) -> Path:
    """Train `cfg`; returns the run directory; progress lines go to `log` (mabe_store.log). `hooks` let a launcher stop it cleanly (see Hooks).
    `split` ({"train": ids, "val": ids}, e.g. a cv fold's: mabe_train.split.fold_split) replaces
    the run's own seeded split; it is saved as split.json like any split, so resuming keeps it.
    `stop_after_steps` (tests) returns right after that
    many optimizer steps without writing anything more, as if the process had been killed."""
    device, hooks = pick_device(cfg.train.device), hooks or Hooks()
    set_threads(cfg.train.threads)
    run_dir, store, split = _prepare(cfg, run_dir, resume, overwrite, split)
    if (amp := resolve_amp(device, cfg.train.amp)) != cfg.train.amp:
        log(f"train.amp={cfg.train.amp} is not supported on {device}: using {amp}")
        cfg.train.amp = amp
    torch.manual_seed(cfg.train.seed)
    task = build_task(cfg, store, split, run_dir=run_dir, progress=cfg.train.progress)
    parts = _build_parts(cfg, task, device, run_dir, log)
    d = cfg.data
    steps = cfg.train.steps_per_epoch or max(1, task.frames_per_epoch() // (d.batch_size * d.sequence_length))
    state = TrainState()
    if resume:
        ck = load_checkpoint(run_dir / LAST_CHECKPOINT)
        state, parts["artefacts"] = _restore(ck, **_ck_parts(parts)), ck.get("artefacts", {})
        trim_history(run_dir, state.epoch)
        log(f"resuming {run_dir} at epoch {state.epoch + 1}, step {state.step}")
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp == "fp16" and device.type == "cuda")
    while state.epoch < cfg.train.epochs:
        t0 = time.perf_counter()
        if not _train_epoch(task, parts, state, steps, device, scaler, run_dir, stop_after_steps, hooks):
            return run_dir
        stop = _end_epoch(task, parts, state, device, run_dir, time.perf_counter() - t0)
        hooks.on_checkpoint(run_dir / LAST_CHECKPOINT)
        if stop:
            log(f"early stop: no {task.monitor} gain in {state.bad_epochs} epochs")
            break
    write_atomic(run_dir / SUMMARY_FILE, json.dumps({
        "parameters": count_parameters(parts["model"]), "epochs": state.epoch, "steps": state.step,
        "monitor": task.monitor, "best": state.best, "best_epoch": state.best_epoch, "device": str(device)},
        indent=1))
    return run_dir


def train_kind(cfg: Config, *, resume: Path | None = None, overwrite: bool = False, hooks: Hooks | None = None,
               log: Log = say) -> Path:
    """The registry's trainer of kind `torch` (mabe_train.runs.registry.train_run)."""
    return train(cfg, run_dir=resume, resume=resume is not None, overwrite=overwrite, hooks=hooks, log=log)


def _build_parts(cfg: Config, task, device: torch.device, run_dir: Path, log: Log) -> dict:
    """Model (parameter count printed), optimizer, scheduler and the batch source."""
    model = build_model(cfg.model, task.input_dim, task.n_outputs).to(device)
    log(f"model {cfg.model.name}: {count_parameters(model):,} parameters; task {cfg.task}; "
        f"device {device}; run {run_dir}")
    opt, sched = build_optimizer(cfg, model)
    sampler = make_feeder(task.train_batches(), device, cfg.train.feeder)  # same state_dict either way
    return {"model": model, "opt": opt, "sched": sched, "sampler": sampler, "cfg": cfg, "artefacts": {}, "log": log}


def _restore(ck: dict, *, model, opt, sched, sampler, cfg=None, artefacts=None) -> TrainState:
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    if sched is not None and ck["scheduler"]:
        sched.load_state_dict(ck["scheduler"])
    sampler.load_state_dict(ck["sampler"])
    torch.set_rng_state(ck["torch_rng"])
    if "cuda_rng" in ck and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ck["cuda_rng"])
    return TrainState(**ck["state"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_epoch(task, parts, state: TrainState, steps: int, device, scaler, run_dir: Path,
                 stop_after_steps: int | None, hooks: Hooks) -> bool:
    """Run the rest of the current epoch; False when stopped early (`stop_after_steps`, `hooks.should_stop`)."""
    model, opt, sampler, cfg = parts["model"], parts["opt"], parts["sampler"], parts["cfg"]
    model.train()
    meter = EpochMeter(state.sums, device, cfg.train.log_every)
    bar = _bar(cfg, steps, state)
    for _ in range(state.epoch_step, steps):
        timed = meter.timed(state.epoch_step, steps)
        pre = time.perf_counter()
        if timed:
            _sync(device)
        t0 = time.perf_counter()
        batch = sampler.next_batch()
        x = task.inputs(batch, device)
        if timed:
            _sync(device)
        t1 = time.perf_counter()
        loss = train_step(task, model, opt, scaler, x, batch, device, cfg, state.step)
        if timed:
            _sync(device)
        meter.add(loss, (pre, t0, t1, time.perf_counter()), timed)
        state.step += 1
        state.epoch_step += 1
        bar.update(1)
        if meter.logged(state.epoch_step, steps):
            meter.flush()
            _check_finite(meter.sums["loss"], None, state.step)
            bar.set_postfix(meter.postfix(len(x)), refresh=False)
        stop = hooks.should_stop()
        if stop or (cfg.train.ckpt_every_steps and state.step % cfg.train.ckpt_every_steps == 0):
            meter.flush()
            _check_finite(meter.sums["loss"], model, state.step)
            save_checkpoint(run_dir / LAST_CHECKPOINT, checkpoint(**_ck_parts(parts), state=state))
            hooks.on_checkpoint(run_dir / LAST_CHECKPOINT)
        if stop:
            bar.close()
            parts["log"](f"stopped at step {state.step}: last.pt saved, resume with --resume {run_dir}")
            return False
        if stop_after_steps is not None and state.step >= stop_after_steps:
            meter.flush()
            bar.close()
            return False
    meter.flush()
    bar.close()
    _check_finite(meter.sums["loss"], model, state.step)
    return True


def _bar(cfg: Config, steps: int, state: TrainState):
    return progress_bar(total=steps, initial=state.epoch_step, desc=f"epoch {state.epoch + 1}/{cfg.train.epochs}",
                        unit="step", enabled=cfg.train.progress, leave=False)


def train_step(task, model, opt, scaler, x, batch, device, cfg: Config, step: int) -> torch.Tensor:
    """One optimizer step (warmup lr, autocast forward, fp32 loss, scaled backward, clipping) —
    the step `train()` and `mabe-train bench` both time. Returns the loss as a detached 0-d tensor
    on the device: reading it (`.item()`) waits for the GPU, so the caller decides when."""
    lr = warmup_lr(cfg, step)
    if lr is not None or step == cfg.optim.warmup_steps > 0:
        for g in opt.param_groups:
            g["lr"] = lr if lr is not None else cfg.optim.learning_rate
    with autocast(device, cfg.train.amp):
        logits = model(x)
    loss = task.loss(logits.float(), batch)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.optim.grad_clip > 0:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
    scaler.step(opt)
    scaler.update()
    return loss.detach()


def _ck_parts(parts) -> dict:
    return {k: parts[k] for k in ("model", "opt", "sched", "sampler", "cfg", "artefacts")}


def _end_epoch(task, parts, state: TrainState, device, run_dir: Path, train_s: float) -> bool:
    """Validate, log, schedule, checkpoint. True when early stopping says stop."""
    model, opt, sched, cfg = parts["model"], parts["opt"], parts["sched"], parts["cfg"]
    t0 = time.perf_counter()
    with autocast(device, cfg.train.amp):
        val, parts["artefacts"] = task.validate(model, device)
    val_s = time.perf_counter() - t0
    score = val[task.monitor]
    if sched is not None and state.step >= cfg.optim.warmup_steps:
        sched.step(score)
    state.epoch += 1
    improved = score > state.best
    if improved:
        state.best, state.best_epoch, state.bad_epochs = score, state.epoch, 0
    else:
        state.bad_epochs += 1
    s = state.sums
    data_s, compute_s = split_time(s)
    line = {"epoch": state.epoch, "step": state.step, "loss": s["loss"] / max(s["steps"], 1),
            "lr": opt.param_groups[0]["lr"], "data_s": data_s, "compute_s": compute_s,
            "timed_steps": s["timed_steps"],
            "windows_per_s": s["steps"] * cfg.data.batch_size / max(data_s + compute_s, 1e-9),
            "train_s": train_s, "val_s": val_s, "epoch_s": train_s + val_s, "best": improved,
            **{k: v for k, v in val.items() if k != "per_lab"}}
    append_history(run_dir, line)
    parts["log"](f"epoch {state.epoch}: loss {line['loss']:.4f}  {task.monitor} {score:.4f}  "
                 f"(best {state.best:.4f} @ {state.best_epoch})  lr {line['lr']:.2e}  {line['epoch_s']:.1f}s")
    state.epoch_step, state.sums = 0, TrainState().sums
    save_checkpoint(run_dir / LAST_CHECKPOINT, checkpoint(**_ck_parts(parts), state=state))
    if improved:
        copy_atomic(run_dir / LAST_CHECKPOINT, run_dir / BEST_CHECKPOINT)
        save_artefacts(run_dir, parts["artefacts"], state.epoch)
    if state.epoch % cfg.train.save_freq == 0:
        copy_atomic(run_dir / LAST_CHECKPOINT, run_dir / f"epoch_{state.epoch:03d}.pt")
    return state.bad_epochs >= cfg.train.early_stopping_patience > 0
