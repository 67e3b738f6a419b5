"""Behaviour reports for a person: predicted intervals -> per-video ethograms, time budgets, bouts
and BORIS events, plus one summary table across videos for statistics.

Input is a predictions CSV in the Kaggle submission format (video_id, agent_id, target_id, action,
start_frame, stop_frame; ids written `mouse1`..`mouse4`, `self` as the target of a self behaviour;
stop exclusive) and the store, which gives each video's fps, length and lab. Per (agent, target,
action) the intervals are clipped to the video and merged where they overlap or touch (a bout
split at a window edge, `[10, 40)` + `[40, 70)`, is one 60-frame bout); a bout lasts
`(stop - start) / fps` seconds. Written per video into `OUT/<video_id>/`:

    ethogram.png      one row per (agent, target, action), time in seconds
    time_budget.csv   per triple: total_s, pct_of_video, bouts, mean_bout_s, median_bout_s, latency_s
    bouts.csv         each bout: start/stop frame, start/stop/duration in seconds
    boris_events.csv  BORIS tabular events: each bout a START and a STOP state event of the agent
                      (the subject), the target as the modifier

and `OUT/summary.csv` (every video's time budget, with video_id, lab_id, fps, video_s).
Tables are Polars; figures are drawn on bare `matplotlib.figure.Figure`s (no global backend).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.figure import Figure

from mabe_store.constants import SELF_ACTIONS
from mabe_store.reader import Store, open_store
from mabe_train import MabeTrainError
from mabe_train.intervals import ID_COLUMNS, INTERVAL_COLUMNS, IntervalsError, read_intervals_csv

TRIPLE = list(ID_COLUMNS[1:])  # agent_id, target_id, action


def _csv(df: pl.DataFrame, path: Path) -> None:
    """Seconds and percentages to 4 decimals (0.1 ms; frames / fps rarely ends in fewer digits)."""
    df.with_columns(pl.col(pl.Float64).round(4)).write_csv(path)


class ReportError(MabeTrainError):
    """The predictions cannot be reported; the message lists every problem."""


@dataclass
class ReportResult:
    out: Path
    summary: Path
    videos: dict[str, list[Path]] = field(default_factory=dict)  # video_id -> files written


def load_predictions(path: str | Path) -> pl.DataFrame:
    """The predictions CSV with checked columns: ids as text, frames as int64 (row_id ignored)."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"no predictions CSV at {path} — write one with `mabe-train predict --out`")
    try:
        df = read_intervals_csv(path, "predictions", strict=False)  # bad frames become nulls, listed below
    except IntervalsError as e:
        raise ReportError(str(e)) from None
    missing = [c for c in INTERVAL_COLUMNS if c not in df.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(INTERVAL_COLUMNS)})")
    df = df.select(INTERVAL_COLUMNS)
    problems = []
    bad = df.filter(pl.any_horizontal(pl.all().is_null())).height
    if bad:
        problems.append(f"{bad} rows with a missing value or a frame that is not an integer")
    backwards = df.filter(pl.col("start_frame") > pl.col("stop_frame")).height
    if backwards:
        problems.append(f"{backwards} rows with start_frame > stop_frame")
    if problems:
        raise ReportError(f"{path}: " + "; ".join(problems))
    return df


def bouts(pred: pl.DataFrame, fps: float, length: int) -> pl.DataFrame:
    """One video's intervals clipped to [0, length), merged per triple where they overlap or touch."""
    clipped = (pred.with_columns(pl.col("start_frame").clip(0, length), pl.col("stop_frame").clip(0, length))
               .filter(pl.col("stop_frame") > pl.col("start_frame")).sort([*TRIPLE, "start_frame"]))
    prev_stop = pl.col("stop_frame").cum_max().shift(1).over(TRIPLE)
    merged = (clipped.with_columns(new=(pl.col("start_frame") > prev_stop).fill_null(True))
              .with_columns(bout=pl.col("new").cast(pl.Int32).cum_sum().over(TRIPLE))
              .group_by([*TRIPLE, "bout"]).agg(pl.col("start_frame").min(), pl.col("stop_frame").max()))
    return (merged.sort([*TRIPLE, "start_frame"]).select(
        *TRIPLE, "start_frame", "stop_frame",
        (pl.col("start_frame") / fps).alias("start_s"), (pl.col("stop_frame") / fps).alias("stop_s"),
        ((pl.col("stop_frame") - pl.col("start_frame")) / fps).alias("duration_s")))


def time_budget(b: pl.DataFrame, length: int) -> pl.DataFrame:
    """Per (agent, target, action): total seconds, % of the video, bouts, mean/median bout, latency."""
    return (b.group_by(TRIPLE).agg(
        pl.col("duration_s").sum().alias("total_s"),
        ((pl.col("stop_frame") - pl.col("start_frame")).sum() / length * 100).alias("pct_of_video"),
        pl.len().cast(pl.Int64).alias("bouts"),
        pl.col("duration_s").mean().alias("mean_bout_s"),
        pl.col("duration_s").median().alias("median_bout_s"),
        pl.col("start_s").min().alias("latency_s"))
        .sort(TRIPLE))


def boris_events(b: pl.DataFrame, video_id: str, fps: float, length: int) -> pl.DataFrame:
    """BORIS tabular events: a START and a STOP row per bout, time-ordered (STOP before START on ties)."""
    base = b.select(
        pl.lit(str(video_id)).alias("Observation id"), pl.lit(length / fps).alias("Media duration (s)"),
        pl.lit(fps).alias("FPS"), pl.col("agent_id").alias("Subject"), pl.col("action").alias("Behavior"),
        pl.when(pl.col("action").is_in(list(SELF_ACTIONS))).then(pl.lit("self")).otherwise(pl.lit("social"))
        .alias("Behavioral category"),
        pl.when(pl.col("target_id") == "self").then(pl.lit("")).otherwise(pl.col("target_id")).alias("Modifiers"),
        "start_s", "stop_s", "start_frame", "stop_frame")
    start = base.with_columns(pl.lit("START").alias("Behavior type"), pl.col("start_s").alias("Time"),
                              pl.col("start_frame").alias("Image index"), pl.lit(1).alias("_order"))
    stop = base.with_columns(pl.lit("STOP").alias("Behavior type"), pl.col("stop_s").alias("Time"),
                             pl.col("stop_frame").alias("Image index"), pl.lit(0).alias("_order"))
    cols = ["Observation id", "Media duration (s)", "FPS", "Subject", "Behavior", "Behavioral category",
            "Modifiers", "Behavior type", "Time", "Image index"]
    return pl.concat([start, stop]).sort(["Time", "_order", "Subject", "Behavior"]).select(cols)


def _row_label(agent: str, target: str, action: str) -> str:
    return f"{agent} {action}" if target in ("self", agent) else f"{agent} → {target} {action}"


def plot_ethogram(b: pl.DataFrame, budget: pl.DataFrame, *, fps: float, length: int, title: str,
                  path: str | Path) -> Path:
    """One row per (agent, target, action), bars in seconds, each row's share of the video on the right."""
    rows = budget.select(*TRIPLE, "pct_of_video", "bouts").rows()
    fig = Figure(figsize=(11, 1.2 + 0.38 * max(len(rows), 1)), dpi=110)
    ax = fig.subplots()
    actions = sorted({r[2] for r in rows})
    colours = _colours(actions)
    for y, (agent, target, action, pct, n) in enumerate(rows):
        sel = b.filter((pl.col("agent_id") == agent) & (pl.col("target_id") == target) & (pl.col("action") == action))
        spans = list(zip(sel["start_s"].to_list(), sel["duration_s"].to_list(), strict=True))
        ax.broken_barh(spans, (y - 0.38, 0.76), facecolors=colours[action])
        ax.text(1.005, y, f"{pct:.1f}% · {n} bout{'s' if n != 1 else ''}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [_row_label(*r[:3]) for r in rows], fontsize=9)
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)
    ax.set_xlim(0, length / fps)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)
    if not rows:
        ax.text(0.5, 0.5, "no predicted behaviour", transform=ax.transAxes, ha="center", va="center")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return Path(path)


def _colours(actions: list[str]) -> dict:
    cmap = colormaps["tab10" if len(actions) <= 10 else "tab20"]
    return {a: cmap(i % cmap.N) for i, a in enumerate(actions)}


def _video_report(store: Store, vid: str, pred: pl.DataFrame, out: Path) -> tuple[pl.DataFrame, list[Path]]:
    i = store.index(vid)
    fps, length, lab = float(store.videos["fps"][i]), int(store.videos["length"][i]), str(store.videos["lab_id"][i])
    if not (np.isfinite(fps) and fps > 0):
        raise ReportError(f"video {vid} has no frame rate in {store.path} — rebuild it with --fps at import")
    b = bouts(pred, fps, length)
    budget = time_budget(b, length)
    d = out / str(vid)
    d.mkdir(parents=True, exist_ok=True)
    files = [d / "bouts.csv", d / "time_budget.csv", d / "boris_events.csv", d / "ethogram.png"]
    _csv(b, files[0])
    _csv(budget, files[1])
    _csv(boris_events(b, vid, fps, length), files[2])
    plot_ethogram(b, budget, fps=fps, length=length, path=files[3],
                  title=f"video {vid} · lab {lab} · {length / fps:.1f} s at {fps:g} fps · {b.height} bouts")
    summary = budget.select(pl.lit(str(vid)).alias("video_id"), pl.lit(lab).alias("lab_id"),
                            pl.lit(fps).alias("fps"), pl.lit(length / fps).alias("video_s"), pl.all())
    return summary, files


def write_report(predictions: str | Path, store: str | Path, out: str | Path,
                 videos: list[str] | None = None) -> ReportResult:
    """Every video of `predictions` (or the given ones, even with no prediction) into `out`."""
    pred, s, out = load_predictions(predictions), open_store(store), Path(out)
    ids = videos or list(dict.fromkeys(pred["video_id"].to_list()))
    if not ids:
        raise ReportError(f"{predictions} holds no predictions and no --videos were given")
    for vid in ids:
        s.index(vid)  # every unknown video fails before anything is written
    result = ReportResult(out, out / "summary.csv")
    tables = []
    for vid in ids:
        summary, files = _video_report(s, str(vid), pred.filter(pl.col("video_id") == str(vid)), out)
        tables.append(summary)
        result.videos[str(vid)] = files
    _csv(pl.concat(tables), result.summary)
    return result
