"""The one rule that combines several runs' probabilities: a weighted mean of centred log-odds.

Used by every combination of runs: an ensemble (`mabe-train ensemble`), a cv run's folds, and a
bundle that holds several runs. Each member's probability is centred on its own (lab, action)
threshold in log-odds,
    z_i = logit(p_i) - logit(c_i(lab, action)),
so 0 means "at the member's decision boundary", and the blend is sigmoid(sum_i w_i z_i). Members on
different scales (a GBDT and a sequence model) are centred on their tuned thresholds; members on one
scale (the folds of one cv run, whose own thresholds were tuned on a few videos) are centred at 0.5,
i.e. their log-odds are averaged as they are. A NEVER threshold centres at 0.5.
Why this rule: on the semi-real store (GBDT cv + pair model, 10 held-out videos) it scored 0.8375
where the arithmetic mean of probabilities scored 0.8221; for a GBDT cv run's 4 fold models (a
small semi-real store: 24 videos at scale 0.2, 6 held out; bench/fold_blend.py) 0.7349 against
0.7044 for their mean probability (the rule the folds used before). One member is itself (no blend), so a
single run decodes exactly as `predict` decodes it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from mabe_train import MabeTrainError
from mabe_train.decode import NEVER, TunedThresholds, VideoProbs, threshold_vector

EPS = 1e-5
AT_HALF: dict = {}  # the centres of a member on a shared scale: every threshold 0.5


class BlendError(MabeTrainError, ValueError):
    """Members that cannot be blended; the message says which and why."""


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def centred_logits(video: VideoProbs, thresholds: Mapping) -> np.ndarray:
    """(P, T, A) log-odds of `video` minus those of its (lab, action) thresholds (NEVER or none -> 0.5)."""
    thr = threshold_vector(video.lab_id, thresholds, 0.5)
    thr = np.where(thr >= NEVER, 0.5, thr)
    return logit(video.probs) - logit(thr)[None, None, :]


def blend(videos: Sequence[VideoProbs], centres: Sequence[Mapping], weights: Sequence[float]) -> VideoProbs:
    """One video's members (same pairs) -> sigmoid(sum_i w_i z_i); a single member is returned as is."""
    first = videos[0]
    if len(videos) == 1:
        return first
    for v in videos[1:]:
        if v.pairs != first.pairs:
            raise BlendError(f"video {first.video_id}: members predict different pairs ({first.pairs} vs "
                             f"{v.pairs}) — were they made from stores with other behaviors_labeled?")
    zs = [centred_logits(v, c) for v, c in zip(videos, centres, strict=True)]
    probs = blend_logodds(zs, weights) * first.labeled[:, None, :]
    return VideoProbs(first.video_id, first.lab_id, first.pairs, probs, first.labeled, first.fps)


def blend_logodds(zs: Sequence[np.ndarray], weights: Sequence[float], has: np.ndarray | None = None) -> np.ndarray:
    """sigmoid(sum_i w_i z_i) of centred (P, T, A) log-odds, as float32. `has` (M, P, A) bool: which
    member predicts which (pair, action) (a GBDT fold without a booster for it does not); a cell is
    then blended over the members that predict it (weights renormalised), and is 0 where none does."""
    if has is None:
        z = sum(w * z for z, w in zip(zs, weights, strict=True) if w > 0)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    w = np.asarray(weights, dtype=np.float64)[:, None, None] * has  # (M, P, A)
    total = w.sum(axis=0)[:, None, :]  # (P, 1, A)
    z = sum(wi[:, None, :] * z for z, wi in zip(zs, w, strict=True)) / np.where(total > 0, total, 1.0)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32) * (total > 0)


def blend_all(per_member: Sequence[Sequence[VideoProbs]], centres: Sequence[Mapping],
              weights: Sequence[float]) -> list[VideoProbs]:
    """`blend` video by video over members that predicted the same videos in the same order."""
    ids = [[v.video_id for v in vs] for vs in per_member]
    if any(i != ids[0] for i in ids[1:]):
        raise BlendError(f"members predicted different videos ({ids[0][:5]} vs {next(i for i in ids if i != ids[0])[:5]})")
    return [blend(list(vs), centres, weights) for vs in zip(*per_member, strict=True)]


def equal_weights(m: int) -> tuple[float, ...]:
    return tuple([1.0 / m] * m)


def weight_grid(m: int) -> list[tuple[float, ...]]:
    """Candidate weights over the simplex: step 0.1 for 2 members, 0.25 for 3+."""
    step = 0.1 if m == 2 else 0.25
    n = round(1 / step)
    return [tuple(k / n for k in c) for c in itertools.product(range(n + 1), repeat=m) if sum(c) == n]


def default_thresholds(per_member: Sequence[Mapping]) -> TunedThresholds:
    """The blend's thresholds without evidence to tune them: 0.5 (every member's boundary, after
    centring), NEVER where every member says NEVER; the per-action bouts of the first member with some."""
    keys = {k for t in per_member for k in t}
    values = {k: NEVER if all(t.get(k, NEVER) >= NEVER for t in per_member) else 0.5 for k in keys}
    bouts = next((t.bout_s for t in per_member if getattr(t, "bout_s", None)), None)
    return TunedThresholds(values, bouts)
