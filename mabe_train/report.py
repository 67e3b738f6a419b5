"""Behaviour reports for a person: predicted intervals -> per-video ethograms, time budgets, bouts
and BORIS events, plus one summary table across videos for statistics.

Input is a predictions CSV in the Kaggle submission format (video_id, agent_id, target_id, action,
start_frame, stop_frame; ids written `mouse1`..`mouse4`, `self` as the target of a self behaviour;
stop exclusive) and the store, which gives each video's fps, length, lab, mice and tracking. Per
(agent, target, action) the intervals are clipped to the video and to the frames where their pair
is tracked (`mabe_train.tracked`: no behaviour is reported where a mouse is not seen), then merged
where they overlap or touch (a bout split at a window edge, `[10, 40)` + `[40, 70)`, is one
60-frame bout); a bout lasts `(stop - start) / fps` seconds. Written per video into `OUT/<video_id>/`:

    ethogram.png      a tracked row per mouse, then one row per (agent, target, action), untracked
                      time of each row's pair hatched grey
    time_budget.csv   per triple: total_s, pct_of_video (of the whole video), bouts, mean_bout_s,
                      median_bout_s, latency_s, pct_of_tracked (of the pair's tracked time),
                      tracked_s, untracked_s; every requested triple has a row, zeros included
    bouts.csv         each bout: start/stop frame, start/stop/duration in seconds
    boris_events.csv  BORIS tabular events in BORIS's own layout (header block, then Time, Media
                      file path, Total length, FPS, Subject, Behavior, Behavioral category,
                      Modifier 1, Comment, Status): a START and a STOP row per bout, the agent as
                      the subject, the target as the modifier (empty for a self behaviour)

and `OUT/summary.csv` (every video's time budget, with video_id, lab_id, fps, video_s and
video_tracked_s, the seconds where any of its mice is tracked; a video without any row gets one
with empty agent, target and action, so every reported video is listed).
Tables are Polars; figures are drawn on bare `matplotlib.figure.Figure`s (no global backend).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mabe_store.constants import SELF_ACTIONS, mouse_name
from mabe_store.reader import Store, open_store
from mabe_train import MabeTrainError
from mabe_train.ethogram import plot_ethogram
from mabe_train.intervals import ID_COLUMNS, INTERVAL_COLUMNS, IntervalsError, read_intervals_csv
from mabe_train.tracked import cut_to_tracked, mouse_number, pair_tracked, store_tracked

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


def bouts(pred: pl.DataFrame, fps: float, length: int, mice: np.ndarray | None = None) -> pl.DataFrame:
    """One video's intervals clipped to [0, length) and, given the (length, N_MICE) tracked mask
    `mice`, to the frames where their pair is tracked; then merged per triple where they overlap
    or touch."""
    clipped = (pred.with_columns(pl.col("start_frame").clip(0, length), pl.col("stop_frame").clip(0, length))
               .filter(pl.col("stop_frame") > pl.col("start_frame")))
    if mice is not None:
        clipped = cut_to_tracked(clipped, mice)
    clipped = clipped.sort([*TRIPLE, "start_frame"])
    prev_stop = pl.col("stop_frame").cum_max().shift(1).over(TRIPLE)
    merged = (clipped.with_columns(new=(pl.col("start_frame") > prev_stop).fill_null(True))
              .with_columns(bout=pl.col("new").cast(pl.Int32).cum_sum().over(TRIPLE))
              .group_by([*TRIPLE, "bout"]).agg(pl.col("start_frame").min(), pl.col("stop_frame").max()))
    return (merged.sort([*TRIPLE, "start_frame"]).select(
        *TRIPLE, "start_frame", "stop_frame",
        (pl.col("start_frame") / fps).alias("start_s"), (pl.col("stop_frame") / fps).alias("stop_s"),
        ((pl.col("stop_frame") - pl.col("start_frame")) / fps).alias("duration_s")))


def tracked_frames(triples: pl.DataFrame, mice: np.ndarray | None, length: int) -> pl.Series:
    """Per (agent_id, target_id) row: frames where that pair is tracked (all `length` without a mask)."""
    if mice is None:
        return pl.Series("tracked_frames", [length] * triples.height, dtype=pl.Int64)
    counts = []
    for agent_t, target_t in triples.select("agent_id", "target_id").iter_rows():
        agent = mouse_number(agent_t)
        counts.append(int(pair_tracked(mice, agent, mouse_number(target_t, agent)).sum()))
    return pl.Series("tracked_frames", counts, dtype=pl.Int64)


def time_budget(b: pl.DataFrame, length: int, *, fps: float, mice: np.ndarray | None = None,
                requested: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per (agent, target, action): total seconds, share of the video and of the pair's tracked time,
    bouts, mean/median bout, latency, and the pair's tracked / untracked seconds.

    Rows: every triple of `requested` (zeros when it has no bout; mean, median and latency empty)
    and every triple with a bout. Denominators: `pct_of_video` is of the whole video (length
    frames); `pct_of_tracked` is of the frames where the row's pair is tracked (the agent alone
    for a self behaviour), empty when it is never tracked. Without `mice` every frame counts as
    tracked."""
    stats = b.group_by(TRIPLE).agg(
        (pl.col("stop_frame") - pl.col("start_frame")).sum().alias("_frames"),
        pl.len().cast(pl.Int64).alias("bouts"),
        pl.col("duration_s").mean().alias("mean_bout_s"),
        pl.col("duration_s").median().alias("median_bout_s"),
        pl.col("start_s").min().alias("latency_s"))
    rows = stats.select(TRIPLE)
    if requested is not None:
        rows = pl.concat([requested.select(pl.col(TRIPLE).cast(pl.Utf8)), rows]).unique()
    rows = rows.sort(TRIPLE)
    table = rows.join(stats, on=TRIPLE, how="left").with_columns(
        pl.col("_frames", "bouts").fill_null(0), tracked_frames(rows, mice, length))
    tracked = pl.col("tracked_frames")
    return table.select(
        *TRIPLE, (pl.col("_frames") / fps).alias("total_s"), (pl.col("_frames") / length * 100).alias("pct_of_video"),
        "bouts", "mean_bout_s", "median_bout_s", "latency_s",
        pl.when(tracked > 0).then(pl.col("_frames") / tracked * 100).alias("pct_of_tracked"),
        (tracked / fps).alias("tracked_s"), ((length - tracked) / fps).alias("untracked_s"))


def requested_triples(store: Store, vid: str, pred: pl.DataFrame, actions: list[str] | None) -> pl.DataFrame:
    """The triples a video's report has a row for: those it labels (its behaviors_labeled), those
    predicted, and each of `actions` for every pair of its mice (self pairs for self behaviours)."""
    t = store.labeled_triples(vid)
    rows = [(mouse_name(int(a)), "self" if a == g else mouse_name(int(g)), str(x))
            for a, g, x in zip(t["agent"], t["target"], t["action"], strict=True)]
    mice = range(1, int(store.videos["n_mice"][store.index(vid)]) + 1)
    selfish = self_actions(store)
    for action in actions or ():
        rows += ([(mouse_name(m), "self", action) for m in mice] if action in selfish else
                 [(mouse_name(a), mouse_name(g), action) for a in mice for g in mice if a != g])
    rows += pred.select(TRIPLE).rows()
    return pl.DataFrame(rows, schema=dict.fromkeys(TRIPLE, pl.Utf8), orient="row").unique().sort(TRIPLE)


def self_actions(store: Store) -> set[str]:
    """The store's self behaviours: its vocabulary's when it carries one, else MABe's."""
    vocabulary = getattr(store, "vocabulary", None)
    return set(getattr(vocabulary, "self_actions", SELF_ACTIONS))


BORIS_COLUMNS = ("Time", "Media file path", "Total length", "FPS", "Subject", "Behavior", "Behavioral category",
                 "Modifier 1", "Comment", "Status")


def boris_events(b: pl.DataFrame, video_id: str, fps: float, length: int) -> pl.DataFrame:
    """BORIS tabular events: a START and a STOP row per bout, time-ordered (STOP before START on ties).

    The columns of BORIS's own tabular export with one modifier: Subject is the agent, Modifier 1
    the target (empty for a self behaviour), Time in seconds (frame / fps), Media file path the
    video id."""
    base = b.select(
        pl.lit(str(video_id)).alias("Media file path"), pl.lit(length / fps).alias("Total length"),
        pl.lit(float(fps)).alias("FPS"), pl.col("agent_id").alias("Subject"), pl.col("action").alias("Behavior"),
        pl.when(pl.col("target_id") == "self").then(pl.lit("self")).otherwise(pl.lit("social"))
        .alias("Behavioral category"),
        pl.when(pl.col("target_id") == "self").then(pl.lit("")).otherwise(pl.col("target_id")).alias("Modifier 1"),
        pl.lit("").alias("Comment"), "start_s", "stop_s")
    start = base.with_columns(pl.lit("START").alias("Status"), pl.col("start_s").alias("Time"), pl.lit(1).alias("_o"))
    stop = base.with_columns(pl.lit("STOP").alias("Status"), pl.col("stop_s").alias("Time"), pl.lit(0).alias("_o"))
    return pl.concat([start, stop]).sort(["Time", "_o", "Subject", "Behavior"]).select(BORIS_COLUMNS)


def write_boris(events: pl.DataFrame, video_id: str, path: Path) -> Path:
    """`events` under BORIS's header block (observation id, media file, date, description, time
    offset, independent variables: 15 lines, as BORIS writes them), comma separated."""
    width = len(BORIS_COLUMNS)
    block = [["Observation id", str(video_id)], [], ["Media file(s)"], [], ["Player #1", str(video_id)], [],
             ["Observation date", ""], [], ["Description", "predicted by mabe-train"], [], ["Time offset (s)", "0.0"],
             [], ["independent variables"], ["variable", "value"], []]
    rows = [[f"{t:.4f}", media, f"{total:.3f}", repr(float(f)), *rest]
            for t, media, total, f, *rest in events.select("Time", *BORIS_COLUMNS[1:]).iter_rows()]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerows(r + [""] * (width - len(r)) for r in block)
        w.writerow(BORIS_COLUMNS)
        w.writerows(rows)
    return path


def _video_info(store: Store, vid: str) -> tuple[float, int, str, int]:
    i = store.index(vid)
    fps, length = float(store.videos["fps"][i]), int(store.videos["length"][i])
    if not (np.isfinite(fps) and fps > 0):
        raise ReportError(f"video {vid} has no frame rate in {store.path} — rebuild it with --fps at import")
    return fps, length, str(store.videos["lab_id"][i]), int(store.videos["n_mice"][i])


def _video_report(store: Store, vid: str, pred: pl.DataFrame, out: Path,
                  actions: list[str] | None) -> tuple[pl.DataFrame, list[Path]]:
    fps, length, lab, n_mice = _video_info(store, vid)
    mice = store_tracked(store, vid)
    b = bouts(pred, fps, length, mice)
    budget = time_budget(b, length, fps=fps, mice=mice, requested=requested_triples(store, vid, pred, actions))
    d = out / str(vid)
    d.mkdir(parents=True, exist_ok=True)
    files = [d / "bouts.csv", d / "time_budget.csv", d / "boris_events.csv", d / "ethogram.png"]
    _csv(b, files[0])
    _csv(budget, files[1])
    write_boris(boris_events(b, vid, fps, length), vid, files[2])
    tracked_s = mice[:, :n_mice].any(axis=1).sum() / fps
    plot_ethogram(b, budget, fps=fps, length=length, path=files[3], mice=mice, n_mice=n_mice,
                  title=f"video {vid} · lab {lab} · {length / fps:.1f} s at {fps:g} fps · "
                        f"any mouse tracked {tracked_s:.1f} s · {b.height} bouts")
    video = [pl.lit(str(vid)).alias("video_id"), pl.lit(lab).alias("lab_id"), pl.lit(fps).alias("fps"),
             pl.lit(length / fps).alias("video_s"), pl.lit(tracked_s).alias("video_tracked_s")]
    if budget.height == 0:  # still one row: the summary lists every video
        budget = pl.concat([budget, pl.DataFrame([[None] * budget.width], schema=budget.schema, orient="row")])
    return budget.select(*video, pl.all()), files


def _default_videos(pred: pl.DataFrame, store: Store) -> list[str]:
    """Every video of the store's splits that the predictions cover (a video predicted with no
    interval has no row, yet belongs in the report); every video when there are no predictions."""
    v = store.videos
    predicted = set(pred["video_id"].to_list())
    splits = {str(sp) for vid, sp in zip(v["video_id"], v["split"], strict=True) if str(vid) in predicted}
    return [str(vid) for vid, sp in zip(v["video_id"], v["split"], strict=True) if not predicted or str(sp) in splits]


def write_report(predictions: str | Path, store: str | Path, out: str | Path,
                 videos: list[str] | None = None, actions: list[str] | None = None) -> ReportResult:
    """Every video of `videos` (default: `_default_videos`) into `out`, with a row for every triple a
    video labels, every triple predicted and every one of `actions` (zeros included)."""
    pred, s, out = load_predictions(predictions), open_store(store), Path(out)
    ids = [str(v) for v in videos] if videos else _default_videos(pred, s)
    for vid in dict.fromkeys([*ids, *pred["video_id"].to_list()]):
        s.index(vid)  # every unknown video fails before anything is written
    if not ids:
        raise ReportError(f"{s.path} holds no videos to report")
    result = ReportResult(out, out / "summary.csv")
    tables = []
    for vid in ids:
        summary, files = _video_report(s, vid, pred.filter(pl.col("video_id") == vid), out, actions)
        tables.append(summary)
        result.videos[vid] = files
    _csv(pl.concat(tables, how="vertical_relaxed"), result.summary)
    return result
