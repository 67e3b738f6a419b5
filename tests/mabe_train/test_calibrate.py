"""The one tuning policy's store evidence (mabe_train.calibrate), per-action bouts in seconds
(DecodeConfig.per_action) and the per-lab label frame scale (DecodeConfig.label_frame_scale)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mabe_store.constants import ACTION_INDEX, ACTIONS
from mabe_store.reader import open_store
from mabe_train.calibrate import bout_seconds, tune_thresholds
from mabe_train.decode import (
    DecodeConfig,
    DecodeError,
    TunedThresholds,
    VideoProbs,
    decode,
    thresholds_artefact,
    thresholds_from_artefact,
    truth_raster,
)
from mabe_train.metric import score
from mabe_train.pairs.labels import pair_intervals
from mabe_train.submission import labeled_entries, solution_from_store, write_submission
from tests.mabe_train.gbdt.conftest import make_gbdt_store

A = len(ACTIONS)
SNIFF = ACTION_INDEX["sniff"]
WL = json.dumps(["mouse1,mouse2,sniff"])


def _video(vid, lab, fps, on: list[tuple[int, int]], t=300) -> VideoProbs:
    probs = np.zeros((1, t, A), np.float32)
    for s, e in on:
        probs[0, s:e, SNIFF] = 0.9
    labeled = np.zeros((1, A), bool)
    labeled[0, SNIFF] = True
    return VideoProbs(vid, lab, [(1, 2)], probs, labeled, fps)


# -- per-action bouts in seconds -------------------------------------------------------------------
def test_per_action_frames_follow_each_videos_fps():
    cfg = DecodeConfig(smooth=5, min_bout=3, max_gap=3, per_action=True)
    at30, at10 = cfg.frames(30.0, {"sniff": 0.5}), cfg.frames(10.0, {"sniff": 0.5})
    assert (at30.min_bout[SNIFF], at30.smooth[SNIFF], at30.max_gap[SNIFF]) == (15, 8, 8)
    assert (at10.min_bout[SNIFF], at10.smooth[SNIFF], at10.max_gap[SNIFF]) == (5, 2, 2)
    other = ACTION_INDEX["attack"]  # no training bouts: the frame values
    assert (at30.min_bout[other], at30.smooth[other], at30.max_gap[other]) == (3, 5, 3)
    with pytest.raises(DecodeError, match="bout_s"):
        cfg.frames(30.0, None)
    with pytest.raises(DecodeError, match="fps"):
        cfg.frames(None, {"sniff": 0.5})


@pytest.mark.parametrize("fps", [10.0, 30.0, 120.0])
def test_a_bout_shorter_than_the_actions_minimum_in_seconds_is_dropped_at_every_fps(fps):
    """0.5 s minimum: a 0.3 s bout goes, a 1 s bout stays, whatever the frame rate."""
    f = lambda s: round(s * fps)  # noqa: E731
    v = _video(1, "L", fps, [(f(1), f(1.3)), (f(3), f(4))], t=f(6))
    cfg = DecodeConfig(per_action=True, bout_fraction=0.0)
    thr = TunedThresholds({("L", "sniff"): 0.5}, {"sniff": 0.5})
    out = decode([v], cfg, thr)
    assert out.select("start_frame", "stop_frame").rows() == [(f(3), f(4))]
    assert decode([v], DecodeConfig(), thr).height == 2  # frame mode: both bouts


def test_bouts_travel_with_the_thresholds_artefact():
    thr = TunedThresholds({("L", "sniff"): 0.4}, {"sniff": 0.25})
    back = thresholds_from_artefact(json.loads(json.dumps(thresholds_artefact(thr, 0.7))))
    assert back == thr and back.bout_s == {"sniff": 0.25}
    plain = thresholds_from_artefact(thresholds_artefact({("L", "sniff"): 0.4}, 0.7))
    assert plain.bout_s is None and "bout_s" not in thresholds_artefact(plain, 0.7)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(make_gbdt_store(tmp_path_factory.mktemp("cal") / "s.zarr"))


def test_bout_seconds_are_quantiles_of_labeled_interval_durations(store):
    ids = [int(v) for v in store.videos["video_id"]]
    got = bout_seconds(store, ids, 0.25)
    durations: dict[str, list[float]] = {}
    for vid in ids:
        fps = float(store.videos["fps"][store.index(vid)])
        ann = store.annotations(vid)
        for act, s, e in zip(ann["action"].tolist(), ann["start_frame"].tolist(), ann["stop_frame"].tolist(),
                             strict=True):
            durations.setdefault(act, []).append((e - s) / fps)
    assert set(got) == set(durations) and "rear" not in got  # rear: labeled, never shown
    for act, d in durations.items():
        assert got[act] == pytest.approx(float(np.quantile(d, 0.25)))
    scaled = bout_seconds(store, ids, 0.25, {"Lab0": 2.0, "Lab1": 2.0})
    assert all(scaled[a] == pytest.approx(got[a] / 2) for a in got)


def test_tuning_with_per_action_bouts_returns_them_from_the_training_videos(store):
    ids = [int(v) for v in store.videos["video_id"]]
    labeled = np.zeros((1, A), bool)
    labeled[0, [ACTION_INDEX[a] for a in ("sniff", "attack", "mount")]] = True
    val = [VideoProbs(v, str(store.videos["lab_id"][store.index(v)]), [(1, 2)],
                      np.full((1, 400, A), 0.6, np.float32) * labeled[:, None], labeled,
                      float(store.videos["fps"][store.index(v)])) for v in ids[:2]]
    thr = tune_thresholds(val, store, config=DecodeConfig(per_action=True, bout_quantile=0.1))
    assert thr.bout_s == bout_seconds(store, ids[2:], 0.1)  # the videos it tunes on are left out
    assert tune_thresholds(val, store).bout_s is None


# -- per-lab label frame scale ----------------------------------------------------------------------
def test_a_scaled_labs_labels_land_on_its_tracking_frames_and_submissions_map_back(tmp_path):
    """Labels counted at 30 fps over tracking at 25 fps (scale 1.2): label [30, 60) is tracking
    [25, 50); a prediction on tracking [25, 50) is written as [30, 60) and scores 1.0."""
    cfg = DecodeConfig(label_frame_scale={"Snail": 1.2})
    sol = pl.DataFrame([(1, "mouse1", "mouse2", "sniff", 30, 60, "Snail", WL),
                        (2, "mouse1", "mouse2", "sniff", 30, 60, "Plain", WL)], orient="row",
                       schema=["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame",
                               "lab_id", "behaviors_labeled"])
    snail, plain = _video(1, "Snail", 25.0, [(25, 50)], t=100), _video(2, "Plain", 30.0, [(30, 60)], t=100)
    assert np.flatnonzero(truth_raster(snail, sol, cfg.scale("Snail"))[0, :, SNIFF]).tolist() == list(range(25, 50))
    assert np.flatnonzero(truth_raster(plain, sol, cfg.scale("Plain"))[0, :, SNIFF]).tolist() == list(range(30, 60))
    ann = {"agent_id": np.array([1]), "target_id": np.array([2]), "action": np.array(["sniff"]),
           "start_frame": np.array([30]), "stop_frame": np.array([60])}
    assert pair_intervals(ann, 1, 2, 100, cfg.scale("Snail")).tolist() == [[SNIFF, 25, 50]]
    thr = {("Snail", "sniff"): 0.5, ("Plain", "sniff"): 0.5}
    sub = decode([snail, plain], cfg, thr)
    path = tmp_path / "s.csv"
    write_submission(sub, path, {"1": {"mouse1,mouse2,sniff"}, "2": {"mouse1,mouse2,sniff"}})
    back = pl.read_csv(path)
    assert back.select("video_id", "start_frame", "stop_frame").rows() == [(1, 30, 60), (2, 30, 60)]
    assert score(sol, back) == 1.0
    assert score(sol, decode([snail, plain], DecodeConfig(), thr)) < 1.0  # unscaled: off by 5 frames


def test_the_store_solution_and_entries_are_in_label_frames(store):
    """The scale is applied where labels are rasterised and rows written, never to the solution."""
    vid = int(store.videos["video_id"][0])
    sol = solution_from_store(store, [vid])
    ann = store.annotations(vid)
    assert sol["start_frame"].to_list() == ann["start_frame"].astype(int).tolist()
    assert labeled_entries(store, [vid])[str(vid)]
