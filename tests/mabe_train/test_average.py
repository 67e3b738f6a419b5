"""average_probs / average_thresholds: the ensemble rule of submit (and of ensembles of any run kind)."""

import numpy as np
import pytest

from mabe_store.constants import ACTIONS
from mabe_train.average import average_probs, average_thresholds
from mabe_train.decode import DecodeError, VideoProbs

A = len(ACTIONS)


def vp(vid, pairs, value, t=5, labeled_action=0):
    probs = np.full((len(pairs), t, A), value, dtype=np.float32)
    labeled = np.zeros((len(pairs), A), dtype=bool)
    labeled[:, labeled_action] = True
    return VideoProbs(vid, "LabA", list(pairs), probs, labeled)


def test_mean_per_video_and_pair_over_the_runs_that_have_it():
    run1 = [vp(1, [(1, 2), (1, 1)], 0.2), vp(2, [(1, 2)], 0.9)]
    run2 = [vp(1, [(1, 2)], 0.6, labeled_action=3)]  # no self pair, no video 2
    out = {v.video_id: v for v in average_probs([run1, run2])}
    assert list(out) == [1, 2] and out[1].pairs == [(1, 2), (1, 1)]
    np.testing.assert_allclose(out[1].probs[0], 0.4)  # (0.2 + 0.6) / 2
    np.testing.assert_allclose(out[1].probs[1], 0.2)  # only run1 has the self pair
    np.testing.assert_allclose(out[2].probs, 0.9)
    assert out[1].labeled[0, 0] and out[1].labeled[0, 3] and not out[1].labeled[1, 3]  # union
    assert run1[0].probs[0, 0, 0] == np.float32(0.2)  # inputs untouched


def test_one_run_is_itself_and_lengths_must_agree():
    run = [vp(7, [(2, 1)], 0.3)]
    (same,) = average_probs([run])
    np.testing.assert_array_equal(same.probs, run[0].probs)
    with pytest.raises(DecodeError, match="disagree"):
        average_probs([[vp(7, [(2, 1)], 0.3, t=5)], [vp(7, [(2, 1)], 0.3, t=6)]])


def test_thresholds_mean_over_runs_that_tuned_one():
    got = average_thresholds([{("L", "sniff"): 0.2, ("L", "rear"): 2.0}, {("L", "sniff"): 0.4}])
    assert got == pytest.approx({("L", "sniff"): 0.3, ("L", "rear"): 2.0})
