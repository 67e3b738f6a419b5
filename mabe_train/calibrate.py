"""Per-(lab, action) thresholds that never silence an action for lack of validation evidence.

Why: `decode.tune_thresholds` gives NEVER to a (lab, action) that its validation videos do not
show. With one or two validation videos per lab that is often chance, not evidence: the pair model
scored CRIM13 `rear` F = 0 on held-out videos that had it (a quarter of CRIM13's score). Here:
- a (lab, action) with true frames in the tuning videos gets the grid value maximising its pooled F;
- one without, but `present` elsewhere in the lab (e.g. in its training videos), gets the action's
  global threshold: the value maximising F pooled over every lab's tuning frames;
- NEVER only when the action is absent from all the lab's evidence (README rule 4: some labs
  whitelist actions they never show, and emitting those adds an F = 0 action to the lab's mean).
With cross-validation (mabe_train.cv) the tuning videos are the out-of-fold predictions of every
training video, so "absent" means absent from the whole lab.

Counts are frame counts over labeled (pair, action) cells after the decoder's smoothing, from one
histogram per (video, action) for all grid values at once (no argmax, no bout cleaning: the same
trade-off as decode.tune_thresholds). Truth is `decode.truth_raster` of the store's annotations.
Two tuning policies exist: `decode.tune_thresholds` (a sequence run's own validation: NEVER where
its validation videos lack an action, false negatives counted as the metric does, over every
ground-truth row) and this one (out-of-fold evidence, the global fallback, false negatives over the
labeled cells); merging them would change the pair model's validation figures, so it waits for the
sequence models to get out-of-fold predictions too.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mabe_store.constants import ACTIONS
from mabe_store.reader import Store
from mabe_train.decode import DEFAULT_GRID, NEVER, DecodeConfig, VideoProbs, smooth, truth_raster
from mabe_train.submission import solution_from_store

# decode's 0.05-0.95 grid plus its ends: a GBDT's probability for a rare action (run, defend, climb)
# often peaks below 0.05. Semi-real GBDT cv run: OOF 0.7795 -> 0.7865, held-out 0.8269 -> 0.8297.
GRID = tuple(sorted({*DEFAULT_GRID, 0.01, 0.02, 0.03, 0.04, 0.97, 0.98}))


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


class Counts:
    """Per (lab, action): frames whose smoothed probability reaches each grid value (all / true)
    and the number of true frames."""

    def __init__(self, grid: np.ndarray):
        self.grid = grid
        self.all: dict[tuple[str, int], np.ndarray] = {}
        self.pos: dict[tuple[str, int], np.ndarray] = {}
        self.total: dict[tuple[str, int], float] = {}

    def add(self, video: VideoProbs, truth: np.ndarray, window: int) -> None:
        n = len(self.grid) + 1
        for a in np.flatnonzero(video.labeled.any(axis=0)):
            rows = np.flatnonzero(video.labeled[:, a])
            s = smooth(video.probs[rows][:, :, a:a + 1], window)[..., 0].ravel()
            y = truth[rows, :, a].ravel()
            bins = np.searchsorted(self.grid, s, side="right")
            key = (video.lab_id, int(a))
            for store, c in ((self.all, np.bincount(bins, minlength=n)),
                             (self.pos, np.bincount(bins, weights=y, minlength=n))):
                # count(s >= grid[j]) for every j
                store[key] = store.get(key, 0) + np.cumsum(c[::-1])[::-1][1:]
            self.total[key] = self.total.get(key, 0.0) + float(y.sum())

    def best(self, keys: list[tuple[str, int]], beta: float) -> tuple[float | None, float]:
        """(grid value maximising F pooled over `keys`, that F); None when no true frame."""
        tp = sum(self.pos[k] for k in keys)
        pp = sum(self.all[k] for k in keys)
        total = sum(self.total[k] for k in keys)
        if total == 0:
            return None, 0.0
        b2 = beta * beta
        f = (1 + b2) * tp / ((1 + b2) * tp + b2 * (total - tp) + (pp - tp))
        j = int(np.argmax(f))
        return (float(self.grid[j]) if f[j] > 0 else None), float(f[j])


def tune_thresholds(videos: Iterable[VideoProbs], store: Store, *, config: DecodeConfig | None = None,
                    present: set[tuple[str, str]] = frozenset(), grid: Iterable[float] = GRID,
                    beta: float = 1.0) -> dict[tuple[str, str], float]:
    """Per (lab, action) thresholds with the global fallback (module docstring)."""
    config = config or DecodeConfig()
    counts = Counts(np.asarray(sorted(grid), dtype=np.float64))
    videos = list(videos)
    solution = solution_from_store(store, [v.video_id for v in videos])
    for v in videos:
        counts.add(v, truth_raster(v, solution), config.smooth)  # Counts reads labeled cells only
    by_action: dict[int, list] = {}
    for key in counts.all:
        by_action.setdefault(key[1], []).append(key)
    global_thr = {a: counts.best(keys, beta)[0] for a, keys in by_action.items()}
    out = {}
    for (lab, a) in counts.all:
        thr, _ = counts.best([(lab, a)], beta)
        if thr is None and counts.total[(lab, a)] == 0 and (lab, ACTIONS[a]) not in present:
            thr = NEVER
        elif thr is None:
            thr = global_thr[a] if global_thr[a] is not None else config.threshold
        out[(lab, ACTIONS[a])] = thr
    return out
