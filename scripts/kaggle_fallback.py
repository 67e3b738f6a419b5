"""Which fallback scores better for one test video the model cannot predict: no rows, or the
no-learning rows of its labeled triples? (mabe_train.submit's `--fallback`, default `none`.)

For each video v of a validation set: the official score of a submission where v's rows are
removed (`none`) and where they are replaced by the no-learning baseline rows of v (`baseline`),
the other videos keeping their predictions. Two sources of predictions:
  --real      the real annotations (../shared/mabe-real) with stand-in predictions: the truth
              shifted by 5 frames (a strong model, 0.886) and the truth with every other
              interval dropped and the rest shifted by 15 frames (a weaker one); a seeded sample of videos;
  --run/--store  a trained pairs run's own validation predictions (mabe-train predict --split val).

    python scripts/kaggle_fallback.py --real [--sample 120]
    python scripts/kaggle_fallback.py --run runs/pairs-demo --store data/store.zarr
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mabe_train.decode import decode  # noqa: E402
from mabe_train.metric import score  # noqa: E402
from mabe_train.predict import split_video_ids  # noqa: E402
from mabe_train.runs.registry import load_run  # noqa: E402
from mabe_train.submission import no_learning_baseline, solution_from_store  # noqa: E402
from tests.oracle.real import real_baseline, real_solution  # noqa: E402

COLS = ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]


def compare(solution: pl.DataFrame, pred: pl.DataFrame, base: pl.DataFrame, videos: list) -> dict:
    """Mean score with each video in turn falling back to none vs baseline rows."""
    pred, base = pred.select(COLS).cast({"video_id": pl.Utf8}), base.select(COLS).cast({"video_id": pl.Utf8})
    none, basel, wins = [], [], 0
    for v in videos:
        v = str(v)
        rest = pred.filter(pl.col("video_id") != v)
        a = score(solution, rest) if rest.height else 0.0
        b = score(solution, pl.concat([rest, base.filter(pl.col("video_id") == v)]))
        none.append(a)
        basel.append(b)
        wins += a >= b
    n = len(videos)
    return {"videos": n, "all predicted": score(solution, pred), "mean none": sum(none) / n,
            "mean baseline": sum(basel) / n, "none >= baseline": f"{wins}/{n}"}


def real(sample: int) -> None:
    sol, base = real_solution(), real_baseline()
    shifted = sol.select(COLS).with_columns(pl.col("start_frame") + 5, pl.col("stop_frame") + 5)
    weak = (sol.select(COLS).with_row_index("i").filter(pl.col("i") % 2 == 0).drop("i")
            .with_columns(pl.col("start_frame") + 15, pl.col("stop_frame") + 15))
    videos = sorted(set(sol["video_id"].to_list()))
    videos = random.Random(0).sample(videos, min(sample, len(videos)))
    for name, pred in (("truth shifted 5 frames", shifted), ("half the truth, shifted 15 frames", weak)):
        print(f"real annotations, {name}: {compare(sol, pred, base, videos)}")
    print(f"real annotations, every video falls back: baseline {score(sol, base)} (none: an empty file, rejected)")


def run(run_dir: Path, store_path: Path) -> None:
    r = load_run(run_dir, data_dir=store_path, progress=False)
    ids = split_video_ids(r.store, "val", run_dir)
    pred = decode(r.predict_probs(ids), r.cfg.pairs.decode, r.thresholds)
    sol = solution_from_store(r.store, ids)
    print(f"run {run_dir.name} validation: {compare(sol, pred, no_learning_baseline(r.store, ids), ids)}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--real", action="store_true")
    p.add_argument("--sample", type=int, default=120)
    p.add_argument("--run", type=Path)
    p.add_argument("--store", type=Path)
    a = p.parse_args()
    if a.real:
        real(a.sample)
    if a.run:
        run(a.run, a.store)
