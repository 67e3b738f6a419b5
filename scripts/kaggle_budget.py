"""Will `mabe-train kaggle submit` finish inside Kaggle's 9 hours? Prediction throughput measured here,
extrapolated to the hidden test set (~200 videos) from the real train.csv's durations and fps.

Measures, on one store and run: the test-only store build (frames/s) and the model's
`predict_probs` + decode (frames/s and pair-frames/s: a model call covers every labeled ordered
pair of a video, so cost grows with pairs x frames). Then sizes the hidden test set like the
annotated train videos: frames = video_duration_sec x frames_per_second, pairs = distinct (agent,
target) in the clean behaviors_labeled, mean per video x 200.

    python scripts/kaggle_budget.py --run RUN --store STORE --raw RAW [--videos 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mabe_store.behaviors import clean_triples  # noqa: E402
from mabe_store.build import build_store  # noqa: E402
from mabe_train.decode import decode  # noqa: E402
from mabe_train.run import load_run  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "mabe-real"
HIDDEN_VIDEOS, LIMIT_S = 200, 9 * 3600


def real_video_sizes(root: Path) -> tuple[float, float, int]:
    """(mean frames, mean labeled-pair-frames per annotated video, videos) from the real train.csv."""
    rows = pl.read_csv(root / "train.csv", infer_schema=False).to_dicts()
    frames, pair_frames, n = 0.0, 0.0, 0
    for r in rows:
        pairs = {(t.agent, t.target) for t in clean_triples(r["behaviors_labeled"])}
        if not pairs:
            continue
        t = float(r["video_duration_sec"]) * float(r["frames_per_second"])
        frames, pair_frames, n = frames + t, pair_frames + t * len(pairs), n + 1
    return frames / n, pair_frames / n, n


def measure_build(raw: Path) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="budget-"))
    try:
        t0 = time.perf_counter()
        rep = build_store(raw, tmp / "s.zarr", splits=("train",), progress=False, log=lambda _: None)
        return rep.frames / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure_predict(run_dir: Path, store: Path, n_videos: int, threads: int) -> dict:
    run = load_run(run_dir, data_dir=store, device="cpu", progress=False)
    torch.set_num_threads(threads)
    v = run.store.videos
    ids = [int(x) for x, n in zip(v["video_id"], v["labeled_actions"].sum(1), strict=True) if n > 0][:n_videos]
    run.predict_probs(ids[:1])  # warm-up
    t0 = time.perf_counter()
    probs = run.predict_probs(ids)
    t1 = time.perf_counter()
    decode(probs, run.cfg.pairs.decode, run.thresholds)
    t2 = time.perf_counter()
    frames = sum(p.probs.shape[1] for p in probs)
    pair_frames = sum(p.probs.shape[0] * p.probs.shape[1] for p in probs)
    params = sum(p.numel() for p in run.model.parameters())
    return {"run": run_dir.name, "params": params, "videos": len(ids), "frames": frames, "pair_frames": pair_frames,
            "predict_s": t1 - t0, "decode_s": t2 - t1, "frames_per_s": frames / (t2 - t0),
            "pair_frames_per_s": pair_frames / (t2 - t0), "threads": threads}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--raw", type=Path)
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    out = {"load_1min": os.getloadavg()[0], **measure_predict(a.run, a.store, a.videos, a.threads)}
    if a.raw:
        out["build_frames_per_s"] = measure_build(a.raw)
    if (REAL / "train.csv").exists():
        frames, pair_frames, n = real_video_sizes(REAL)
        model_s = HIDDEN_VIDEOS * pair_frames / out["pair_frames_per_s"]
        build_s = HIDDEN_VIDEOS * frames / out["build_frames_per_s"] if a.raw else 0.0
        out.update(real_videos=n, mean_frames=round(frames), mean_pair_frames=round(pair_frames),
                   hidden_frames=round(HIDDEN_VIDEOS * frames), model_h=model_s / 3600, build_h=build_s / 3600,
                   margin_h=(LIMIT_S - model_s - build_s) / 3600)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
