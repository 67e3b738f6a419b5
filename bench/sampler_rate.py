"""Benchmark (not a test): the window sampler against a bare numpy gather, in one fresh process.

    python bench/sampler_rate.py [--frames 400000] [--rounds 30] [--chunk 40]    # prints one JSON line

What it times, per batch of 64 windows x 100 frames of (frames, 144) float32 features in RAM
(20 videos, half the columns NaN as in most labs, int16 targets; one torch thread):
  bare     the limit: `feats[starts[:, None] + arange(100)]` + `torch.from_numpy`, uniform starts
           drawn with numpy (the same kind of windows the sampler draws)
  sampler  `WindowSampler.next_batch()` with uniform starts (what `grouped_sampler` builds)
  aug      the same with V5's augmentation (noise 0.01 from the bank + temporal jitter 2)
The three are timed in interleaved chunks of `chunk` batches, `rounds` times, and each keeps its
fastest chunk: on a shared machine the load changes between seconds, so the three see the same
load and the minimum is the least disturbed figure. `bench_train.py` runs this file in several
fresh processes, alternating checkouts (`--code`), so a before/after pair is measured in one run.
It imports only `mabe_train.windows` (names that exist since the one-sampler redesign), so the
`mabe_train` found on PYTHONPATH decides which sampler is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from mabe_train.windows import UniformStarts, Units, WindowSampler, window_span


def blocks(frames: int, videos: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Units]:
    """(features (n, 144) float32, targets (n,) int16, one unit per video) of random values."""
    rng = np.random.default_rng(seed)
    per = frames // videos
    feats = rng.uniform(0, 600, (per * videos, 144)).astype(np.float32)
    feats[:, 72:] = np.nan  # two of four mice untracked
    targets = rng.integers(-1, 4, per * videos).astype(np.int16)
    return feats, targets, Units.videos(np.arange(videos) * per, np.full(videos, per))


def batch_makers(frames: int, batch: int, window: int) -> dict:
    """name -> a function making one batch."""
    feats, targets, units = blocks(frames)
    starts, lengths = units.feature_start, units.length
    rng, offsets = np.random.default_rng(1), np.arange(window)

    def bare():
        j = rng.integers(0, len(lengths), batch)
        s = starts[j] + (rng.random(batch) * (lengths[j] - window + 1)).astype(np.int64)
        return torch.from_numpy(feats[s[:, None] + offsets])

    def sampler(**aug):
        return WindowSampler(feats, targets, units, UniformStarts(units.length, window_span(window, 1)),
                             fps=np.full(len(lengths), 30.0, dtype=np.float32), window=window,
                             batch_size=batch, **aug).next_batch
    return {"bare": bare, "sampler": sampler(), "aug": sampler(noise_std=0.01, temporal_jitter=2)}


def interleaved_min_us(makers: dict, rounds: int, chunk: int) -> dict:
    """Fastest chunk's microseconds per batch of each maker, the makers taking turns."""
    for make in makers.values():
        make()  # warm-up (the noise bank is drawn on first use)
    best = dict.fromkeys(makers, float("inf"))
    for _ in range(rounds):
        for name, make in makers.items():
            t0 = time.perf_counter()
            for _ in range(chunk):
                make()
            best[name] = min(best[name], (time.perf_counter() - t0) / chunk * 1e6)
    return best


def measure(frames: int = 400_000, batch: int = 64, window: int = 100, rounds: int = 30, chunk: int = 40) -> dict:
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    us = interleaved_min_us(batch_makers(frames, batch, window), rounds, chunk)
    return {"frames": frames, "batch": batch, "window": window, "load_before": load,
            "load_after": os.getloadavg()[0], **{f"{k}_us": v for k, v in us.items()},
            "sampler_of_bare": us["bare"] / us["sampler"], "aug_of_bare": us["bare"] / us["aug"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400_000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--chunk", type=int, default=40)
    args = ap.parse_args()
    print(json.dumps(measure(args.frames, rounds=args.rounds, chunk=args.chunk)))


if __name__ == "__main__":
    main()
