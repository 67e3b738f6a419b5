"""What a finished cv run tells a lab: its out-of-fold intervals and a per-behaviour table.

Every validated video's probabilities come from the fold model that never trained on it; decoded
with the thresholds tuned on all of them, they are the honest estimate of what the model would
label on a new video of the same lab. Written into the run directory:
  oof_predictions.csv   the decoded OOF intervals in the submission columns (video_id, agent_id,
                        target_id, action, start_frame, stop_frame; stop exclusive; video_id as stored)
  per_behaviour.csv     one row per (lab, behaviour of the store's vocabulary)
  per_behaviour.png     its F1 as a bar chart

F1 here is the competition metric's per-action F1 (mabe_train.metric): frames pooled over every
validated video and ordered (agent, target) pair of the lab, decoded intervals against the
annotation, counting only triples a video labels. It is not a per-frame classifier score before
decoding: smoothing, thresholds and the minimum bout are part of what is measured. An undirected
(dyad) behaviour is stored on both ordered pairs, so its frames count twice, in both the labelled
frames and the predictions; precision, recall and F1 are unchanged by that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from mabe_train.intervals import INTERVAL_COLUMNS

OOF_PREDICTIONS_FILE = "oof_predictions.csv"
PER_BEHAVIOUR_FILE = "per_behaviour.csv"
PER_BEHAVIOUR_PLOT = "per_behaviour.png"
HEADER = ("# f1, precision, recall: the competition metric's per-action scores of the decoded out-of-fold "
          "intervals, frames pooled per lab over videos and ordered pairs; labelled_frames: annotated "
          "pair-frames (a dyad behaviour counts on both ordered pairs)\n")
TABLE_COLUMNS = ("lab_id", "behaviour", "f1", "precision", "recall", "labelled_frames", "predicted_frames",
                 "tp", "fp", "fn")


def write_oof_predictions(run_dir: Path, intervals: pl.DataFrame) -> Path:
    path = Path(run_dir) / OOF_PREDICTIONS_FILE
    intervals.select(INTERVAL_COLUMNS).write_csv(path)
    return path


def per_behaviour_table(per_action: pl.DataFrame, behaviours: dict[str, list[str]]) -> pl.DataFrame:
    """TABLE_COLUMNS for every (lab, behaviour) in `behaviours` ({lab: the behaviours its videos
    label}, `labeled_behaviours`); zeros where the metric has no row (labelled, never shown)."""
    grid = pl.DataFrame({"lab_id": [lab for lab, names in behaviours.items() for _ in names],
                         "behaviour": [a for names in behaviours.values() for a in names]},
                        schema={"lab_id": pl.Utf8, "behaviour": pl.Utf8})
    counts = (per_action.select("lab_id", pl.col("action").alias("behaviour"), "tp", "fp", "fn")
              if per_action.height else pl.DataFrame(schema={"lab_id": pl.Utf8, "behaviour": pl.Utf8,
                                                              "tp": pl.Int64, "fp": pl.Int64, "fn": pl.Int64}))
    t = grid.join(counts, on=["lab_id", "behaviour"], how="left").fill_null(0)
    tp, fp, fn = pl.col("tp").cast(pl.Float64), pl.col("fp").cast(pl.Float64), pl.col("fn").cast(pl.Float64)
    return t.with_columns(
        pl.when(tp + fp > 0).then(tp / (tp + fp)).otherwise(0.0).alias("precision"),
        pl.when(tp + fn > 0).then(tp / (tp + fn)).otherwise(0.0).alias("recall"),
        pl.when(2 * tp + fp + fn > 0).then(2 * tp / (2 * tp + fp + fn)).otherwise(0.0).alias("f1"),
        (pl.col("tp") + pl.col("fn")).alias("labelled_frames"),
        (pl.col("tp") + pl.col("fp")).alias("predicted_frames"),
    ).select(TABLE_COLUMNS)


def labeled_behaviours(videos) -> dict[str, list[str]]:
    """{lab: the behaviours any of its videos labels, in vocabulary order} of VideoProbs: a lab's own
    store lists its whole vocabulary, a MABe lab the actions it annotates (not all 37)."""
    out: dict[str, set[int]] = {}
    for v in videos:
        out.setdefault(v.lab_id, set()).update(np.flatnonzero(v.labeled.any(axis=0)).tolist())
    names = videos[0].vocab.actions if videos else ()
    return {lab: [names[i] for i in sorted(cols)] for lab, cols in sorted(out.items())}


def write_per_behaviour(run_dir: Path, table: pl.DataFrame, title: str) -> tuple[Path, Path]:
    """per_behaviour.csv (with its one-line `#` header saying what F1 is) and per_behaviour.png."""
    path = Path(run_dir) / PER_BEHAVIOUR_FILE
    path.write_text(HEADER + table.with_columns(pl.col("f1", "precision", "recall").round(4)).write_csv())
    return path, plot_per_behaviour(table, Path(run_dir) / PER_BEHAVIOUR_PLOT, title)


def read_per_behaviour(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, comment_prefix="#")


def plot_per_behaviour(table: pl.DataFrame, path: Path, title: str) -> Path:
    """Horizontal bars of F1 per behaviour (one panel row per lab's behaviours), each labelled with
    its F1 and labelled frames, sorted so the best-learned behaviour is on top."""
    from matplotlib.figure import Figure  # heavy: matplotlib; keeps mabe-train --help fast

    rows = table.sort(["lab_id", "f1"], descending=[False, False])
    names = [f"{b}" if rows["lab_id"].n_unique() == 1 else f"{lab} · {b}"
             for lab, b in zip(rows["lab_id"], rows["behaviour"], strict=True)]
    fig = Figure(figsize=(7.5, 0.42 * len(names) + 1.4), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(range(len(names)), rows["f1"].to_list(), color="#3b75af")
    ax.set_yticks(range(len(names)), names)
    for y, (f, n) in enumerate(zip(rows["f1"], rows["labelled_frames"], strict=True)):
        text = f"{f:.2f}  ({n:,} labelled frames)" if n else "no labelled frames"
        ax.text(min(f, 1.0) + 0.01, y, text, va="center", fontsize=8, color="black" if n else "grey")
    ax.set_xlim(0, 1.3)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("F1 (competition metric per behaviour, out-of-fold)")
    ax.set_title(title, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    return path
