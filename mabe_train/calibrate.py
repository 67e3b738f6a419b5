"""Per-(lab, action) thresholds: the one tuning policy of every run kind.

Training validation (pairs task), GBDT runs, cv and ensembles all tune here, so a threshold means
the same thing whichever kind produced the probabilities. Per (lab, action), on the tuning videos:
- with true frames there: the grid value maximising that action's pooled F;
- without (or where no grid value gives F > 0), but `present` elsewhere in the lab (its training
  videos, other folds): the action's global threshold, the value maximising F pooled over every
  lab's tuning frames. One or two validation videos per lab often lack an action by chance: the
  pair model scored CRIM13 `rear` F = 0 on held-out videos that had it when such a gap meant
  "never emit" (a quarter of CRIM13's score);
- NEVER only when the action is absent from all the lab's evidence (docs/metric.md rule 6: some labs
  whitelist actions they never show, and emitting those adds an F = 0 action to the lab's mean).
With cross-validation (mabe_train.cv) the tuning videos are the out-of-fold predictions of every
training video, so "absent" means absent from the whole lab.

Counts per (lab, action) and grid value, from one histogram per (video, action) for all grid values
at once: predicted-positive and true-positive frames over labeled (pair, action) cells after the
decoder's smoothing, and the metric's own ground-truth frame total (`metric.truth_frames`: every
ground-truth row, labeled triple or not, frames past the tracked end included), so F here is the
metric's F of thresholding alone. The trade-off: no argmax between actions and no bout cleaning,
which keeps the search to one histogram pass (12 pairs x 50k frames x 6 actions: ~0.2 s).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from mabe_store.reader import Store
from mabe_train.decode import (
    NEVER,
    DecodeConfig,
    DecodeError,
    TunedThresholds,
    VideoProbs,
    smooth,
    truth_raster,
)
from mabe_train.metric import truth_frames
from mabe_train.submission import solution_from_store

# 0.05-0.95 in steps of 0.05 plus both ends: a GBDT's probability for a rare action (run, defend,
# climb) often peaks below 0.05. Semi-real GBDT cv run: OOF 0.7795 -> 0.7865, held-out 0.8269 -> 0.8297.
GRID = tuple(sorted({*np.round(np.arange(0.05, 0.96, 0.05), 2).tolist(), 0.01, 0.02, 0.03, 0.04, 0.97, 0.98}))


def present_actions(store: Store, video_ids: Iterable) -> set[tuple[str, str]]:
    """(lab, action) pairs with at least one annotated interval of a labeled triple in these videos."""
    out: set[tuple[str, str]] = set()
    for vid in video_ids:
        lab = str(store.videos["lab_id"][store.index(vid)])
        labeled = store.labeled_triples(vid)
        triples = set(zip(labeled["agent"].tolist(), labeled["target"].tolist(), labeled["action"].tolist(),
                          strict=True))
        ann = store.annotations(vid)
        for a, g, act in zip(ann["agent_id"].tolist(), ann["target_id"].tolist(), ann["action"].tolist(),
                             strict=True):
            if (a, g, act) in triples:
                out.add((lab, act))
    return out


def bout_seconds(store: Store, video_ids: Iterable, quantile: float,
                 label_frame_scale: dict[str, float] | None = None) -> dict[str, float]:
    """{action: the `quantile` of its bout durations in seconds} over the annotated intervals of
    labeled triples in these videos (each interval's frames divided by its video's fps, times the
    lab's label_frame_scale: annotation frames per tracking frame)."""
    durations: dict[str, list[float]] = {}
    for vid in video_ids:
        i = store.index(vid)
        fps = float(store.videos["fps"][i]) * (label_frame_scale or {}).get(str(store.videos["lab_id"][i]), 1.0)
        labeled = store.labeled_triples(vid)
        triples = set(zip(labeled["agent"].tolist(), labeled["target"].tolist(), labeled["action"].tolist(),
                          strict=True))
        ann = store.annotations(vid)
        for a, g, act, s, e in zip(ann["agent_id"].tolist(), ann["target_id"].tolist(), ann["action"].tolist(),
                                   ann["start_frame"].tolist(), ann["stop_frame"].tolist(), strict=True):
            if (a, g, act) in triples and e > s:
                durations.setdefault(act, []).append((e - s) / fps)
    return {act: float(np.quantile(d, quantile)) for act, d in sorted(durations.items())}


class Counts:
    """Per (lab, action): frames whose smoothed probability reaches each grid value (all / true)
    and the metric's number of true frames."""

    def __init__(self, grid: np.ndarray):
        self.grid = grid
        self.all: dict[tuple[str, int], np.ndarray] = {}
        self.pos: dict[tuple[str, int], np.ndarray] = {}
        self.total: dict[tuple[str, int], float] = {}
        self.names: tuple[str, ...] | None = None  # the probabilities' vocabulary (column -> action)

    def add(self, video: VideoProbs, truth: np.ndarray, windows: np.ndarray) -> None:
        """One video's labeled cells; windows: (A,) smoothing window per action."""
        if self.names is None:
            self.names = video.vocab.actions
        elif self.names != video.vocab.actions:
            raise DecodeError(f"video {video.video_id}: its probabilities name other actions than the "
                              "other tuning videos' — tune one store vocabulary at a time")
        n = len(self.grid) + 1
        for a in np.flatnonzero(video.labeled.any(axis=0)):
            rows = np.flatnonzero(video.labeled[:, a])
            s = smooth(video.probs[rows][:, :, a:a + 1], int(windows[a]))[..., 0].ravel()
            bins = np.searchsorted(self.grid, s, side="right")
            key = (video.lab_id, int(a))
            for store, c in ((self.all, np.bincount(bins, minlength=n)),
                             (self.pos, np.bincount(bins, weights=truth[rows, :, a].ravel(), minlength=n))):
                # count(s >= grid[j]) for every j
                store[key] = store.get(key, 0) + np.cumsum(c[::-1])[::-1][1:]
            self.total.setdefault(key, 0.0)

    def set_totals(self, solution: pl.DataFrame) -> None:
        """The metric's ground-truth frames per (lab, action) of the tuning videos."""
        index = {a: i for i, a in enumerate(self.names or ())}
        for lab, act, n in truth_frames(solution).iter_rows():
            if (lab, index.get(act)) in self.total:
                self.total[(lab, index[act])] = float(n)

    def best(self, keys: list[tuple[str, int]], beta: float) -> tuple[float | None, float]:
        """(grid value maximising F pooled over `keys`, that F); None when no grid value gives F > 0."""
        tp = sum(self.pos[k] for k in keys)
        pp = sum(self.all[k] for k in keys)
        total = sum(self.total[k] for k in keys)
        if total == 0:
            return None, 0.0
        b2 = beta * beta
        f = (1 + b2) * tp / ((1 + b2) * tp + b2 * (total - tp) + (pp - tp))
        j = int(np.argmax(f))
        return (float(self.grid[j]) if f[j] > 0 else None), float(f[j])


def _truth(videos: list[VideoProbs], source: Store | pl.DataFrame,
           present: set[tuple[str, str]] | None) -> tuple[pl.DataFrame, set[tuple[str, str]]]:
    """(solution of the tuning videos, evidence of presence). Without `present`: a store's
    annotations of every video of the tuning labs; a solution table's own positive rows."""
    if isinstance(source, Store):
        solution = solution_from_store(source, [v.video_id for v in videos])
        if present is None:
            labs = {v.lab_id for v in videos}
            ids = [v for v, lab in zip(source.videos["video_id"], source.videos["lab_id"], strict=True)
                   if str(lab) in labs]
            present = present_actions(source, ids)
        return solution, present
    if present is None:
        present = {(lab, act) for lab, act, n in truth_frames(source).iter_rows() if n > 0}
    return source, present


def _training_bouts(store: Store, videos: list[VideoProbs], config: DecodeConfig) -> dict[str, float]:
    """`bout_seconds` of the store's train-split videos other than the tuning ones."""
    tuned = {v.video_id for v in videos}
    ids = [v for v, split in zip(store.videos["video_id"], store.videos["split"], strict=True)
           if split == "train" and v not in tuned]
    return bout_seconds(store, ids, config.bout_quantile, config.label_frame_scale)


def _choose(counts: Counts, present: set[tuple[str, str]], beta: float, default: float) -> dict:
    """The policy of the module docstring over the counted (lab, action) pairs."""
    by_action: dict[int, list] = {}
    for key in counts.all:
        by_action.setdefault(key[1], []).append(key)
    global_thr = {a: counts.best(keys, beta)[0] for a, keys in by_action.items()}
    out = {}
    for (lab, a) in counts.all:
        thr, _ = counts.best([(lab, a)], beta)
        if thr is None and counts.total[(lab, a)] == 0 and (lab, counts.names[a]) not in present:
            thr = NEVER
        elif thr is None:
            thr = global_thr[a] if global_thr[a] is not None else default
        out[(lab, counts.names[a])] = thr
    return out


def tune_thresholds(videos: Iterable[VideoProbs], source: Store | pl.DataFrame, *,
                    truths: list[np.ndarray] | None = None, config: DecodeConfig | None = None,
                    present: set[tuple[str, str]] | None = None, grid: Iterable[float] = GRID,
                    beta: float = 1.0, bout_s: dict[str, float] | None = None) -> TunedThresholds:
    """Per (lab, action) thresholds with the global fallback (module docstring).

    source: the store whose annotations are the truth, or the solution table of these videos.
    truths: each video's `decode.truth_raster` when the caller already has them (validation shares
    them with its loss). present: (lab, action) pairs the labs show anywhere (default: see _truth).
    bout_s: per-action bouts for config.per_action (default from a store source: `bout_seconds` of
    its train-split videos other than these); they are returned with the thresholds."""
    config = config or DecodeConfig()
    counts = Counts(np.asarray(sorted(grid), dtype=np.float64))
    videos = list(videos)
    solution, present = _truth(videos, source, present)
    if config.per_action and bout_s is None and isinstance(source, Store):
        bout_s = _training_bouts(source, videos, config)
    truths = truths if truths is not None else [truth_raster(v, solution, config.scale(v.lab_id)) for v in videos]
    for v, truth in zip(videos, truths, strict=True):
        counts.add(v, truth, config.frames(v.fps, bout_s, v.vocab).smooth)  # Counts reads labeled cells only
    counts.set_totals(solution)
    out = _choose(counts, present, beta, config.threshold)
    return TunedThresholds(out, bout_s if config.per_action else None)
