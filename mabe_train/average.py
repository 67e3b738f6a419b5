"""Averaging the probabilities of several bundled runs, the rule `mabe-train submit` applies when a
bundle holds more than one run. A calibrated blend (each member centred on its own thresholds, weights
tuned on out-of-fold videos) is `mabe-train ensemble`; it measured better on the semi-real benchmark
(0.8375 vs 0.8221 for a raw mean), so to submit a blend, bundle the ensemble run (its members
travel inside it) rather than its members side by side.

Every run kind hands over `decode.VideoProbs` (probs (P, T, A) over a video's labeled pairs), so an
ensemble of any runs is the mean of their probs per (video, pair), decoded once. Averaging before
decoding, not voting on decoded intervals, keeps one label per pair and frame (the metric's overlap
rule) and lets a confident run outweigh two hesitant ones. A (video, pair) that only some runs
predict (a run that failed on a video, or a kind that skips self pairs) is averaged over the runs
that have it, so one missing member never zeroes a pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from mabe_train.decode import DecodeError, VideoProbs


def average_probs(per_run: Sequence[Iterable[VideoProbs]]) -> list[VideoProbs]:
    """Mean probs per (video, pair) over the runs that predict it; videos in first-seen order.

    `labeled` is the union over runs (a run only masks triples the video labels, so they agree on
    real data). DecodeError when two runs disagree on a video's number of frames.
    """
    sums: dict[object, dict[tuple[int, int], list]] = {}
    lab: dict[object, str] = {}
    fps: dict[object, float | None] = {}
    for videos in per_run:
        for v in videos:
            lab.setdefault(v.video_id, v.lab_id)
            fps.setdefault(v.video_id, v.fps)
            pairs = sums.setdefault(v.video_id, {})
            for k, pair in enumerate(v.pairs):
                p = v.probs[k].astype(np.float32)
                if pair not in pairs:
                    pairs[pair] = [p.copy(), v.labeled[k].copy(), 1]
                    continue
                acc = pairs[pair]
                if acc[0].shape != p.shape:
                    raise DecodeError(f"video {v.video_id} pair {pair}: runs disagree on its shape "
                                      f"({acc[0].shape} vs {p.shape}) — were they given the same store?")
                acc[0] += p
                acc[1] |= v.labeled[k]
                acc[2] += 1
    out = []
    for vid, pairs in sums.items():
        keys = list(pairs)
        probs = np.stack([pairs[k][0] / pairs[k][2] for k in keys])
        labeled = np.stack([pairs[k][1] for k in keys])
        out.append(VideoProbs(vid, lab[vid], keys, probs, labeled, fps[vid]))
    return out


def average_thresholds(per_run: Sequence[Mapping[tuple[str, str], float]]) -> dict[tuple[str, str], float]:
    """Mean threshold per (lab, action) over the runs that tuned one. The runs' thresholds were
    tuned on their own probabilities; the mean is the simple choice for their mean (a NEVER in
    one run pulls the key up, usually past 1, i.e. the action stays silent)."""
    keys: dict[tuple[str, str], list[float]] = {}
    for thr in per_run:
        for k, v in thr.items():
            keys.setdefault(k, []).append(float(v))
    return {k: sum(v) / len(v) for k, v in keys.items()}
