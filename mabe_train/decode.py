"""Per-frame action probabilities -> the metric's intervals, and per-lab thresholds for them.

A model gives, for every ordered pair (agent, target) of a video and every frame, one probability
per action of the store's vocabulary (MABe's 37, or a lab's own behaviours). The competition wants
intervals, at most one action per pair per frame (the metric raises otherwise), and only for
triples the video labels (others are ignored, so they are wasted rows at best). A lab's own
vocabulary relaxes "one action per frame" to "one action per exclusive group per frame"
(mabe_train.vocab.exclusive_groups: an annotation stream such as Caltech's S1 social / nonsocial /
aggression is one group; behaviours of different streams may overlap). Decoding, per pair and group:
  1. moving-average smoothing over `smooth` frames (centred; the edges average what exists);
  2. per-(lab, action) thresholds; an action is a candidate on a frame where its smoothed
     probability reaches its threshold and the video labels the triple;
  3. the candidate with the highest smoothed probability wins the frame (one label per frame and
     group, so the overlap error cannot fire by construction);
  4. background gaps of at most `max_gap` frames between two bouts of one action are filled,
     then bouts shorter than `min_bout` frames are dropped.
The thresholds come from `mabe_train.calibrate.tune_thresholds` (the one tuning policy of every
run kind); NEVER is the threshold of an action a lab never shows (emitting it could only add an
F = 0 action to the lab's mean: rule 6 of docs/metric.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mabe_train import MabeTrainError
from mabe_train.intervals import INTERVAL_SCHEMA
from mabe_train.submission import mouse_text, to_label_frames, to_tracking_frames
from mabe_train.vocab import MABE, Vocabulary, exclusive_groups

NEVER = 2.0  # a threshold no probability reaches
Thresholds = Mapping[tuple[str, str], float]


class DecodeError(MabeTrainError, ValueError):
    """Probabilities, pairs and masks do not fit together; the message says how."""


@dataclass(frozen=True)
class DecodeConfig:
    """Decoding settings; frames are the video's own frames.

    per_action: smoothing, minimum bout and gap filling per action from the training set's bout
    durations in seconds (`bout_seconds`: the `bout_quantile` of each action's bouts), converted per
    video with its fps: min_bout = that duration, smooth and max_gap = `bout_fraction` of it. The
    frame values above remain for actions without training bouts.

    label_frame_scale: {lab_id: annotation frames per tracking frame} for a lab whose labels count
    other frames than its tracking (the 2nd-place team reported AdaptableSnail tracked at 25 fps,
    labelled at 30: 1.2; unverified here). Annotations are divided by it before rasterising (training
    targets, tuning truth) and decoded intervals multiplied by it before they are written, so the
    model works in tracking frames and submissions in label frames. Default: no lab scaled."""

    smooth: int = 1  # moving-average window in frames (1: none)
    threshold: float = 0.5  # for (lab, action) pairs without a tuned threshold
    min_bout: int = 1  # drop bouts shorter than this
    max_gap: int = 0  # fill background gaps up to this long between bouts of one action
    per_action: bool = False  # the three values per action, in seconds, from training bouts
    bout_quantile: float = 0.1  # which quantile of an action's bout durations is its minimum bout
    bout_fraction: float = 0.5  # smooth and max_gap as a fraction of that minimum bout
    label_frame_scale: dict[str, float] = field(default_factory=dict)  # lab -> label frames per tracked frame

    def __post_init__(self) -> None:
        problems = [f"{name} must be >= {lo}, got {getattr(self, name)}"
                    for name, lo in (("smooth", 1), ("min_bout", 1), ("max_gap", 0), ("threshold", 0))
                    if getattr(self, name) < lo]
        problems += [f"{name} must be in [0, 1], got {getattr(self, name)}"
                     for name in ("bout_quantile", "bout_fraction") if not 0 <= getattr(self, name) <= 1]
        problems += [f"label_frame_scale.{lab} must be > 0, got {s}" for lab, s in self.label_frame_scale.items()
                     if not s > 0]
        if problems:
            raise DecodeError("bad decode settings: " + "; ".join(problems))

    def scale(self, lab_id: str) -> float:
        """Annotation frames per tracking frame of this lab (1.0 unless label_frame_scale names it)."""
        return float(self.label_frame_scale.get(str(lab_id), 1.0))

    def frames(self, fps: float | None, bout_s: Mapping[str, float] | None,
               vocab: Vocabulary = MABE) -> ActionFrames:
        """Per-action (smooth, min_bout, max_gap) in frames for one video of this fps, in the
        columns of `vocab` (the probabilities' vocabulary)."""
        a = len(vocab.actions)
        out = ActionFrames(np.full(a, self.smooth), np.full(a, self.min_bout), np.full(a, self.max_gap))
        if not self.per_action:
            return out
        if bout_s is None:
            raise DecodeError("pairs.decode.per_action needs the run's per-action bouts (thresholds.json "
                              "`bout_s`, written by tuning with per_action on) — retune, or set per_action false")
        if not fps or fps <= 0:
            raise DecodeError("per-action decoding (pairs.decode.per_action) needs each video's fps")
        for action, seconds in bout_s.items():
            i = vocab.index.get(action)
            if i is not None:
                n = seconds * fps
                out.min_bout[i] = max(1, round(n))
                out.smooth[i] = max(1, round(self.bout_fraction * n))
                out.max_gap[i] = round(self.bout_fraction * n)
        return out


@dataclass(frozen=True)
class ActionFrames:
    """(A,) int arrays in vocabulary order: smoothing window, minimum bout, maximum filled gap."""

    smooth: np.ndarray
    min_bout: np.ndarray
    max_gap: np.ndarray


@dataclass
class VideoProbs:
    """One video's probabilities: probs (P, T, A) over pairs (agent, target), 1-based ids, target ==
    agent for a self pair; labeled (P, A) bool, the triples the video labels; A in the order of
    `vocab`, the store's vocabulary (MABe's by default); fps: the video's frame rate (per-action
    decoding in seconds needs it)."""

    video_id: int | str
    lab_id: str
    pairs: list[tuple[int, int]]
    probs: np.ndarray
    labeled: np.ndarray
    fps: float | None = None
    vocab: Vocabulary = MABE

    def __post_init__(self) -> None:
        p, a = len(self.pairs), len(self.vocab.actions)
        problems = []
        if self.probs.ndim != 3 or self.probs.shape[0] != p or self.probs.shape[2] != a:
            problems.append(f"probs has shape {self.probs.shape}, expected ({p}, T, {a})")
        if self.labeled.shape != (p, a):
            problems.append(f"labeled has shape {self.labeled.shape}, expected ({p}, {a})")
        if problems:
            raise DecodeError(f"video {self.video_id}: " + "; ".join(problems))


# -- per-frame steps --------------------------------------------------------------------------
def smooth(probs: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 1 of (P, T, A); edges average the frames that exist."""
    if window <= 1:
        return probs.astype(np.float32, copy=False)
    t = probs.shape[1]
    c = np.concatenate([np.zeros_like(probs[:, :1], dtype=np.float64), np.cumsum(probs, axis=1, dtype=np.float64)],
                       axis=1)
    lo = np.clip(np.arange(t) - window // 2, 0, t)
    hi = np.clip(np.arange(t) - window // 2 + window, 0, t)
    return ((c[:, hi] - c[:, lo]) / (hi - lo)[None, :, None]).astype(np.float32)


def smooth_columns(probs: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """`smooth` of (P, T, A') with one window per column (windows (A',)), one pass per distinct window."""
    out = np.empty(probs.shape, dtype=np.float32)
    for w in np.unique(windows):
        cols = np.flatnonzero(windows == w)
        out[:, :, cols] = smooth(probs[:, :, cols], int(w))
    return out


def threshold_vector(lab_id: str, thresholds: Thresholds | None, default: float,
                     vocab: Vocabulary = MABE) -> np.ndarray:
    """(A,) thresholds of one lab in `vocab`'s columns: tuned where known; for a lab with none tuned
    (one the run never validated on, e.g. a user's own), each action's median over the labs that
    emit it; else `default`."""
    index = vocab.index
    out = np.full(len(vocab.actions), default, dtype=np.float32)
    thresholds = thresholds or {}
    if not any(lab == lab_id for lab, _ in thresholds):
        per_action: dict[str, list[float]] = {}
        for (_, action), thr in thresholds.items():
            if thr < NEVER and action in index:
                per_action.setdefault(action, []).append(thr)
        for action, values in per_action.items():
            out[index[action]] = float(np.median(values))
        return out
    for (lab, action), thr in thresholds.items():
        if lab == lab_id and action in index:
            out[index[action]] = thr
    return out


def frame_labels(smoothed: np.ndarray, labeled: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """(P, T) action index per frame, -1 for none: the most probable labeled action above threshold."""
    above = (smoothed >= thr[None, None, :]) & labeled[:, None, :]
    best = np.where(above, smoothed, -np.inf).argmax(axis=2)
    return np.where(above.any(axis=2), best, -1)


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of a 1-D label track: values, starts, stops (exclusive)."""
    cut = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [len(labels)]])
    return labels[starts], starts, stops


def clean_track(labels: np.ndarray, min_bout, max_gap) -> np.ndarray:
    """Fill short background gaps inside one action, then drop short bouts (1-D track).

    min_bout, max_gap: one value, or one per label value (arrays indexed by the track's labels)."""
    if len(labels) == 0:
        return labels
    vals, starts, stops = _runs(labels)
    inner = np.zeros(len(vals), dtype=bool)
    inner[1:-1] = (vals[1:-1] == -1) & (vals[:-2] == vals[2:]) & (vals[:-2] >= 0)
    before = np.roll(vals, 1)
    vals = np.where(inner & (stops - starts <= _of(max_gap, before)), before, vals)
    vals, starts, stops = _runs(np.repeat(vals, stops - starts))
    vals = np.where((vals >= 0) & (stops - starts < _of(min_bout, vals)), -1, vals)
    return np.repeat(vals, stops - starts)


def _of(value, labels: np.ndarray):
    """`value` itself, or its entry for each label (labels < 0 read entry 0; callers mask them)."""
    return value if np.ndim(value) == 0 else np.asarray(value)[np.maximum(labels, 0)]


# -- intervals --------------------------------------------------------------------------------
def decode_video(video: VideoProbs, config: DecodeConfig = DecodeConfig(),
                 thresholds: Thresholds | None = None, bout_s: Mapping[str, float] | None = None) -> pl.DataFrame:
    """Intervals (video_id, agent_id, target_id, action, start_frame, stop_frame) of one video.

    Each exclusive group of the video's vocabulary is decoded as its own track per pair (one group
    of every action for MABe). bout_s: per-action minimum bouts in seconds for config.per_action
    (default: the thresholds' own, `TunedThresholds.bout_s`)."""
    labeled_cols = video.labeled.any(axis=0)  # only labeled actions are ever emitted
    if not labeled_cols.any() or video.probs.shape[1] == 0:
        return pl.DataFrame(schema=INTERVAL_SCHEMA)
    thr = threshold_vector(video.lab_id, thresholds, config.threshold, video.vocab)
    fr = config.frames(video.fps, bout_s if bout_s is not None else getattr(thresholds, "bout_s", None), video.vocab)
    groups = exclusive_groups(video.vocab)
    rows = []
    for group in groups:
        cols = group[labeled_cols[group]]
        if cols.size:
            rows += _group_rows(video, cols, thr[cols], fr, config.scale(video.lab_id))
    out = pl.DataFrame(rows, schema=INTERVAL_SCHEMA, orient="row")
    return out if len(groups) == 1 else out.sort("agent_id", "target_id", "start_frame", "action", maintain_order=True)


def _group_rows(video: VideoProbs, cols: np.ndarray, thr: np.ndarray, fr: ActionFrames, scale: float) -> list:
    """Interval rows of one exclusive group's columns: argmax per frame, then bout cleaning per pair."""
    labels = frame_labels(smooth_columns(video.probs[:, :, cols], fr.smooth[cols]), video.labeled[:, cols], thr)
    rows, names = [], video.vocab.actions
    for (agent, target), track in zip(video.pairs, labels, strict=True):
        vals, starts, stops = _runs(clean_track(track, fr.min_bout[cols], fr.max_gap[cols]))
        starts, stops = to_label_frames(starts, scale), to_label_frames(stops, scale)
        a_txt, t_txt = mouse_text(agent, target)
        rows += [(str(video.video_id), a_txt, t_txt, names[cols[v]], int(s), int(e))
                 for v, s, e in zip(vals, starts, stops, strict=True) if v >= 0 and e > s]
    return rows


def decode(videos: Iterable[VideoProbs], config: DecodeConfig = DecodeConfig(),
           thresholds: Thresholds | None = None, bout_s: Mapping[str, float] | None = None) -> pl.DataFrame:
    """decode_video over many videos, concatenated."""
    parts = [decode_video(v, config, thresholds, bout_s) for v in videos]
    return pl.concat(parts) if parts else pl.DataFrame(schema=INTERVAL_SCHEMA)


# -- truth and thresholds ----------------------------------------------------------------------
def truth_raster(video: VideoProbs, solution: pl.DataFrame, scale: float = 1.0) -> np.ndarray:
    """(P, T, A) bool: frames of the video's solution intervals, for the pairs in `video.pairs`;
    scale: the lab's annotation frames per tracking frame (DecodeConfig.scale).

    The one rasteriser of annotations for scoring: threshold tuning and the pairs validation loss
    share its output (training targets come packed from `pairs.labels`)."""
    t = video.probs.shape[1]
    out = np.zeros(video.probs.shape, dtype=bool)
    index = {mouse_text(a, g): i for i, (a, g) in enumerate(video.pairs)}
    rows = solution.filter(pl.col("video_id").cast(pl.Utf8) == str(video.video_id))
    rows = rows.with_columns(pl.Series("start_frame", to_tracking_frames(rows["start_frame"], scale)),
                             pl.Series("stop_frame", to_tracking_frames(rows["stop_frame"], scale)))
    for a, g, action, s, e in rows.select("agent_id", "target_id", "action", "start_frame", "stop_frame").iter_rows():
        p = index.get((str(a), str(g)))
        if p is not None and action in video.vocab.index:
            out[p, max(int(s), 0):min(int(e), t), video.vocab.index[action]] = True
    return out


class TunedThresholds(dict):
    """Per-(lab, action) thresholds plus the per-action bouts (seconds) they were tuned with.

    The bouts travel with the thresholds (thresholds.json's `bout_s`), so predict, bundles, submit
    and ensembles decode with the values tuning used; None for frame-count decoding."""

    def __init__(self, values=(), bout_s: Mapping[str, float] | None = None):
        super().__init__(values)
        self.bout_s = dict(bout_s) if bout_s else None


def thresholds_to_rows(thresholds: Thresholds) -> list[dict]:
    """JSON-ready rows {lab_id, action, threshold}, sorted (the run's thresholds.json holds them)."""
    return [{"lab_id": lab, "action": act, "threshold": float(t)} for (lab, act), t in sorted(thresholds.items())]


def thresholds_from_rows(rows: Iterable[Mapping]) -> dict[tuple[str, str], float]:
    """The inverse of `thresholds_to_rows`."""
    return {(r["lab_id"], r["action"]): float(r["threshold"]) for r in rows}


def thresholds_artefact(thresholds: Thresholds, score: float) -> dict:
    """The JSON-ready `thresholds.json` content: {score, thresholds rows[, bout_s]}."""
    out = {"score": float(score), "thresholds": thresholds_to_rows(thresholds)}
    if getattr(thresholds, "bout_s", None):
        out["bout_s"] = dict(sorted(thresholds.bout_s.items()))
    return out


def thresholds_from_artefact(artefact: Mapping) -> TunedThresholds:
    """The inverse of `thresholds_artefact` (a thresholds.json without `bout_s` decodes in frames)."""
    return TunedThresholds(thresholds_from_rows(artefact["thresholds"]), artefact.get("bout_s"))
