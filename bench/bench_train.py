"""Benchmark (not a test): WindowSampler rate vs a bare numpy gather, staging memory, train steps.

    .venv/bin/python bench/bench_train.py [--store data/store.zarr] [--frames 400000] [--json out.json]
    .venv/bin/python bench/bench_train.py --sampler-only --code ../main --code . --processes 4   # before/after

1. Sampler: microseconds per batch of the grouped task's kind of `WindowSampler.next_batch()`
   (batch 64, window 100; without and with V5's augmentation, noise 0.01 + jitter 2) against the
   limit, a bare in-RAM numpy gather of the same kind of windows (`feats[starts[:, None] +
   arange(100)]` + `torch.from_numpy`). The machine is shared and noisy, so the three are timed in
   interleaved chunks inside one process (`sampler_rate.py`: fastest chunk of each), in
   `--processes` fresh processes per checkout, the checkouts (`--code`, e.g. main and a branch)
   alternating; the table gives the fastest batch of each over all processes, the ratio of those,
   the range of the per-process ratios and the load averages seen.
2. Noise: the per-batch cost of the ways to make it (fresh torch or numpy gaussians per batch
   against the sampler's pre-drawn bank: a slice at a random offset + one add).
3. Staging: resident memory added by `stage_grouped` (Store.load + in-place normalisation + targets)
   against the bytes of the staged arrays.
4. Train step: windows/s of one optimizer step of the v5 and debug models on this machine's
   device, split into data time (sampler + input features) and compute time (forward, backward,
   step).
Without --store it writes a random store of --frames frames (20 videos) to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mabe_store.format import VideoData
from mabe_store.reader import open_store
from mabe_store.writer import write_store
from mabe_train.config import load_config
from mabe_train.grouped.features import build_inputs
from mabe_train.grouped.task import grouped_sampler, stage_grouped
from mabe_train.models import build_model
from mabe_train.run import pick_device
from mabe_train.split import split_videos
from mabe_train.windows import NOISE_BANK, noise_bank

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent / "configs"
LABELED = '["mouse1,mouse2,sniff", "mouse1,mouse2,mount", "mouse1,mouse2,attack"]'


def random_store(path: Path, frames: int, videos: int = 20) -> Path:
    rng = np.random.default_rng(0)
    per = frames // videos
    vids = []
    for i in range(videos):
        feats = rng.uniform(0, 600, (per, 144)).astype(np.float32)
        feats[:, 72:] = np.nan  # two of four mice untracked, as in most labs
        starts = np.flatnonzero(rng.random(per) < 0.002)  # ~2% of frames in 10-frame bouts
        bouts = [(1, 2, ("sniff", "mount", "attack")[j % 3], int(s), int(s) + 10) for j, s in enumerate(starts)]
        vids.append(VideoData(i, f"Lab{i % 4}", feats, pix_per_cm=10.0, behaviors_labeled=LABELED, annotations=bouts))
    write_store(path, vids)
    return path


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rate(fn, seconds: float = 2.0) -> float:
    """Calls per second of fn() over about `seconds` (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def bench_sampler(codes: list[Path], processes: int, frames: int, rounds: int, chunk: int) -> list[dict]:
    """`sampler_rate.py` (sampler vs bare gather, interleaved in one process) in `processes` fresh
    processes per checkout, alternating checkouts: each run's mabe_train is `code`'s."""
    runs = []
    for i in range(processes):
        for code in codes:
            env = {**os.environ, "PYTHONPATH": str(code.resolve()), "OMP_NUM_THREADS": "1"}
            out = subprocess.run([sys.executable, str(HERE / "sampler_rate.py"), "--frames", str(frames),
                                  "--rounds", str(rounds), "--chunk", str(chunk)],
                                 env=env, capture_output=True, text=True, check=True).stdout
            runs.append({"code": str(code), "process": i, **json.loads(out.splitlines()[-1])})
    return runs


def sampler_table(runs: list[dict]) -> str:
    """Per checkout: the fastest batch of each kind over all its processes, the ratios of those, and
    the range of the per-process ratios; load averages over the runs."""
    rows = [f"{'checkout':<28}{'bare us':>9}{'sampler us':>12}{'aug us':>9}{'sampler/bare':>14}"
            f"{'per process':>14}{'aug/bare':>10}{'per process':>14}{'load':>11}"]
    for code in dict.fromkeys(r["code"] for r in runs):
        rs = [r for r in runs if r["code"] == code]
        best = {k: min(r[f"{k}_us"] for r in rs) for k in ("bare", "sampler", "aug")}
        per = {k: [r[f"{k}_of_bare"] for r in rs] for k in ("sampler", "aug")}
        loads = [x for r in rs for x in (r["load_before"], r["load_after"])]
        rows.append(f"{code[-28:]:<28}{best['bare']:>9.0f}{best['sampler']:>12.0f}{best['aug']:>9.0f}"
                    f"{best['bare'] / best['sampler']:>14.2f}{min(per['sampler']):>8.2f}-{max(per['sampler']):.2f}"
                    f"{best['bare'] / best['aug']:>10.2f}{min(per['aug']):>8.2f}-{max(per['aug']):.2f}"
                    f"{min(loads):>6.1f}-{max(loads):.1f}")
    return "\n".join(rows)


def bench_noise(batch: int = 64, window: int = 100, width: int = 144) -> dict:
    """Milliseconds per batch of each way to make B x W x 144 gaussian noise and add it."""
    n, rng = batch * window * width, np.random.default_rng(0)
    x = np.zeros(n, dtype=np.float32)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    bank = noise_bank(0, max(NOISE_BANK, 2 * n), 0.01)
    build = time.perf_counter() - t0

    def from_bank():
        o = int(rng.integers(0, len(bank) - n + 1))
        np.add(x, bank[o:o + n], out=x)
    ways = {"torch_randn": lambda: torch.randn((batch, window, width), generator=gen),
            "numpy_f32_normal": lambda: rng.standard_normal(n, dtype=np.float32),
            "bank_slice_add": from_bank}
    return {**{f"noise_{k}_ms": 1000 / rate(f, 1.0) for k, f in ways.items()},
            "noise_bank_build_ms": 1000 * build, "noise_bank_values": len(bank)}


def bench_steps(name: str, store, staged, targets, device: torch.device, steps: int) -> dict:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    d, g = cfg.data, cfg.grouped
    model = build_model(cfg.model, 144, 4).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sampler = grouped_sampler(store, staged, targets, window=d.sequence_length, batch_size=d.batch_size,
                              noise_std=d.noise_std, temporal_jitter=g.temporal_jitter)
    data_s = compute_s = 0.0
    for i in range(steps + 1):  # the first step warms up and is not timed
        t0 = time.perf_counter()
        b = sampler.next_batch()
        x = build_inputs(b.x.to(device), b.fps.to(device), g.features, g.frame_gap)
        y = b.y.to(device).clamp(min=0)
        t1 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i:
            data_s, compute_s = data_s + t1 - t0, compute_s + t2 - t1
    total = data_s + compute_s
    return {"config": name, "batch": d.batch_size, "window": d.sequence_length, "steps": steps,
            "windows_s": steps * d.batch_size / total, "step_ms": 1000 * total / steps,
            "data_share": data_s / total}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=400_000)
    ap.add_argument("--v5-steps", type=int, default=5)
    ap.add_argument("--debug-steps", type=int, default=50)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--processes", type=int, default=3, help="fresh sampler processes per checkout")
    ap.add_argument("--code", type=Path, action="append", default=None,
                    help="a checkout whose mabe_train the sampler runs use (repeat to compare; default this one)")
    ap.add_argument("--rounds", type=int, default=30, help="interleaved chunks per sampler process")
    ap.add_argument("--chunk", type=int, default=40, help="batches per chunk")
    ap.add_argument("--sampler-only", action="store_true", help="only the sampler against the bare gather")
    return ap.parse_args()


def bench_store_and_steps(args: argparse.Namespace) -> dict:
    """Staging memory, noise making and train steps (parts 2-4 of the module docstring)."""
    tmp = tempfile.TemporaryDirectory()
    path = args.store or random_store(Path(tmp.name) / "store.zarr", args.frames)
    store = open_store(path)
    ids = split_videos(store, 0.2, 0)["train"] if args.store else store.videos["video_id"].tolist()
    before = rss_bytes()
    staged, targets = stage_grouped(store, ids, progress=True)
    grown = rss_bytes() - before
    device = pick_device()
    return {"device": str(device), "torch_threads": torch.get_num_threads(), "frames": int(staged.lengths.sum()),
            "staged_bytes": staged.nbytes + targets.nbytes, "features_bytes": int(staged.lengths.sum()) * 144 * 4,
            "rss_growth_bytes": grown, **bench_noise(),
            "train": [bench_steps("v5", store, staged, targets, device, args.v5_steps),
                      bench_steps("debug", store, staged, targets, device, args.debug_steps)]}


def print_store_and_steps(res: dict) -> None:
    print(f"\nframes staged {res['frames']:,}: staged arrays {res['staged_bytes'] / 2**20:.1f} MiB "
          f"(features {res['features_bytes'] / 2**20:.1f} MiB), RSS grew {res['rss_growth_bytes'] / 2**20:.1f} MiB")
    print(f"\nnoise for one batch (64 x 100 x 144): fresh torch.randn {res['noise_torch_randn_ms']:.2f} ms, "
          f"numpy float32 normals {res['noise_numpy_f32_normal_ms']:.2f} ms, bank slice + add "
          f"{res['noise_bank_slice_add_ms']:.3f} ms (bank of {res['noise_bank_values']:,} drawn once in "
          f"{res['noise_bank_build_ms']:.0f} ms)")
    print(f"\n{'train step on ' + res['device']:<20}{'batch':>6}{'win/s':>9}{'ms/step':>9}{'data':>7}")
    for t in res["train"]:
        print(f"{t['config']:<20}{t['batch']:>6}{t['windows_s']:>9,.0f}{t['step_ms']:>9,.0f}{t['data_share']:>7.0%}")


def main() -> None:
    args = parse_args()
    codes = args.code or [HERE.parent]
    runs = bench_sampler(codes, args.processes, args.frames, args.rounds, args.chunk)
    print(f"batches of 64 x 100 from {args.frames:,} frames, {args.processes} fresh processes per checkout, "
          f"fastest of {args.rounds} interleaved chunks of {args.chunk} batches in each:")
    print(sampler_table(runs))
    res = {"sampler_runs": runs}
    if not args.sampler_only:
        res.update(bench_store_and_steps(args))
        print_store_and_steps(res)
    print(json.dumps(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
