"""Benchmark (not a test): the vectorised metric against a frame-set reference on one big lab.

A lab of 20 videos x 50k frames, 2-4 mice, every ordered pair and self pair labeled for a few
actions, bouts of about 30 frames (the real median is 28), and a submission that is the truth
shrunk by 0-3 frames at each end. Prints both timings, the ratio and the two scores.

    .venv/bin/python bench/bench_metric.py [--videos 20] [--frames 50000] [--official PATH]
                                           [--case dense|real|real-shifted] [--repeat N]

--official takes a file with the competition's own metric code (`score(solution, submission,
row_id_column_name)`); without it the reference is tests/oracle/mabe_official_metric.py.
--case real scores the no-learning baseline against the real annotations (19 labs, 84k intervals;
--real is the same), real-shifted the truth shifted by 5 frames (84k intervals each side: the size
of a tuning candidate). Both scorers are first warmed up on a one-row case, so the figures are the
cost per call that tuning sees, not imports or Polars' first-call set-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mabe_train.metric import score  # noqa: E402
from tests.oracle.real import real_baseline, real_solution  # noqa: E402

SELF, PAIR = ("rear", "selfgroom"), ("sniff", "attack", "approach")


def _bouts(rng, frames: int, actions) -> list[tuple[str, int, int]]:
    """Consecutive bouts of one action at a time, separated by gaps: no pair ever clashes."""
    n = frames // 60
    lengths, gaps = rng.geometric(1 / 30, n), rng.geometric(1 / 30, n)
    starts = np.cumsum(gaps + np.concatenate([[0], lengths[:-1]]))
    keep = starts + lengths < frames
    acts = rng.choice(actions, n)
    return [(str(a), int(s), int(s + ln)) for a, s, ln in zip(acts[keep], starts[keep], lengths[keep], strict=True)]


def make_lab(n_videos: int, frames: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    sol, sub = [], []
    for vid in range(n_videos):
        mice = [f"mouse{m}" for m in range(1, int(rng.integers(2, 5)) + 1)]
        pairs = [(a, "self", SELF) for a in mice] + [(a, t, PAIR) for a in mice for t in mice if a != t]
        labeled = json.dumps([f"{a},{t},{x}" for a, t, acts in pairs for x in acts])
        for a, t, acts in pairs:
            for act, s, e in _bouts(rng, frames, acts):
                sol.append((vid, a, t, act, s, e, "BenchLab", labeled))
                js, je = rng.integers(0, 4, 2)  # shrink only: jittered bouts never touch
                ps = min(s + int(js), e - 1)
                sub.append((vid, a, t, act, ps, max(e - int(je), ps + 1)))
    s = pl.DataFrame(sol, orient="row", schema=["video_id", "agent_id", "target_id", "action", "start_frame",
                                                 "stop_frame", "lab_id", "behaviors_labeled"])
    p = pl.DataFrame(sub, orient="row", schema=["video_id", "agent_id", "target_id", "action", "start_frame",
                                                 "stop_frame"]).with_row_index("row_id")
    return s, p


def _reference(path: str | None):
    if path is None:
        # the oracle needs pandas (not a dependency of mabe): loaded only without --reference
        from tests.oracle.mabe_official_metric import official_score
        return "frame-set restatement", official_score
    spec = importlib.util.spec_from_file_location("official_metric", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return "official code", lambda s, p: mod.score(s, p, "row_id")


def _case(which: str, videos: int, frames: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    if which == "dense":
        s, p = make_lab(videos, frames)
        print(f"lab: {videos} videos x {frames} frames, {s.height} truth rows, {p.height} submission rows")
        return s, p
    s = real_solution()
    if which == "real":
        p = real_baseline()
    else:  # the truth shifted by 5 frames: a tuning candidate as large as the truth
        p = s.select("video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame").with_columns(
            pl.col("start_frame", "stop_frame") + 5)
    print(f"real annotations: {s['lab_id'].n_unique()} labs, {s.height} truth rows, {p.height} {which} rows")
    return s, p


def _timed(fn, repeat: int) -> tuple[float, float, float]:
    """(min wall seconds, min CPU seconds of this process over `repeat` calls, the result). CPU
    time is the steadier figure on a machine shared with other jobs."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--frames", type=int, default=50_000)
    ap.add_argument("--official", default=None, help="file with the competition's metric code")
    ap.add_argument("--case", choices=["dense", "real", "real-shifted"], default="dense",
                    help="real / real-shifted need ../shared/mabe-real")
    ap.add_argument("--real", action="store_true", help="same as --case real")
    ap.add_argument("--repeat", type=int, default=1, help="calls of each; the minimum is reported")
    args = ap.parse_args()
    s, p = _case("real" if args.real else args.case, args.videos, args.frames)
    name, ref = _reference(args.official)
    s_pd, p_pd = s.to_pandas(), p.to_pandas()
    tiny_s = s.head(1)
    tiny_p = tiny_s.select("video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame")
    score(tiny_s, tiny_p), ref(tiny_s.to_pandas(), tiny_p.to_pandas())  # warm both up (imports, polars' pools)
    w_ours, c_ours, ours = _timed(lambda: score(s, p), args.repeat)
    w_ref, c_ref, theirs = _timed(lambda: ref(s_pd, p_pd), args.repeat)
    print(f"vectorised  {w_ours:8.3f} s wall {c_ours:8.3f} s CPU  score {ours!r}")
    print(f"{name:<22}{w_ref:8.3f} s wall {c_ref:8.3f} s CPU  score {theirs!r}")
    print(f"speed-up x{w_ref / w_ours:.1f} wall, x{c_ref / c_ours:.1f} CPU, |diff| {abs(ours - theirs):.2e}")

if __name__ == "__main__":
    main()
