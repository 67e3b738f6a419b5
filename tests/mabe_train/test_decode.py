"""Decoding probabilities into intervals, and per-lab threshold tuning (mabe_train.calibrate)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mabe_store.constants import ACTION_INDEX, ACTIONS, SELF_ACTIONS
from mabe_train.calibrate import tune_thresholds
from mabe_train.decode import (
    NEVER,
    DecodeConfig,
    DecodeError,
    VideoProbs,
    clean_track,
    decode,
    decode_video,
    smooth,
    threshold_vector,
    truth_raster,
)
from mabe_train.metric import score
from mabe_train.pairs.scoring import thresholds_artefact
from mabe_train.runs.files import THRESHOLDS_FILE, RunError, load_thresholds
from mabe_train.submission import write_submission

A = len(ACTIONS)
SNIFF, ATTACK, REAR = ACTION_INDEX["sniff"], ACTION_INDEX["attack"], ACTION_INDEX["rear"]


def _labeled(p, *actions):
    m = np.zeros((p, A), dtype=bool)
    m[:, [ACTION_INDEX[a] for a in actions]] = True
    return m


def test_synthetic_curve_decodes_to_exact_intervals():
    probs = np.zeros((1, 100, A), dtype=np.float32)
    probs[0, 10:30, SNIFF] = 0.9
    probs[0, 20:22, SNIFF] = 0.1  # a 2-frame dip: closed by max_gap=3
    probs[0, 40:45, ATTACK] = 0.8  # a 5-frame bout: dropped by min_bout=6
    probs[0, 60:80, ATTACK] = 0.7
    probs[0, 70:90, SNIFF] = 0.95  # beats attack where both are above threshold
    v = VideoProbs(5, "L", [(1, 2)], probs, _labeled(1, "sniff", "attack"))
    out = decode_video(v, DecodeConfig(min_bout=6, max_gap=3))
    assert out.rows() == [("5", "mouse1", "mouse2", "sniff", 10, 30), ("5", "mouse1", "mouse2", "attack", 60, 70),
                          ("5", "mouse1", "mouse2", "sniff", 70, 90)]


def test_unlabeled_actions_are_never_emitted_and_self_pairs_read_self():
    probs = np.zeros((2, 20, A), dtype=np.float32)
    probs[:, 5:15, REAR] = 1.0
    probs[:, 5:15, SNIFF] = 0.9
    v = VideoProbs(7, "L", [(2, 2), (1, 2)], probs,
                   np.stack([_labeled(1, "rear")[0], _labeled(1, "sniff")[0]]))
    assert decode_video(v).rows() == [("7", "mouse2", "self", "rear", 5, 15), ("7", "mouse1", "mouse2", "sniff", 5, 15)]


def test_smoothing_keeps_step_edges_and_removes_spikes():
    x = np.zeros((1, 40, A), dtype=np.float32)
    x[0, 10:30, SNIFF] = 1.0
    x[0, 35, SNIFF] = 1.0
    s = smooth(x, 5)
    assert s[0, 10, SNIFF] == pytest.approx(0.6) and s[0, 9, SNIFF] == pytest.approx(0.4)
    assert s[0, 0, SNIFF] == 0 and s[0, 35, SNIFF] == pytest.approx(0.2)
    v = VideoProbs(1, "L", [(1, 2)], x, _labeled(1, "sniff"))
    assert decode_video(v, DecodeConfig(smooth=5)).select("start_frame", "stop_frame").rows() == [(10, 30)]


def test_clean_track_fills_only_gaps_between_the_same_action():
    t = np.array([-1, 0, 0, -1, -1, 0, -1, 1, 1, 1, -1, 0])
    assert clean_track(t, 1, 2).tolist() == [-1, 0, 0, 0, 0, 0, -1, 1, 1, 1, -1, 0]
    assert clean_track(t, 3, 2).tolist() == [-1, 0, 0, 0, 0, 0, -1, 1, 1, 1, -1, -1]


def test_a_video_labeling_nothing_decodes_to_no_rows():
    v = VideoProbs(1, "L", [(1, 2)], np.ones((1, 10, A), np.float32), np.zeros((1, A), bool))
    assert decode_video(v).height == 0 and decode_video(VideoProbs(1, "L", [(1, 2)], np.ones((1, 0, A)),
                                                                   _labeled(1, "sniff"))).height == 0


def test_shapes_are_checked():
    with pytest.raises(DecodeError, match="smooth must be >= 1, got 0; max_gap must be >= 0, got -1"):
        DecodeConfig(smooth=0, max_gap=-1)
    with pytest.raises(DecodeError, match=r"probs has shape \(1, 10, 5\), expected \(2, T, 37\)"):
        VideoProbs(1, "L", [(1, 2), (2, 1)], np.zeros((1, 10, 5)), np.zeros((1, A), bool))


def test_self_and_other_pairs_decode_to_their_target_ids():
    labeled = np.concatenate([_labeled(1, "rear"), _labeled(1, "sniff")])
    out = decode_video(VideoProbs(3, "L", [(1, 1), (1, 2)], np.full((2, 8, A), 0.9, np.float32), labeled))
    assert out.select("target_id", "action").rows() == [("self", "rear"), ("mouse2", "sniff")]


def _random_video(rng, vid, lab):
    n_mice = int(rng.integers(2, 5))
    pairs = [(a, t) for a in range(1, n_mice + 1) for t in range(1, n_mice + 1)]
    labeled = np.zeros((len(pairs), A), dtype=bool)
    for i, (a, t) in enumerate(pairs):
        pool = [ACTION_INDEX[x] for x in (SELF_ACTIONS if a == t else ("sniff", "attack", "mount", "approach"))]
        labeled[i, rng.choice(pool, size=int(rng.integers(1, 4)), replace=False)] = True
    T = int(rng.integers(50, 300))
    probs = rng.random((len(pairs), T, A)).astype(np.float32) ** 2
    return VideoProbs(vid, lab, pairs, probs, labeled)


def _entries(v):
    return [f"mouse{a},{'self' if a == t else f'mouse{t}'},{ACTIONS[x]}"
            for (a, t), row in zip(v.pairs, v.labeled, strict=True) for x in np.flatnonzero(row)]


@pytest.mark.parametrize("seed", range(12))
def test_decoded_rows_never_trip_the_metric(seed, tmp_path):
    rng = np.random.default_rng(seed)
    videos = [_random_video(rng, 100 + k, f"Lab{k % 2}") for k in range(3)]
    cfg = DecodeConfig(smooth=int(rng.integers(1, 6)), threshold=float(rng.uniform(0.2, 0.7)),
                       min_bout=int(rng.integers(1, 4)), max_gap=int(rng.integers(0, 4)))
    out = decode(videos, cfg)
    assert out.height > 0
    sol = pl.DataFrame([(v.video_id, "mouse1", "mouse2", "sniff", 0, 10, v.lab_id, json.dumps(_entries(v)))
                        for v in videos], orient="row",
                       schema=["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame",
                               "lab_id", "behaviors_labeled"])
    score(sol, out)
    write_submission(out, tmp_path / "s.csv", {str(v.video_id): set(_entries(v)) for v in videos})


def _tuning_case():
    """Lab A's sniff is under-confident (0.3 on true frames), lab B's over-confident (0.6 on false
    ones); both label attack, which only lab A's truth shows (frames 0-40, probability 0.55)."""
    T = 200
    truth = np.zeros(T, bool)
    truth[50:100] = truth[150:180] = True
    videos, rows = [], []
    for vid, lab, on, off in ((1, "A", 0.3, 0.05), (2, "B", 0.9, 0.6)):
        probs = np.zeros((1, T, A), np.float32)
        probs[0, :, SNIFF] = np.where(truth, on, off)
        probs[0, : 40 if lab == "A" else T, ATTACK] = 0.55
        videos.append(VideoProbs(vid, lab, [(1, 2)], probs, _labeled(1, "sniff", "attack")))
        labeled = json.dumps(["mouse1,mouse2,sniff", "mouse1,mouse2,attack"])
        rows += [(vid, "mouse1", "mouse2", "sniff", s, e, lab, labeled) for s, e in ((50, 100), (150, 180))]
    attack_a = (1, "mouse1", "mouse2", "attack", 0, 40, "A", rows[0][7])
    sol = pl.DataFrame([*rows, attack_a], orient="row", schema=["video_id", "agent_id", "target_id", "action",
                                                                "start_frame", "stop_frame", "lab_id",
                                                                "behaviors_labeled"])
    return videos, sol


def test_tuned_thresholds_beat_a_fixed_half(tmp_path):
    videos, sol = _tuning_case()
    thr = tune_thresholds(videos, sol)
    assert 0.05 < thr[("A", "sniff")] <= 0.3 and 0.6 < thr[("B", "sniff")] <= 0.9
    assert thr[("B", "attack")] == NEVER and thr[("A", "attack")] <= 0.55
    fixed, tuned = score(sol, decode(videos)), score(sol, decode(videos, thresholds=thr))
    # fixed 0.5: lab A never emits sniff (F 0, attack 1); lab B emits sniff on all 200 frames (80 true)
    assert fixed == pytest.approx((0.5 + 160 / 280) / 2) and tuned == pytest.approx(1.0)
    artefact = thresholds_artefact(thr, 0.5)
    assert json.loads(json.dumps(artefact)) == artefact  # JSON-ready, as checkpoints and thresholds.json hold it
    assert load_thresholds({THRESHOLDS_FILE: artefact}, tmp_path) == thr
    with pytest.raises(RunError, match="carries no thresholds.json"):  # the one loader's one error
        load_thresholds({}, tmp_path)


def test_truth_raster_is_the_solution_on_the_video_pairs_and_tuning_can_share_it():
    videos, sol = _tuning_case()
    truths = [truth_raster(v, sol) for v in videos]
    assert truths[0].shape == (1, 200, A) and truths[0].dtype == bool
    assert truths[0][0, :, SNIFF].nonzero()[0].tolist() == [*range(50, 100), *range(150, 180)]
    assert truths[0][0, :, ATTACK].nonzero()[0].tolist() == list(range(40)) and not truths[1][0, :, ATTACK].any()
    assert tune_thresholds(videos, sol, truths=truths) == tune_thresholds(videos, sol)
    flipped = [np.zeros_like(t) for t in truths]  # the given rasters are used, not recomputed
    assert tune_thresholds(videos, sol, truths=flipped) != tune_thresholds(videos, sol)


def test_a_lab_without_tuned_thresholds_gets_each_actions_median_over_the_other_labs():
    thr = {("A", "sniff"): 0.2, ("B", "sniff"): 0.4, ("C", "sniff"): 0.9, ("A", "attack"): NEVER,
           ("B", "attack"): 0.3}
    v = threshold_vector("Unseen", thr, 0.5)
    assert v[SNIFF] == pytest.approx(0.4) and v[ATTACK] == pytest.approx(0.3) and v[REAR] == 0.5
    known = threshold_vector("A", thr, 0.5)
    assert known[SNIFF] == pytest.approx(0.2) and known[ATTACK] == NEVER and known[REAR] == 0.5
