"""The official MABe 2025 metric, vectorised over intervals.

The competition scores a submission per lab: frames are pooled per action over every video and
(agent, target) pair of the lab, each action gets an F-beta, the lab gets the mean F over its
actions and the final score is the plain mean over labs. The official implementation expands
every interval into a Python `set` of frames, which costs seconds per million frames. Here every
interval becomes two events (+1 at start, -1 at stop), one sort and one cumulative sum give, for
each (lab, video, agent, target, action) key, the stretches where the prediction and the ground
truth are active; TP/FP/FN are sums of stretch lengths. Memory and time are O(intervals log
intervals) and independent of video length (a 20-video lab of 50k-frame videos scores in well
under a second, against about a minute for the set version; see bench/bench_metric.py).

The rules, as implemented (numbers refer to the README's "The official metric"):
- empty input, a missing column, a null, start > stop: MetricError (1);
- ids are compared as text; submission rows for videos not in the solution are dropped (1);
- a submission row counts only if "agent,target,action" is verbatim an entry of the video's
  behaviors_labeled, read from the video's first solution row (2);
- frames repeated for the same (video, agent, target, action) are counted once (2);
- one (agent, target) pair predicted with two actions on one frame: MetricError; zero-length
  rows and touching intervals never trigger it (2);
- a lab's actions = actions with a ground-truth row in the lab (zero-length included) + actions
  of any counted submission row (zero-length included); F = 0 where TP + FP + FN = 0 (3).
The trade-off: the whitelist is parsed once per video in Python (V is small) while frames never
leave numpy/Polars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

SOLUTION_COLUMNS = ("video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame",
                    "lab_id", "behaviors_labeled")
SUBMISSION_COLUMNS = ("video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame")
_TEXT = ("video_id", "agent_id", "target_id", "action")
_KEY = ("lab_id", "video_id", "agent_id", "target_id", "action")
OVERLAP_MESSAGE = "Multiple predictions for the same frame from one agent/target pair"


class MetricError(ValueError):
    """The solution or submission cannot be scored; the message says what is wrong and where."""


@dataclass(frozen=True)
class ScoreDetails:
    """The final score and its breakdown.

    per_lab: lab_id, n_actions, score. per_action: lab_id, action, tp, fp, fn, f (one row per
    action that counts for the lab).
    """

    score: float
    per_lab: pl.DataFrame
    per_action: pl.DataFrame


# -- validation -------------------------------------------------------------------------------
def _check_frame(df: pl.DataFrame, name: str, required: tuple[str, ...]) -> list[str]:
    missing = [c for c in required if c not in df.columns]
    if missing:
        return [f"{name} is missing column {c}" for c in missing]
    problems = []
    nulls = [c for c in required if df[c].null_count()]
    if nulls:
        problems.append(f"{name} has null values in {', '.join(nulls)}")
    for c in ("start_frame", "stop_frame"):
        if not df.schema[c].is_integer():
            problems.append(f"{name} column {c} must hold integers, not {df.schema[c]}")
    if not problems:
        bad = df.filter(pl.col("start_frame") > pl.col("stop_frame"))
        if bad.height:
            first = bad.row(0, named=True)
            problems.append(f"{name} has {bad.height} rows with start_frame > stop_frame "
                            f"(first: video {first['video_id']}, {first['agent_id']},"
                            f"{first['target_id']},{first['action']} "
                            f"{first['start_frame']}>{first['stop_frame']})")
    return problems


def _validate(solution: pl.DataFrame, submission: pl.DataFrame) -> None:
    if solution.height == 0 or submission.height == 0:
        raise MetricError("Missing solution or submission data — both tables need at least one row")
    problems = (_check_frame(solution, "Solution", SOLUTION_COLUMNS)
                + _check_frame(submission, "Submission", SUBMISSION_COLUMNS))
    if problems:
        raise MetricError("; ".join(problems))


def _as_text(df: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return df.with_columns([pl.col(c).cast(pl.Utf8) for c in columns]
                           + [pl.col(c).cast(pl.Int64) for c in ("start_frame", "stop_frame")])


# -- whitelist --------------------------------------------------------------------------------
def _whitelist(solution: pl.DataFrame) -> pl.DataFrame:
    """(lab_id, video_id, entry): the entries of each video's first solution row, verbatim."""
    first = solution.group_by("lab_id", "video_id", maintain_order=True).agg(
        pl.col("behaviors_labeled").first())
    rows = []
    for lab, video, text in first.iter_rows():
        try:
            entries = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            raise MetricError(f"behaviors_labeled of video {video} is not a JSON list: "
                              f"{str(text)[:60]!r}") from None
        if not isinstance(entries, list):
            raise MetricError(f"behaviors_labeled of video {video} is not a JSON list: {text[:60]!r}")
        rows.extend((lab, video, str(e)) for e in set(entries))
    return pl.DataFrame(rows, schema={"lab_id": pl.Utf8, "video_id": pl.Utf8, "entry": pl.Utf8},
                        orient="row")


def counted_rows(solution: pl.DataFrame, submission: pl.DataFrame) -> pl.DataFrame:
    """The submission rows the metric counts, with their lab_id (a video in several labs repeats)."""
    entry = pl.concat_str([pl.col("agent_id"), pl.col("target_id"), pl.col("action")], separator=",")
    video_lab = solution.select("video_id", "lab_id").unique()
    return (submission.join(video_lab, on="video_id", how="inner")
            .with_columns(entry.alias("entry"))
            .join(_whitelist(solution), on=["lab_id", "video_id", "entry"], how="semi")
            .drop("entry"))


# -- frame counting ---------------------------------------------------------------------------
def _events(df: pl.DataFrame, column: str) -> pl.DataFrame:
    """+1 at start, -1 at stop for each non-empty interval; `column` names the counter."""
    rows = df.filter(pl.col("stop_frame") > pl.col("start_frame")).select(*_KEY, "start_frame", "stop_frame")
    other = "gt" if column == "pred" else "pred"
    ev = [rows.select(*_KEY, pl.col(f).alias("frame"), pl.lit(d, pl.Int32).alias(column),
                      pl.lit(0, pl.Int32).alias(other))
          for f, d in (("start_frame", 1), ("stop_frame", -1))]
    return pl.concat(ev).select(*_KEY, "frame", "pred", "gt")


def _key_counts(truth: pl.DataFrame, pred: pl.DataFrame) -> pl.DataFrame:
    """tp/fp/fn per key from a sweep over both event streams (union semantics per key)."""
    ev = pl.concat([_events(truth, "gt"), _events(pred, "pred")])
    swept = (ev.sort(*_KEY, "frame")
             .with_columns(pl.col("pred").cum_sum().over(_KEY).alias("np"),
                           pl.col("gt").cum_sum().over(_KEY).alias("ng"),
                           (pl.col("frame").shift(-1).over(_KEY) - pl.col("frame")).fill_null(0).alias("len")))
    p, g = pl.col("np") > 0, pl.col("ng") > 0
    return swept.group_by(_KEY).agg(
        pl.col("len").filter(p & g).sum().alias("tp"),
        pl.col("len").filter(p & ~g).sum().alias("fp"),
        pl.col("len").filter(~p & g).sum().alias("fn"))


def check_overlaps(pred: pl.DataFrame, keys: tuple[str, ...] = _KEY) -> pl.DataFrame:
    """Rows of (pair, frame) where one pair has two different actions: empty when valid.

    Per action the intervals are first merged (repeats count once), then, per (video, agent,
    target), a non-empty merged interval that starts before an earlier one ends is a clash.
    """
    pair = [k for k in keys if k != "action"]
    rows = pred.filter(pl.col("stop_frame") > pl.col("start_frame")).sort(*keys, "start_frame")
    merged = (rows.with_columns((pl.col("start_frame") > pl.col("stop_frame").cum_max().shift(1).over(keys))
                                .fill_null(True).cum_sum().over(keys).alias("_run"))
              .group_by(*keys, "_run").agg(pl.col("start_frame").min(), pl.col("stop_frame").max()))
    return (merged.sort(*pair, "start_frame")
            .with_columns(pl.col("stop_frame").cum_max().shift(1).over(pair).alias("_prev"))
            .filter(pl.col("start_frame") < pl.col("_prev"))
            .drop("_run", "_prev"))


def truth_frames(solution: pl.DataFrame) -> pl.DataFrame:
    """(lab_id, action, frames): distinct ground-truth frames per lab and action, pooled as scored."""
    cols = (*_KEY, "start_frame", "stop_frame")
    sol = _as_text(solution.select(cols), _TEXT + ("lab_id",))
    return (_key_counts(sol, sol.clear()).group_by("lab_id", "action")
            .agg(pl.col("fn").sum().alias("frames")).sort("lab_id", "action"))


# -- scoring ----------------------------------------------------------------------------------
def _fbeta(tp: pl.Expr, fp: pl.Expr, fn: pl.Expr, beta: float) -> pl.Expr:
    b2 = beta * beta
    den = (1 + b2) * tp + b2 * fn + fp
    return pl.when(den > 0).then((1 + b2) * tp / den).otherwise(0.0)


def _per_action(solution: pl.DataFrame, counted: pl.DataFrame, beta: float) -> pl.DataFrame:
    counts = _key_counts(solution, counted)
    actions = pl.concat([solution.select("lab_id", "action"), counted.select("lab_id", "action")]).unique()
    totals = counts.group_by("lab_id", "action").agg(pl.col("tp", "fp", "fn").sum())
    return (actions.join(totals, on=["lab_id", "action"], how="left")
            .with_columns(pl.col("tp", "fp", "fn").fill_null(0).cast(pl.Int64))
            .with_columns(_fbeta(pl.col("tp"), pl.col("fp"), pl.col("fn"), beta).alias("f"))
            .sort("lab_id", "action"))


def score_details(solution: pl.DataFrame, submission: pl.DataFrame, beta: float = 1.0) -> ScoreDetails:
    """Score `submission` against `solution` (see the module docstring) with the breakdown."""
    _validate(solution, submission)
    sol = _as_text(solution.select(SOLUTION_COLUMNS), _TEXT + ("lab_id",))
    sub = _as_text(submission.select(SUBMISSION_COLUMNS), _TEXT)
    counted = counted_rows(sol, sub)
    clashes = check_overlaps(counted)
    if clashes.height:
        c = clashes.row(0, named=True)
        raise MetricError(f"{OVERLAP_MESSAGE} (first: video {c['video_id']}, {c['agent_id']},"
                          f"{c['target_id']} near frame {c['start_frame']}) — emit at most one "
                          "action per (agent, target) per frame")
    per_action = _per_action(sol, counted, beta)
    per_lab = (per_action.group_by("lab_id").agg(pl.len().alias("n_actions"), pl.col("f").mean().alias("score"))
               .sort("lab_id"))
    return ScoreDetails(float(per_lab["score"].mean()), per_lab, per_action)


def score(solution: pl.DataFrame, submission: pl.DataFrame, beta: float = 1.0) -> float:
    """The official MABe F-beta score (β = 1 by default); raises MetricError on invalid input."""
    return score_details(solution, submission, beta).score
