"""A lab's own behaviours through mabe_train: the vocabulary comes from the store or the run, an
annotation stream stays mutually exclusive when decoded while streams may overlap, and `cv`
writes oof_predictions.csv plus the per-behaviour table."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mabe_store.reader import open_store
from mabe_train.config import load_config
from mabe_train.cv import run_cv
from mabe_train.cv.outputs import read_per_behaviour
from mabe_train.decode import DecodeConfig, VideoProbs, decode_video
from mabe_train.intervals import INTERVAL_COLUMNS
from mabe_train.metric import MetricError, check_overlaps, score_details
from mabe_train.submission import solution_from_store
from mabe_train.vocab import MABE, Vocabulary, VocabularyMismatch, check_same, exclusive_groups
from tests.mabe_train.own_stores import OWN_VOCABULARY, make_own_store

V = OWN_VOCABULARY
IX = V.index


@pytest.fixture(scope="module")
def own_store(tmp_path_factory):
    return make_own_store(tmp_path_factory.mktemp("own") / "own.zarr")


def _probs(values: dict[str, list[float]]) -> VideoProbs:
    """One pair (1, 2), every pair behaviour labeled, probabilities per frame given per behaviour."""
    t = len(next(iter(values.values())))
    probs = np.zeros((1, t, len(V.actions)), np.float32)
    for name, p in values.items():
        probs[0, :, IX[name]] = p
    labeled = np.ones((1, len(V.actions)), bool)
    labeled[0, IX["groom"]] = False
    return VideoProbs(7, "Lab0", [(1, 2)], probs, labeled, 30.0, V)


def test_groups_are_the_streams_and_mabe_is_one_group():
    groups = sorted(sorted(V.actions[i] for i in g) for g in exclusive_groups(V))
    assert groups == [["bite"], ["climb"], ["fight", "investigate"], ["groom"]]
    assert [g.tolist() for g in exclusive_groups(MABE)] == [list(range(37))]


def test_decoding_keeps_a_stream_exclusive_and_lets_streams_overlap():
    hi, lo, no = [0.9] * 10, [0.7] * 10, [0.0] * 10
    out = decode_video(_probs({"fight": hi, "investigate": lo, "bite": hi, "climb": lo}), DecodeConfig())
    got = {(r["action"], r["start_frame"], r["stop_frame"]) for r in out.iter_rows(named=True)}
    # investigate loses to fight in S1; bite (S2) and climb (no stream) overlap fight
    assert got == {("fight", 0, 10), ("bite", 0, 10), ("climb", 0, 10)}
    mabe = VideoProbs(7, "Lab0", [(1, 2)], np.zeros((1, 10, 37), np.float32), np.ones((1, 37), bool), 30.0)
    mabe.probs[0, :, [3, 5]] = [[0.9], [0.7]]
    assert decode_video(mabe, DecodeConfig())["action"].to_list() == [MABE.actions[3]]  # one per frame
    assert decode_video(_probs({"fight": no}), DecodeConfig()).height == 0


def _rows(*rows):
    return pl.DataFrame([("7", "mouse1", "mouse2", a, s, e) for a, s, e in rows], schema=list(INTERVAL_COLUMNS),
                        orient="row")


def test_metric_refuses_overlap_only_within_an_exclusive_group():
    groups = {"fight": "S1", "investigate": "S1", "bite": "S2"}
    labeled = json.dumps(["mouse1,mouse2,fight", "mouse1,mouse2,investigate", "mouse1,mouse2,bite"])
    sol = _rows(("fight", 0, 10), ("bite", 0, 5)).with_columns(lab_id=pl.lit("Lab0"),
                                                                  behaviors_labeled=pl.lit(labeled))
    assert score_details(sol, _rows(("fight", 0, 10), ("bite", 0, 5)), exclusive=groups).score == 1.0
    with pytest.raises(MetricError, match="Multiple predictions"):  # MABe's rule without groups
        score_details(sol, _rows(("fight", 0, 10), ("bite", 0, 5)))
    with pytest.raises(MetricError, match="mutually exclusive group S1"):
        score_details(sol, _rows(("fight", 0, 10), ("investigate", 5, 8)), exclusive=groups)


def test_a_run_on_one_vocabulary_refuses_a_store_of_another():
    check_same(V, V)
    with pytest.raises(VocabularyMismatch, match="trained on 5 behaviours .* has MABe's 37 actions"):
        check_same(V, MABE)


def test_cv_on_own_behaviours_writes_oof_predictions_and_the_per_behaviour_table(own_store, tmp_path):
    pytest.importorskip("lightgbm")
    cfg = load_config("configs/gbdt.yaml", [f"data.data_dir={own_store}", f"train.checkpoint_dir={tmp_path}",
                                            "train.run_name=own", "train.progress=false",
                                            "gbdt.n_estimators=30", "gbdt.windows_s=[0.5]"])
    run_dir = run_cv(cfg, 2, log=lambda *_: None)
    store = open_store(own_store)
    assert json.loads((run_dir / "run.json").read_text())["vocabulary"]["actions"] == list(V.actions)
    oof = pl.read_csv(run_dir / "oof_predictions.csv", infer_schema=False)
    assert tuple(oof.columns) == INTERVAL_COLUMNS and oof.height > 0
    assert set(oof["action"]) <= set(V.actions) and {"fight", "bite"} <= set(oof["action"])
    assert set(oof["video_id"]) <= {str(v) for v in store.videos["video_id"]}
    frames = oof.with_columns(pl.col("start_frame", "stop_frame").cast(pl.Int64))
    s1 = frames.filter(pl.col("action").is_in(["fight", "investigate"]))
    assert check_overlaps(s1, ("video_id", "agent_id", "target_id", "action")).height == 0
    assert check_overlaps(frames, ("video_id", "agent_id", "target_id", "action")).height > 0  # S2 in S1
    table = read_per_behaviour(run_dir / "per_behaviour.csv")
    assert table.columns[:6] == ["lab_id", "behaviour", "f1", "precision", "recall", "labelled_frames"]
    assert sorted(table["behaviour"].unique()) == sorted(V.actions) and table.height == 2 * len(V.actions)
    assert (run_dir / "per_behaviour.csv").read_text().startswith("# f1, precision, recall: the competition")
    details = score_details(solution_from_store(store, sorted({int(v) for v in oof["video_id"]})), frames,
                            exclusive={"fight": "S1", "investigate": "S1", "bite": "S2"})
    expect = {(r["lab_id"], r["action"]): r["f"] for r in details.per_action.iter_rows(named=True)}
    for r in table.iter_rows(named=True):
        assert r["f1"] == pytest.approx(round(expect.get((r["lab_id"], r["behaviour"]), 0.0), 4))
    assert table.filter(pl.col("behaviour") == "groom")["labelled_frames"].to_list() == [0, 0]
    assert (run_dir / "per_behaviour.png").stat().st_size > 5000


def test_submit_reads_test_entries_in_the_bundles_vocabulary(tmp_path):
    from mabe_train.submit import bundle_actions, read_test_videos
    from mabe_train.vocab import vocabulary_record
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "run.json").write_text(json.dumps({"kind": "gbdt",
                                                                 "vocabulary": vocabulary_record(V)}))
    (tmp_path / "test.csv").write_text('video_id,lab_id,behaviors_labeled\n'
                                       '5,Lab0,"[""mouse1,mouse2,fight"", ""mouse1,mouse2,sniff""]"\n')
    assert bundle_actions(tmp_path) == V.index
    assert read_test_videos(tmp_path, bundle_actions(tmp_path))[0].entries == {"mouse1,mouse2,fight"}
    assert read_test_videos(tmp_path)[0].entries == {"mouse1,mouse2,sniff"}  # MABe's actions by default


def test_the_per_behaviour_table_lists_what_each_lab_labels():
    """A MABe lab gets rows for the actions its videos label, not all 37; zeros where never shown."""
    from mabe_train.cv.outputs import labeled_behaviours, per_behaviour_table
    labeled = np.zeros((1, 37), bool)
    labeled[0, [MABE.index["sniff"], MABE.index["attack"]]] = True
    v = VideoProbs(1, "LabA", [(1, 2)], np.zeros((1, 5, 37), np.float32), labeled)
    assert labeled_behaviours([v]) == {"LabA": ["attack", "sniff"]}
    per_action = pl.DataFrame({"lab_id": ["LabA"], "action": ["sniff"], "tp": [3], "fp": [1], "fn": [3]})
    t = per_behaviour_table(per_action, labeled_behaviours([v]))
    assert t.select("behaviour", "f1", "precision", "recall", "labelled_frames").rows() == [
        ("attack", 0.0, 0.0, 0.0, 0), ("sniff", 0.6, 0.75, 0.5, 6)]


def test_the_pair_model_trains_and_predicts_the_stores_own_behaviours(tmp_path):
    from mabe_train.runs.registry import load_run
    from mabe_train.train import train
    from tests.mabe_train.stores import pairs_debug_cfg
    make_own_store(tmp_path / "s.zarr")
    run_dir = train(pairs_debug_cfg(tmp_path, "p", "train.epochs=2"))
    assert json.loads((run_dir / "run.json").read_text())["vocabulary"]["actions"] == list(V.actions)
    run = load_run(run_dir, progress=False)
    assert run.task.n_outputs == len(V.actions)
    videos = run.held_out().videos
    assert videos and all(v.vocab == V and v.probs.shape[2] == len(V.actions) for v in videos)
    with pytest.raises(Exception, match="pairs.pos_weight needs 1 or 5"):
        train(pairs_debug_cfg(tmp_path, "q", "pairs.pos_weight=[1.0, 2.0]"))


def test_more_behaviours_than_the_packed_targets_hold_is_one_line():
    from mabe_train.vocab import max_bits_check
    max_bits_check(Vocabulary(tuple(f"b{i:02d}" for i in range(64))))
    with pytest.raises(VocabularyMismatch, match="65 behaviours; the pair model packs at most 64"):
        max_bits_check(Vocabulary(tuple(f"b{i:02d}" for i in range(65))))
