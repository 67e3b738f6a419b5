"""Will `mabe-train kaggle submit` finish inside Kaggle's 9 hours? Each run's prediction time measured
here (mabe_train.budget: predict_probs + decode per labeled pair-frame, any run kind: torch, GBDT,
cv, ensemble), scaled to the hidden test set (~200 videos); optionally the test-only store build too.

The hidden videos are sized like the real annotated training videos: from --real's train.csv when
given (default ../shared/mabe-real when it exists), else from the figures measured on it once
(REAL_MEAN_FRAMES and REAL_MEAN_PAIR_FRAMES in mabe_train.budget), so no real data is needed.

    python scripts/kaggle_budget.py --run RUN [--run RUN2 ...] --store STORE [--raw RAW]
                                    [--videos 3] [--threads 4] [--device cpu] [--real DIR]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mabe_store.build import build_store  # noqa: E402
from mabe_train import budget  # noqa: E402
from mabe_train.runs.files import CV_DIR  # noqa: E402
from mabe_train.runs.registry import (  # noqa: E402
    ENSEMBLE,
    load_run,
    run_kind,
)

REAL = Path(__file__).resolve().parents[2] / "shared" / "mabe-real"


def measure_build(raw: Path) -> float:
    """Frames per second of a store build of RAW's train videos (the notebook builds test videos alike)."""
    tmp = Path(tempfile.mkdtemp(prefix="budget-"))
    try:
        t0 = time.perf_counter()
        rep = build_store(raw, tmp / "s.zarr", splits=("train",), progress=False, log=lambda _: None)
        return rep.frames / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sizes(real: Path | None) -> dict:
    if real is not None and (real / "train.csv").exists():
        frames, pair_frames, n = budget.real_video_sizes(real)
        return {"sizes_from": f"{real / 'train.csv'} ({n} annotated videos)", "mean_frames": frames,
                "mean_pair_frames": pair_frames}
    return {"sizes_from": "mabe_train.budget (measured on the real train.csv)", "mean_frames": budget.REAL_MEAN_FRAMES,
            "mean_pair_frames": budget.REAL_MEAN_PAIR_FRAMES}


def kind(run_dir: Path) -> str:
    k = run_kind(run_dir).name
    return f"{k} (cv)" if (run_dir / CV_DIR).is_dir() and k != ENSEMBLE else k


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, action="append", required=True)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--raw", type=Path, help="also time a store build of this raw folder")
    p.add_argument("--videos", type=int, default=3, help="labeled videos timed per run (after one warm-up)")
    p.add_argument("--threads", type=int, default=4, help="CPU threads (a Kaggle CPU notebook has 4)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--real", type=Path, default=REAL if REAL.exists() else None)
    a = p.parse_args(argv)
    out = {"load_1min": os.getloadavg()[0], "hidden_videos": budget.HIDDEN_VIDEOS, **sizes(a.real), "runs": []}
    hidden = budget.HIDDEN_VIDEOS * out["mean_pair_frames"]
    for run_dir in a.run:
        run = load_run(run_dir, data_dir=a.store, device=a.device, progress=False)
        e = budget.measure(run, run_dir.name, videos=a.videos, threads=a.threads, hidden_pair_frames=hidden)
        out["runs"].append({"run": e.run, "kind": kind(run_dir), "device": e.device, "threads": e.threads,
                            "videos": e.videos, "pair_frames": e.pair_frames, "seconds": e.seconds,
                            "pair_frames_per_s": e.pair_frames / max(e.seconds, 1e-9), "model_h": e.hidden_s / 3600})
    model_s = sum(r["model_h"] for r in out["runs"]) * 3600
    build_s = 0.0
    if a.raw:
        out["build_frames_per_s"] = measure_build(a.raw)
        build_s = budget.HIDDEN_VIDEOS * out["mean_frames"] / out["build_frames_per_s"]
        out["build_h"] = build_s / 3600
    out["margin_h"] = (budget.LIMIT_S - model_s - build_s) / 3600
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
