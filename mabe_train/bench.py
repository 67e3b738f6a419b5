"""Train-step and inference throughput of a config on this machine, data time split from compute.

Why: the original design's headline figure was speed (100 epochs in 12 h on an A10G, 1.4 h on an
H100); "is the GPU fed?" is answered by the share of a step spent waiting for the batch. `bench`
builds exactly what `train(cfg)` builds (store -> split -> task -> model -> AdamW + scaler ->
feeder) and times the same step function (`train.train_step`: warmup lr, autocast, loss, scaled
backward, clipping, optimizer step), so its windows/s is what a run gets, minus validation.

Each timed step is split at two synchronisation points (CUDA is synchronised; a CPU needs none):
  fetch    = `feeder.next_batch()` (gather, jitter, noise; a device gather on CUDA)
  features = `task.inputs(batch, device)` (host->device copy, velocity/acceleration on the device)
  compute  = forward + loss + backward + optimizer step
data = fetch + features. The first `warmup` steps (allocator, cuDNN autotune, torch.compile) are
not timed. Inference times `model(task.inputs(batch))` in eval mode under no_grad and the same
autocast. Peak memory is `torch.cuda.max_memory_allocated` on CUDA and the process's peak RSS
on a CPU (which includes the staged data: it is a high-water mark, not a per-phase figure).

Without a store (`store=None` and no `data.data_dir` on disk) the bench has `mabe-store synth` and
`mabe-store build` make a small synthetic store in a temporary folder (on /dev/shm, i.e. RAM, when
there is one) and deletes it afterwards: throughput does not depend on what the coordinates mean,
only on the shapes, so no data is needed to compare machines or configs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from mabe_store.reader import open_store
from mabe_train import MabeTrainError
from mabe_train.config import Config
from mabe_train.models import build_model, count_parameters
from mabe_train.prefetch import FEEDERS, FeederError, make_feeder
from mabe_train.run import pick_device
from mabe_train.split import split_videos
from mabe_train.task import build_task
from mabe_train.train import autocast, build_optimizer, resolve_amp, train_step
from mabe_train.windows import WindowSampler


class BenchError(MabeTrainError):
    """The bench cannot get a store to time; the message says why."""




# -- synthetic store --------------------------------------------------------------------------------
def write_synthetic_store(path: str | Path, n_videos: int = 16, scale: float = 0.3, seed: int = 0) -> Path:
    """A labeled store made by the store's own tools — `mabe-store synth` (the small profile: 6 labs)
    and `mabe-store build`, in a subprocess — so mabe_train never writes a store itself."""
    path = Path(path)
    raw = path.with_name(path.name + ".raw")
    for args in (["synth", "--out", raw, "--videos", n_videos, "--scale", scale, "--seed", seed, "--force"],
                 ["build", "--raw", raw, "--out", path, "--no-progress"]):
        r = subprocess.run([sys.executable, "-m", "mabe_store.cli", *map(str, args)], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"mabe-store {args[0]} failed for the synthetic bench store: "
                             f"{(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return path


@contextmanager
def _store_for(cfg: Config, store: str | Path | None, synthetic_frames: int):
    """Yields (path, description): the given store, the config's, or a temporary synthetic one."""
    path = Path(store) if store else Path(cfg.data.data_dir)
    if store or (synthetic_frames <= 0 and path.exists()):
        yield path, str(path)
        return
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="mabe-bench-", dir=shm if shm.is_dir() else None) as tmp:
        frames = max(synthetic_frames, 0) or 50_000
        st = open_store(write_synthetic_store(Path(tmp) / "store.zarr", 16, scale=frames / 160_000))
        yield st.path, f"synthetic ({st.n_videos} videos, {st.n_frames:,} frames, `mabe-store synth`, temporary)"


# -- timing -----------------------------------------------------------------------------------------
class _Clock:
    """Wall time between marks, synchronising CUDA at each mark so queued kernels are counted."""

    def __init__(self, device: torch.device):
        self.device = device
        self.t = time.perf_counter()

    def lap(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        out, self.t = now - self.t, now
        return out


def _summary(times: dict[str, list[float]], batch_size: int, peak_bytes: int) -> dict:
    total = np.sum([times[k] for k in times], axis=0)
    data = np.sum([times[k] for k in times if k != "compute"], axis=0)
    out = {f"{k}_ms": 1e3 * float(np.mean(v)) for k, v in times.items()}
    out.update(step_ms=1e3 * float(np.mean(total)), data_ms=1e3 * float(np.mean(data)),
               data_share=float(data.sum() / total.sum()), windows_per_s=batch_size * len(total) / float(total.sum()),
               step_ms_p90=1e3 * float(np.percentile(total, 90)), peak_mb=peak_bytes / 2**20)
    return out


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _time_steps(task, feeder, device, steps: int, warmup: int, compute) -> dict[str, list[float]]:
    """fetch / features / compute seconds of `steps` steps after `warmup` untimed ones."""
    times: dict[str, list[float]] = {"fetch": [], "features": [], "compute": []}
    _reset_peak(device)
    for i in range(warmup + steps):
        clock = _Clock(device)
        batch = feeder.next_batch()
        fetch = clock.lap()
        x = task.inputs(batch, device)
        features = clock.lap()
        compute(x, batch, i)
        laps = (fetch, features, clock.lap())
        if i >= warmup:
            for k, v in zip(times, laps, strict=True):
                times[k].append(v)
    return times


def time_training(task, model, feeder, cfg: Config, device, steps: int, warmup: int) -> dict:
    """Training steps exactly as `train()` takes them (`train.train_step`)."""
    opt, _ = build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp == "fp16" and device.type == "cuda")
    model.train()
    times = _time_steps(task, feeder, device, steps, warmup,
                        lambda x, batch, i: train_step(task, model, opt, scaler, x, batch, device, cfg, i))
    return _summary(times, cfg.data.batch_size, _peak_bytes(device))


@torch.no_grad()
def time_inference(task, model, feeder, cfg: Config, device, steps: int, warmup: int) -> dict:
    """Forward passes in eval mode under the run's autocast."""
    model.eval()

    def forward(x, batch, i):
        with autocast(device, cfg.train.amp):
            model(x)
    times = _time_steps(task, feeder, device, steps, warmup, forward)
    return _summary(times, cfg.data.batch_size, _peak_bytes(device))


# -- the bench --------------------------------------------------------------------------------------
def run_bench(cfg: Config, *, steps: int = 20, warmup: int = 3, store: str | Path | None = None,
              feeder: str | None = None, compile_model: bool = False, cudnn_benchmark: bool = False,
              synthetic_frames: int = 0) -> dict:
    """Time `steps` training and inference steps of `cfg`; returns a JSON-ready dict.

    `feeder` None takes the config's `train.feeder`. `synthetic_frames` > 0 forces a synthetic
    store of about that many frames (0: `store`, else the config's data_dir when it exists, else
    a synthetic store of 48k frames).
    """
    feeder = feeder or cfg.train.feeder
    if feeder not in FEEDERS:
        raise FeederError(f"unknown feeder {feeder!r} — choose from {', '.join(FEEDERS)}")
    device = pick_device(cfg.train.device)
    cfg.train.amp = resolve_amp(device, cfg.train.amp)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cudnn_benchmark
    torch.manual_seed(cfg.train.seed)
    with _store_for(cfg, store, synthetic_frames) as (path, described):
        st = open_store(path)
        task = build_task(cfg, st, split_videos(st, cfg.data.val_fraction, cfg.data.split_seed, cfg.data.max_videos),
                          run_dir=None, progress=False)
        sampler = task.train_batches()
        fed = make_feeder(sampler, device, feeder)
        model = build_model(cfg.model, task.input_dim, task.n_outputs).to(device)
        run_model = torch.compile(model) if compile_model else model
        train = time_training(task, run_model, fed, cfg, device, steps, warmup)
        infer = time_inference(task, run_model, fed, cfg, device, steps, warmup)
        if hasattr(fed, "close"):
            fed.close()
    return {"config": cfg.name, "device": device_name(device), "batch_size": cfg.data.batch_size,
            "window": cfg.data.sequence_length, "input_dim": task.input_dim,
            "features": list(cfg.grouped.features) if cfg.task == "grouped" else [cfg.task],
            "amp": cfg.train.amp, "feeder": feeder_name(fed), "compile": compile_model,
            "cudnn_benchmark": cudnn_benchmark, "parameters": count_parameters(model), "steps": steps,
            "warmup": warmup, "store": described, "staged_mb": sampler.nbytes / 2**20,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_avg_1min": os.getloadavg()[0], "train": train, "inference": infer}


def feeder_name(fed) -> str:
    """`Prefetcher`, or `WindowSampler on <device>` (the plain and the device feeder)."""
    return f"{type(fed).__name__} on {fed.device}" if isinstance(fed, WindowSampler) else type(fed).__name__


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return device.type


def format_table(result: dict) -> str:
    """A small fixed-width table of one bench result."""
    head = (f"{result['config']} on {result['device']}: batch {result['batch_size']} x {result['window']} frames, "
            f"{result['input_dim']} inputs, amp {result['amp']}, feeder {result['feeder']}, "
            f"{result['parameters']:,} parameters, {result['steps']} timed steps")
    rows = [f"{'phase':<10}{'windows/s':>11}{'step ms':>10}{'fetch ms':>10}{'feat ms':>9}{'compute ms':>12}"
            f"{'data %':>8}{'peak MB':>10}"]
    for phase in ("train", "inference"):
        r = result[phase]
        rows.append(f"{phase:<10}{r['windows_per_s']:>11.1f}{r['step_ms']:>10.1f}{r['fetch_ms']:>10.2f}"
                    f"{r['features_ms']:>9.2f}{r['compute_ms']:>12.1f}{100 * r['data_share']:>8.1f}"
                    f"{r['peak_mb']:>10.0f}")
    return "\n".join([head, *rows])
