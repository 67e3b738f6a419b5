"""mabe-train cv: stratified folds, OOF thresholds that never silence an action for lack of one
fold's evidence, --labs, --refit, and resuming after a kill without redoing finished folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mabe_store.constants import ACTION_INDEX
from mabe_store.reader import open_store
from mabe_train.calibrate import present_actions, tune_thresholds
from mabe_train.config import load_config
from mabe_train.cv import CvError
from mabe_train.decode import NEVER, VideoProbs
from mabe_train.windows import DataError
from tests.mabe_train.gbdt.conftest import make_gbdt_store

pytest.importorskip("lightgbm")
NO_ATTACK = 102  # a Lab0 video without attack intervals


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_gbdt_store(tmp_path_factory.mktemp("cv") / "s.zarr", skip={NO_ATTACK: ("attack",)})


def _cfg(store, root, name="cv", *extra):
    return load_config("configs/gbdt.yaml", [f"data.data_dir={store}", f"train.checkpoint_dir={root}",
                                             f"train.run_name={name}", "train.progress=false",
                                             "gbdt.n_estimators=30", "gbdt.windows_s=[0.5]", *extra])


def test_folds_are_stratified_by_lab(store_path):
    from mabe_train.cv import assign_folds
    store = open_store(store_path)
    folds = assign_folds(store, 2)
    labs = {int(v): str(lab) for v, lab in zip(store.videos["video_id"], store.videos["lab_id"], strict=True)}
    for lab in ("Lab0", "Lab1"):
        assert sorted(f for v, f in folds.items() if labs[v] == lab) == [0, 0, 1, 1]
    only = assign_folds(store, 2, labs=["Lab1"])
    assert {labs[v] for v in only} == {"Lab1"} and set(only.values()) == {0, 1}
    with pytest.raises(DataError, match="LabX"):
        assign_folds(store, 2, labs=["LabX"])
    with pytest.raises(DataError, match="fewer --folds"):
        assign_folds(store, 5, labs=["Lab1"])


def _probs_of(store, vid, value: float) -> VideoProbs:
    """Constant probabilities on the labeled cells of (1, 2) of one video."""
    labeled = np.zeros((1, 37), bool)
    labeled[0, [ACTION_INDEX[a] for a in ("sniff", "attack", "mount")]] = True
    lab = str(store.videos["lab_id"][store.index(vid)])
    return VideoProbs(vid, lab, [(1, 2)], np.full((1, 400, 37), value, np.float32) * labeled[:, None], labeled)


def test_an_action_absent_from_one_validation_fold_keeps_a_real_threshold(store_path):
    """The failure this replaces: a lab's validation videos lack an action -> NEVER emit it."""
    store = open_store(store_path)
    val = [_probs_of(store, NO_ATTACK, 0.6), _probs_of(store, 101, 0.6)]  # Lab1's 101 shows attack
    attack = ("Lab0", "attack")
    present = present_actions(store, [100, 104, 106])  # Lab0's training fold shows attack
    assert attack in present and attack not in present_actions(store, [NO_ATTACK])
    thr = tune_thresholds(val, store, present=present)
    assert thr[attack] != NEVER and thr[attack] == thr[("Lab1", "attack")]  # the action's global threshold
    assert tune_thresholds(val, store, present=set())[attack] == NEVER  # no evidence anywhere: silenced


def test_cv_tunes_on_all_folds_and_refits(store_path, tmp_path):
    from mabe_train.cv import load_oof, run_cv
    from mabe_train.runs.registry import load_run
    run_dir = run_cv(_cfg(store_path, tmp_path), 4, refit=True, log=lambda *_: None)
    oof = load_oof(run_dir)
    assert sorted(v.video_id for v in oof) == list(range(100, 108))  # every video once, out of fold
    folds = json.loads((run_dir / "cv" / "folds.json").read_text())["folds"]
    fold_of_gap = folds[str(NO_ATTACK)]
    assert all(json.loads((run_dir / "cv" / f"fold_{f}" / "done.json").read_text())["videos"] for f in range(4))
    assert NO_ATTACK in json.loads((run_dir / "cv" / f"fold_{fold_of_gap}" / "done.json").read_text())["videos"]
    thr = load_run(run_dir).thresholds
    assert thr[("Lab0", "attack")] < NEVER and thr[("Lab0", "rear")] == NEVER  # rear: labeled, never shown
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["refit"] and summary["oof_score"] > 0.5
    from mabe_train.pairs.scoring import score_videos
    cfg, store = load_run(run_dir).cfg, open_store(store_path)
    assert summary["fold_scores"] == [pytest.approx(score_videos([v for v in oof if folds[str(v.video_id)] == f], store,
                                                                 cfg.pairs.decode, thr).score) for f in range(4)]
    assert summary["fold_score_std"] == pytest.approx(float(np.std(summary["fold_scores"]))) and len(set(summary["fold_scores"])) > 1
    assert "members" not in json.loads((run_dir / "gbdt.json").read_text())
    from mabe_train.evaluate import evaluate_run, format_report
    report = evaluate_run(run_dir, progress=False).report  # on the OOF probabilities, not the refit's
    assert report["score"] == pytest.approx(summary["oof_score"]) and report["val_videos"] == 8
    assert "out of fold" in report["scored"] and "epoch" not in format_report(report).splitlines()[0]
    from mabe_train.predict import predict_run
    # --split val: the OOF predictions, not the refit's (it trained on every video)
    p = predict_run(run_dir, store_path, tmp_path / "sub.csv", split="val", progress=False)
    assert p.score == pytest.approx(summary["oof_score"]) and "out of fold" in p.scored


def test_cv_resumes_after_a_kill_without_redoing_finished_folds(store_path, tmp_path, monkeypatch):
    import mabe_train.cv as cv
    from mabe_train.gbdt import train as gtrain
    calls = []
    real = gtrain.fit_on_videos

    def counting(store, train_ids, val_ids, cfg, log=print):
        calls.append(tuple(train_ids))
        if len(calls) == 2 and not getattr(counting, "killed", False):
            counting.killed = True
            raise KeyboardInterrupt  # a kill during fold 1
        return real(store, train_ids, val_ids, cfg, log=log)

    monkeypatch.setattr(gtrain, "fit_on_videos", counting)
    cfg = _cfg(store_path, tmp_path, "resume")
    with pytest.raises(KeyboardInterrupt):
        cv.run_cv(cfg, 2, log=lambda *_: None)
    assert (tmp_path / "resume" / "cv" / "fold_0" / "done.json").exists()
    assert not (tmp_path / "resume" / "cv" / "fold_1" / "done.json").exists()
    run_dir = cv.run_cv(cfg, 2, log=lambda *_: None)
    assert len(calls) == 3 and calls[2] == calls[1]  # fold 1 again, fold 0 not redone
    assert json.loads((run_dir / "gbdt.json").read_text())["members"] == ["cv/fold_0", "cv/fold_1"]
    from mabe_train.runs.registry import load_run
    videos = load_run(run_dir).predict_probs([100])
    assert videos[0].probs.max() > 0
    with pytest.raises(CvError, match="another plan"):
        cv.run_cv(cfg, 2, labs=["Lab0"], log=lambda *_: None)


def test_cv_cli(store_path, tmp_path):
    from typer.testing import CliRunner

    from mabe_train.cli import app
    args = ["cv", "--config", "configs/gbdt.yaml", "--folds", "2", "--labs", "Lab1", f"data.data_dir={store_path}",
            f"train.checkpoint_dir={tmp_path}", "train.run_name=c", "train.progress=false",
            "gbdt.n_estimators=5", "gbdt.windows_s=[0.5]"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "OOF score" in r.output and (tmp_path / "c" / "thresholds.json").exists()
    validated = json.loads((tmp_path / "c" / "cv" / "folds.json").read_text())["folds"]
    assert sorted(int(v) for v in validated) == [101, 103, 105, 107]  # Lab1's videos only
    r = CliRunner().invoke(app, ["cv", "--config", "configs/v5.yaml", f"data.data_dir={store_path}"])
    assert r.exit_code == 1 and "task: pairs" in r.output and "gbdt" in r.output
