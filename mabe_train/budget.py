"""Will a bundled run finish inside Kaggle's 9 hours? Its prediction cost measured here, scaled to
the hidden test set.

The cost of `mabe-train kaggle submit` per video is the model's `predict_probs` + decode, and a
model call covers every labeled ordered pair of a video, so it grows with pairs x frames. We time
one run on a few labeled videos of a store (after one warm-up video) and scale its seconds per
pair-frame to `HIDDEN_VIDEOS` videos of the real training set's mean size: 25,107 frames and 53,103
labeled pair-frames per annotated video (the 847 annotated videos of the real train.csv,
`video_duration_sec x frames_per_second` x distinct labeled (agent, target) pairs; recomputed from
`--real` when that folder is given). Works for every run kind `load_run` loads (torch, GBDT, cv,
ensemble): only `predict_probs`, `thresholds` and the decode settings are used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from mabe_store.behaviors import clean_triples
from mabe_train import MabeTrainError
from mabe_train.decode import decode

HIDDEN_VIDEOS = 200
LIMIT_S = 9 * 3600
REAL_MEAN_FRAMES, REAL_MEAN_PAIR_FRAMES = 25_107, 53_103  # per annotated video of the real train.csv


@dataclass
class Estimate:
    run: str
    device: str
    threads: int
    videos: int  # timed (after the warm-up)
    pair_frames: int
    seconds: float  # predict + decode of the timed videos
    hidden_pair_frames: float

    @property
    def hidden_s(self) -> float:
        return self.hidden_pair_frames * self.seconds / max(self.pair_frames, 1)

    def line(self) -> str:
        return (f"run {self.run}: ~{self.hidden_s / 3600:.2f} h of model time for {HIDDEN_VIDEOS} hidden-size "
                f"videos on {self.device} ({self.threads} thread(s); {self.pair_frames / max(self.seconds, 1e-9):,.0f} "
                f"pair-frames/s measured on {self.videos} video(s); Kaggle's limit is {LIMIT_S // 3600} h)")


def real_video_sizes(root: Path) -> tuple[float, float, int]:
    """(mean frames, mean labeled pair-frames per annotated video, videos) of a real train.csv."""
    frames, pair_frames, n = 0.0, 0.0, 0
    for r in pl.read_csv(root / "train.csv", infer_schema=False).iter_rows(named=True):
        pairs = {(t.agent, t.target) for t in clean_triples(r["behaviors_labeled"])}
        if pairs:
            t = float(r["video_duration_sec"]) * float(r["frames_per_second"])
            frames, pair_frames, n = frames + t, pair_frames + t * len(pairs), n + 1
    return frames / n, pair_frames / n, n


def set_threads(run, threads: int) -> None:
    """CPU threads for torch and for every GBDT model inside `run` (a GBDT run's model, an
    averaged cv model's folds, an ensemble's members, recursively)."""
    if threads > 0:
        torch.set_num_threads(threads)
    todo = [run] if run is not None else []
    while todo:
        x = todo.pop()
        if hasattr(x, "num_threads"):
            x.num_threads = threads
        todo += [m for m in (getattr(x, "model", None), *(getattr(x, "members", None) or [])) if m is not None]


def measure(run, name: str, *, videos: int = 3, threads: int = 1,
            hidden_pair_frames: float = HIDDEN_VIDEOS * REAL_MEAN_PAIR_FRAMES) -> Estimate:
    """Time `run` (a loaded run) on up to `videos` labeled videos of its store; see the module doc.
    torch's thread count is restored afterwards (the caller's process goes on)."""
    before = torch.get_num_threads()
    set_threads(run, threads)
    try:
        return _measure(run, name, videos, threads, hidden_pair_frames)
    finally:
        torch.set_num_threads(before)


def _measure(run, name: str, videos: int, threads: int, hidden_pair_frames: float) -> Estimate:
    v = run.store.videos
    ids = [int(x) for x, n in zip(v["video_id"], v["labeled_actions"].sum(1), strict=True) if n > 0][:videos + 1]
    if not ids:
        raise MabeTrainError(f"the store {run.store.path} has no labeled video to time run {name} on")
    cfg = getattr(run, "decode_config", None) or run.cfg.pairs.decode
    run.predict_probs(ids[:1])  # warm-up: lazy imports, caches, first allocations
    timed = ids[1:] or ids[:1]
    t0 = time.perf_counter()
    probs = run.predict_probs(timed)
    decode(probs, cfg, run.thresholds)
    seconds = time.perf_counter() - t0
    pair_frames = sum(p.probs.shape[0] * p.probs.shape[1] for p in probs)
    return Estimate(name, str(getattr(run, "device", "cpu")), threads, len(timed), pair_frames, seconds,
                    hidden_pair_frames)
