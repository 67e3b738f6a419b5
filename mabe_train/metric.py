"""The official MABe 2025 metric, vectorised over intervals.

The competition scores a submission per lab: frames are pooled per action over every video and
(agent, target) pair of the lab, each action gets an F-beta, the lab gets the mean F over its
actions and the final score is the plain mean over labs. The official implementation expands
every interval into a Python `set` of frames. Here the key columns become one int64 code, every
interval two events (+1 at start, -1 at stop) packed with its key and frame into one int64; one
stable sort and one cumulative sum give, for each (lab, video, agent, target, action) key, the
stretches where the prediction and the ground truth are active, and TP/FP/FN are sums of stretch
lengths. Time is O(intervals log intervals), independent of video length. CPU seconds per call
(bench/bench_metric.py, 2 shared cores): a dense 20-video lab of 50k-frame videos (207k intervals
each side) 0.17 s against 3.3-3.5 s for the official code; the real annotations (19 labs, 84k
intervals) against the truth shifted by 5 frames 0.09 s against 2.2-2.3 s.

The rules, as implemented (numbers refer to the rules in docs/metric.md):
- empty input, a missing column, a null, start > stop: MetricError (1);
- ids are compared as text; submission rows for videos not in the solution are dropped (2);
- a submission row counts only if "agent,target,action" is verbatim an entry of the video's
  behaviors_labeled, read from the video's first solution row (3);
- frames repeated for the same (video, agent, target, action) are counted once (4);
- one (agent, target) pair predicted with two actions on one frame: MetricError; zero-length
  rows and touching intervals never trigger it (5). A lab's own vocabulary may pass `exclusive`
  ({action: group}, mabe_train.vocab.group_of): then only two actions of one group clash, and
  actions of different groups (annotation streams) may overlap;
- a lab's actions = actions with a ground-truth row in the lab (zero-length included) + actions
  of any counted submission row (zero-length included); F = 0 where TP + FP + FN = 0 (6).
The trade-off: codes and packed events assume key and frame ranges that fit 62 bits together (far
beyond any real table); wider ones fall back to np.lexsort, and the per-row text never leaves Polars.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from mabe_train import MabeTrainError
from mabe_train.intervals import FRAME_COLUMNS, ID_COLUMNS, INTERVAL_COLUMNS, SOLUTION_COLUMNS, cast_intervals

_KEY = ("lab_id", *ID_COLUMNS)
OVERLAP_MESSAGE = "Multiple predictions for the same frame from one agent/target pair"


class MetricError(MabeTrainError, ValueError):
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
    for c in FRAME_COLUMNS:
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
                + _check_frame(submission, "Submission", INTERVAL_COLUMNS))
    if problems:
        raise MetricError("; ".join(problems))


# -- whitelist --------------------------------------------------------------------------------
def _whitelist(solution: pl.DataFrame) -> pl.DataFrame:
    """(lab_id, video_id, entry): the entries of each video's first solution row, verbatim.

    Parsed by Polars in one pass (a Python json.loads per video took a quarter of the score's time
    on the real annotations); any text Polars cannot read as a list of strings goes through
    json.loads, which names the bad video."""
    first = solution.group_by("lab_id", "video_id", maintain_order=True).agg(
        pl.col("behaviors_labeled").first())
    try:
        parsed = first.with_columns(pl.col("behaviors_labeled").str.json_decode(pl.List(pl.Utf8)).alias("entry"))
    except pl.exceptions.PolarsError:
        parsed = None
    if parsed is None or parsed["entry"].null_count():
        return _whitelist_python(first)
    return (parsed.select("lab_id", "video_id", "entry").explode("entry").drop_nulls("entry")
            .unique(maintain_order=True))


def _whitelist_python(first: pl.DataFrame) -> pl.DataFrame:
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
    """The submission rows the metric counts, with their lab_id (a video in several labs repeats).

    Both tables must already hold text ids and Int64 frames, as score_details prepares them.
    """
    entry = pl.concat_str([pl.col("agent_id"), pl.col("target_id"), pl.col("action")], separator=",")
    # one join: the whitelist holds one row per (lab, video, entry), so a row of a video in several
    # labs comes back once per lab that whitelists it
    return (submission.with_columns(entry.alias("entry"))
            .join(_whitelist(solution), on=["video_id", "entry"], how="inner")
            .drop("entry"))


# -- frame counting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Coded:
    """Rows as one int64 code over key columns (mixed radix, the last column fastest) + frames.

    cats: each column's distinct values (code order); radix: their counts."""

    code: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    cats: tuple[pl.Series, ...]
    radix: tuple[int, ...]

    def digit(self, code: np.ndarray, i: int) -> np.ndarray:
        """Column i's category index within `code`."""
        return code // int(np.prod(self.radix[i + 1:], dtype=object)) % self.radix[i]


def _encode(rows: pl.DataFrame, cols: tuple[str, ...]) -> _Coded:
    """Categorical codes per column (a hash pass each), re-numbered densely in text order and
    combined."""
    cat = rows.select([pl.col(c).cast(pl.Categorical) for c in cols])
    code = np.zeros(rows.height, dtype=np.int64)
    cats, radix = [], []
    for c in cols:
        uniq = cat[c].unique()
        text = uniq.cast(pl.Utf8)
        order = text.arg_sort().to_numpy()  # codes in text order: "first" clash as sorted by id
        phys = uniq.to_physical().to_numpy().astype(np.int64)[order]
        lut = np.zeros(int(phys.max(initial=0)) + 1, dtype=np.int64)
        lut[phys] = np.arange(len(phys))
        code = code * len(phys) + lut[cat[c].to_physical().to_numpy()]
        cats.append(text.gather(order))
        radix.append(len(phys))
    if math.prod(radix) >= 2**62:
        raise MetricError(f"too many distinct keys to score ({' x '.join(map(str, radix))})")
    return _Coded(code, rows["start_frame"].to_numpy(), rows["stop_frame"].to_numpy(), tuple(cats), tuple(radix))


def _sort_events(key: np.ndarray, frame: np.ndarray, low: np.ndarray) -> tuple[np.ndarray, ...]:
    """(key, frame, low) sorted by key, frame, low (low < 4). One stable np.sort of packed int64
    values when they fit (a timsort: the events arrive as two runs sorted or nearly sorted by key,
    about 15 ms for 800k events against about 250 ms for np.lexsort), else lexsort."""
    if len(key) == 0:
        return key, frame, low
    f0 = int(frame.min())
    fbits = max(int(frame.max()) - f0, 1).bit_length() + 2
    if max(int(key.max()), 1).bit_length() + fbits <= 62:
        v = np.sort((key << fbits) | ((frame - f0) << 2) | low, kind="stable")
        return v >> fbits, ((v >> 2) & ((1 << (fbits - 2)) - 1)) + f0, (v & 3).astype(np.int32)
    order = np.lexsort((low, frame, key))
    return key[order], frame[order], low[order].astype(np.int32)


def _sweep(key, start, stop, is_pred):
    """Stretches of (key, pred-covered, truth-covered) and the prediction's merged runs.

    Each positive-length interval adds +1 at start and -1 at stop to its kind's counter; after the
    events are sorted by (key, frame) a global cumulative sum is the per-key coverage (each key's
    events sum to zero). Returns (key, length, state) per event, state = pred + 2 * truth for the
    stretch up to the next event, and (key, start, stop) of the prediction's merged runs."""
    low = np.concatenate([2 * is_pred + 1, 2 * is_pred])
    k, f, low = _sort_events(np.concatenate([key, key]), np.concatenate([start, stop]), low)
    d = (low & 1) * 2 - 1
    n_pred = np.cumsum(d * (low >> 1), dtype=np.int32)
    n_gt = np.cumsum(d, dtype=np.int32) - n_pred
    same = k[1:] == k[:-1]
    length = np.zeros(len(k), dtype=np.int64)
    length[:-1] = np.diff(f) * same
    covered = n_pred > 0
    before = np.zeros(len(k), dtype=bool)
    before[1:] = covered[:-1] & same
    opens, closes = np.flatnonzero(covered & ~before), np.flatnonzero(before & ~covered)
    return (k, length, covered + 2 * (n_gt > 0)), (k[opens], f[opens], f[closes])


def _counts(coded: _Coded, is_pred: np.ndarray):
    """Per (lab, action) over `coded` (columns _KEY): tp, fp, fn (each (labs, actions)), and the
    prediction's merged runs."""
    keep = coded.stop > coded.start
    (k, length, state), runs = _sweep(coded.code[keep], coded.start[keep], coded.stop[keep], is_pred[keep])
    n_lab, n_act = coded.radix[0], coded.radix[-1]
    hit = np.flatnonzero(length)
    k = k[hit]
    cell = (coded.digit(k, 0) * n_act + k % n_act) * 4 + state[hit]
    c = np.bincount(cell, weights=length[hit], minlength=n_lab * n_act * 4).astype(np.int64)
    c = c.reshape(n_lab, n_act, 4)
    return c[..., 3], c[..., 1], c[..., 2], runs


def _clashes(coded: _Coded, k: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Indices of merged runs that start before an earlier run of the same pair (the key without
    its last column, `action`) ends, in (pair, start) order."""
    pair = k // coded.radix[-1]
    s0 = int(s.min(initial=0))
    sbits = max(int(s.max(initial=0)) - s0, 1).bit_length()
    if max(int(pair.max(initial=0)), 1).bit_length() + sbits <= 62:
        order = np.argsort((pair << sbits) | (s - s0), kind="stable")
    else:
        order = np.lexsort((s, pair))
    pair, s, e = pair[order], s[order], e[order]
    reach = _group_cummax(pair, e)
    clash = np.zeros(len(s), dtype=bool)
    clash[1:] = (pair[1:] == pair[:-1]) & (s[1:] < reach[:-1])
    return order[np.flatnonzero(clash)]


def _group_cummax(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running max of `values` restarting at each group (rows sorted by group)."""
    if len(values) == 0:
        return values
    lo = int(values.min())
    span = int(values.max()) - lo + 1
    lifted = group * span + (values - lo)
    return np.maximum.accumulate(lifted) - group * span + lo


def _decode_keys(coded: _Coded, cols: tuple[str, ...], k: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame([coded.cats[i].gather(coded.digit(k, i)).alias(c) for i, c in enumerate(cols)])


def check_overlaps(pred: pl.DataFrame, keys: tuple[str, ...] = _KEY) -> pl.DataFrame:
    """Merged intervals that clash with another action of the same pair: empty when valid.

    Per action the intervals are first merged (repeats count once); then, per pair (the keys
    without `action`), a non-empty merged interval that starts before an earlier one ends is a
    clash. Zero-length rows and touching intervals never clash.
    """
    cols = (*[c for c in keys if c != "action"], "action")
    rows = pred.filter(pl.col("stop_frame") > pl.col("start_frame")).select(*cols, "start_frame", "stop_frame")
    if rows.height == 0:
        return rows.select(*keys, "start_frame", "stop_frame").cast({"start_frame": pl.Int64, "stop_frame": pl.Int64})
    coded = _encode(rows, cols)
    _, (k, s, e) = _sweep(coded.code, coded.start, coded.stop, np.ones(rows.height, dtype=np.int64))
    hit = _clashes(coded, k, s, e)
    return _decode_keys(coded, cols, k[hit]).select(keys).with_columns(
        start_frame=pl.Series(s[hit], dtype=pl.Int64), stop_frame=pl.Series(e[hit], dtype=pl.Int64))


def truth_frames(solution: pl.DataFrame) -> pl.DataFrame:
    """(lab_id, action, frames): distinct ground-truth frames per lab and action, pooled as scored."""
    sol = cast_intervals(solution.select(*_KEY, *FRAME_COLUMNS))
    coded = _encode(sol, _KEY)
    _, _, fn, _ = _counts(coded, np.zeros(sol.height, dtype=np.int64))
    present = _present(coded)
    return _lab_action_table(coded, present, fn=fn).rename({"fn": "frames"})


def _present(coded: _Coded) -> np.ndarray:
    """(labs, actions) bool: pairs with any row, zero-length included."""
    out = np.zeros(coded.radix[0] * coded.radix[-1], dtype=bool)
    out[coded.digit(coded.code, 0) * coded.radix[-1] + coded.code % coded.radix[-1]] = True
    return out.reshape(coded.radix[0], coded.radix[-1])


def _lab_action_table(coded: _Coded, present: np.ndarray, **counts: np.ndarray) -> pl.DataFrame:
    lab, act = np.nonzero(present)
    return pl.DataFrame([coded.cats[0].gather(lab).alias("lab_id"), coded.cats[-1].gather(act).alias("action"),
                         *[pl.Series(name, v[lab, act], dtype=pl.Int64) for name, v in counts.items()]]
                        ).sort("lab_id", "action")


# -- scoring ----------------------------------------------------------------------------------
def _fbeta(tp: pl.Expr, fp: pl.Expr, fn: pl.Expr, beta: float) -> pl.Expr:
    b2 = beta * beta
    den = (1 + b2) * tp + b2 * fn + fp
    return pl.when(den > 0).then((1 + b2) * tp / den).otherwise(0.0)


def _per_action(sol: pl.DataFrame, counted: pl.DataFrame, beta: float,
                exclusive: Mapping[str, str] | None = None) -> pl.DataFrame:
    """tp/fp/fn/f per (lab, action) that counts; MetricError on a pair with two actions (of one
    exclusive group, when `exclusive` names the groups) on a frame."""
    cols = (*_KEY, "start_frame", "stop_frame")
    rows = pl.concat([sol.select(cols), counted.select(cols)])
    coded = _encode(rows, _KEY)
    is_pred = np.zeros(rows.height, dtype=np.int64)
    is_pred[sol.height:] = 1
    tp, fp, fn, (k, s, e) = _counts(coded, is_pred)
    if exclusive is None:
        hit = _clashes(coded, k, s, e)
        if len(hit):
            c = _decode_keys(coded, _KEY, k[hit[:1]]).row(0, named=True)
            _overlap_error(c, s[hit[0]])
    else:
        _check_groups(counted, exclusive)
    return (_lab_action_table(coded, _present(coded), tp=tp, fp=fp, fn=fn)
            .with_columns(_fbeta(pl.col("tp"), pl.col("fp"), pl.col("fn"), beta).alias("f")))


def _overlap_error(c: dict, frame: int) -> None:
    raise MetricError(f"{OVERLAP_MESSAGE} (first: video {c['video_id']}, {c['agent_id']},"
                      f"{c['target_id']} near frame {frame}) — emit at most one "
                      "action per (agent, target) per frame")


def group_overlaps(rows: pl.DataFrame, exclusive: Mapping[str, str],
                   pair: tuple[str, ...] = ("video_id", "agent_id", "target_id")) -> pl.DataFrame:
    """`check_overlaps` within exclusive groups ({action: group}; an action no group names is a group
    of its own): the clashing intervals with their `_group`, empty when valid."""
    grouped = rows.with_columns(
        pl.col("action").replace_strict(dict(exclusive), default=pl.col("action"), return_dtype=pl.Utf8)
        .alias("_group"))
    return check_overlaps(grouped, (*pair, "_group", "action"))


def _check_groups(counted: pl.DataFrame, exclusive: Mapping[str, str]) -> None:
    """MetricError when one pair has two actions of one exclusive group on a frame."""
    clash = group_overlaps(counted, exclusive, ("lab_id", "video_id", "agent_id", "target_id"))
    if clash.height:
        c = clash.row(0, named=True)
        raise MetricError(f"{OVERLAP_MESSAGE} (first: video {c['video_id']}, {c['agent_id']},{c['target_id']} "
                          f"near frame {c['start_frame']}, two behaviours of the mutually exclusive group "
                          f"{c['_group']}) — emit at most one of a group per (agent, target) per frame")


def score_details(solution: pl.DataFrame, submission: pl.DataFrame, beta: float = 1.0,
                  exclusive: Mapping[str, str] | None = None) -> ScoreDetails:
    """Score `submission` against `solution` (see the module docstring) with the breakdown;
    exclusive: {action: group} of a lab's vocabulary (None: MABe's one action per pair-frame)."""
    _validate(solution, submission)
    sol = cast_intervals(solution.select(SOLUTION_COLUMNS))
    sub = cast_intervals(submission.select(INTERVAL_COLUMNS))
    per_action = _per_action(sol, counted_rows(sol, sub), beta, exclusive)
    per_lab = (per_action.group_by("lab_id").agg(pl.len().alias("n_actions"), pl.col("f").mean().alias("score"))
               .sort("lab_id"))
    return ScoreDetails(float(per_lab["score"].mean()), per_lab, per_action)


def score(solution: pl.DataFrame, submission: pl.DataFrame, beta: float = 1.0,
          exclusive: Mapping[str, str] | None = None) -> float:
    """The official MABe F-beta score (β = 1 by default); raises MetricError on invalid input."""
    return score_details(solution, submission, beta, exclusive).score
