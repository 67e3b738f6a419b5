"""mabe-train cv on the pair sequence model: folds are normal runs trained on the fold's split, a
kill mid-fold resumes from its checkpoint without redoing finished folds, and the result (an
ensemble of the folds) is a run that evaluate, predict, bundles and ensembles take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mabe_train.cv import CV_DIR, CvError, load_oof, run_cv
from mabe_train.train import Hooks
from tests.mabe_train.stores import pairs_debug_cfg


class Killed(BaseException):
    """Stands for the process dying (not an Exception: nothing on the way may catch it)."""


def _cfg(root: Path, runs: Path, name: str, *extra: str):
    return pairs_debug_cfg(root, name, f"train.checkpoint_dir={runs}", "train.ckpt_every_steps=3", *extra)


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cv_run(pairs_run, tmp_path_factory):
    """A 2-fold cv of the debug pair model, killed at fold 1's first checkpoint (step 3 of 6) and
    run again; returns (store root, run directory, what the test watched)."""
    import mabe_train.train as train_module
    root, _ = pairs_run
    runs = tmp_path_factory.mktemp("cvpairs")
    cfg = _cfg(root, runs, "cvp")
    calls, real = [], train_module.train

    def counting(cfg, **kw):
        calls.append((Path(kw["run_dir"]).name, kw["resume"]))
        return real(cfg, **kw)

    def kill_in_fold_1(path: Path):
        if path.parent.name == "fold_1":
            raise Killed
    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "train", counting)
    try:
        with pytest.raises(Killed):
            run_cv(cfg, 2, hooks=Hooks(on_checkpoint=kill_in_fold_1), log=lambda *_: None)
        fold0 = _mtimes(runs / "cvp" / CV_DIR / "fold_0")
        killed_at = __import__("torch").load(runs / "cvp" / CV_DIR / "fold_1" / "last.pt", weights_only=True)["state"]
        run_dir = run_cv(cfg, 2, log=lambda *_: None)
    finally:
        mp.undo()
    return root, run_dir, {"calls": calls, "fold0": fold0, "killed_at": killed_at}


def test_folds_resume_after_a_kill_without_redoing_a_finished_fold(cv_run):
    from mabe_train.run import load_checkpoint
    _, run_dir, seen = cv_run
    assert seen["calls"] == [("fold_0", False), ("fold_1", False), ("fold_1", True)]  # fold 0 trained once
    assert _mtimes(run_dir / CV_DIR / "fold_0") == seen["fold0"]  # not a file of it rewritten
    assert seen["killed_at"]["step"] == 3 and seen["killed_at"]["epoch"] == 0
    assert load_checkpoint(run_dir / CV_DIR / "fold_1" / "last.pt")["state"]["step"] == 6  # continued to the end
    for f in (0, 1):
        fold = run_dir / CV_DIR / f"fold_{f}"
        split = json.loads((fold / "split.json").read_text())
        done = json.loads((fold / "done.json").read_text())
        assert split["val"] == done["videos"] and not set(split["train"]) & set(split["val"])
        assert not (fold / "stage-cache").exists()


def test_oof_for_every_validated_video_and_thresholds_tuned_on_them(cv_run):
    from mabe_train.ensemble import EnsembleRun
    from mabe_train.runs.registry import load_run
    _, run_dir, _ = cv_run
    folds = json.loads((run_dir / CV_DIR / "folds.json").read_text())["folds"]
    oof = load_oof(run_dir)
    assert sorted(v.video_id for v in oof) == sorted(int(v) for v in folds) and len(oof) == 7
    assert all(v.probs.max() > 0 for v in oof)
    summary = json.loads((run_dir / "summary.json").read_text())
    thr = json.loads((run_dir / "thresholds.json").read_text())
    assert summary["oof_videos"] == 7 and thr["score"] == pytest.approx(summary["oof_score"]) and thr["thresholds"]
    run = load_run(run_dir)
    assert isinstance(run, EnsembleRun) and not run.centred and run.weights == (0.5, 0.5)
    assert [m.run_dir.name for m in run.members] == ["fold_0", "fold_1"]


def test_the_fold_average_is_the_mean_log_odds_of_the_folds(cv_run):
    import numpy as np

    from mabe_train.runs.registry import load_run
    _, run_dir, _ = cv_run
    run = load_run(run_dir)
    vid = int(run.split["val"][0])
    avg = run.predict_probs([vid])[0]
    members = [m.predict_probs([vid])[0].probs.astype(np.float64) for m in run.members]
    logit = [np.log(np.clip(p, 1e-5, 1 - 1e-5)) - np.log1p(-np.clip(p, 1e-5, 1 - 1e-5)) for p in members]
    want = 1 / (1 + np.exp(-(logit[0] + logit[1]) / 2)) * avg.labeled[:, None, :]
    np.testing.assert_allclose(avg.probs, want, atol=1e-5)


def test_evaluate_predict_and_bundle_take_the_cv_run(cv_run, tmp_path):
    from mabe_train.bundle import check_run, copy_run
    from mabe_train.evaluate import evaluate_run
    from mabe_train.predict import predict_run
    root, run_dir, _ = cv_run
    summary = json.loads((run_dir / "summary.json").read_text())
    report = evaluate_run(run_dir, progress=False).report  # on the OOF probabilities
    assert report["score"] == pytest.approx(summary["oof_score"]) and report["val_videos"] == 7
    p = predict_run(run_dir, root / "s.zarr", tmp_path / "sub.csv", split="all", progress=False)
    assert p.n_rows > 0 and (tmp_path / "sub.csv").exists()
    copy_run(run_dir, tmp_path / "bundled")
    assert check_run(tmp_path / "bundled", root / "s.zarr") == root / "s.zarr"
    assert not list((tmp_path / "bundled").rglob("last.pt"))
    # each fold's weights travel once (under members/), not again inside a copied cv/ folder
    assert len(list((tmp_path / "bundled").rglob("best.pt"))) == len(list((run_dir / "cv").glob("fold_*/best.pt")))


@pytest.mark.slow
def test_an_ensemble_of_a_sequence_cv_run_and_a_gbdt_run(cv_run, tmp_path):
    pytest.importorskip("lightgbm")
    from mabe_train.config import load_config
    from mabe_train.ensemble import make_ensemble
    from mabe_train.evaluate import evaluate_run
    from mabe_train.gbdt.train import train_gbdt
    from mabe_train.predict import predict_run
    from mabe_train.runs.registry import load_run
    root, run_dir, _ = cv_run
    gcfg = load_config("configs/gbdt.yaml", [f"data.data_dir={root / 's.zarr'}", f"train.checkpoint_dir={tmp_path}",
                                             "train.run_name=g", "train.progress=false", "gbdt.n_estimators=10",
                                             "gbdt.windows_s=[0.5]"])
    gbdt = train_gbdt(gcfg, log=lambda *_: None)
    lines = []
    out = make_ensemble([run_dir, gbdt], tmp_path / "e", log=lines.append)
    assert sum("weights" in ln for ln in lines) == 12  # 11 candidates tuned on shared evidence + the choice
    e = load_run(out)
    val = [int(v) for v in e.split["val"]]
    videos = e.predict_probs(val[:2])
    assert len(videos) == 2 and all(v.probs.min() >= 0 and v.probs.max() <= 1 for v in videos)
    report = evaluate_run(out, progress=False).report  # the videos both members held out, blended
    p = predict_run(out, root / "s.zarr", tmp_path / "e.csv", split="val", progress=False)
    # never a video the GBDT member trained on: its validation videos that the cv run has out of fold
    shared = {int(v) for v in load_run(gbdt).split["val"]} & {v.video_id for v in load_oof(run_dir)}
    assert report["val_videos"] == len(shared) > 0 and "held out" in report["scored"]
    assert p.n_rows > 0 and report["score"] == pytest.approx(p.score)


def test_the_cli_continues_a_finished_cv_without_training(cv_run):
    from typer.testing import CliRunner

    from mabe_train.cli import app
    from tests.mabe_train.stores import PAIRS_DEBUG
    root, run_dir, _ = cv_run
    before = _mtimes(run_dir / CV_DIR)
    r = CliRunner().invoke(app, ["cv", "--config", "configs/pairs_demo.yaml", "--folds", "2",
                                 f"data.data_dir={root / 's.zarr'}", f"train.checkpoint_dir={run_dir.parent}",
                                 f"train.run_name={run_dir.name}", *PAIRS_DEBUG, "train.ckpt_every_steps=3"])
    assert r.exit_code == 0, r.output
    assert "fold 0: done already" in r.output and "fold 1: done already" in r.output and "OOF score" in r.output
    assert _mtimes(run_dir / CV_DIR) == before


def test_refit_is_refused_for_a_sequence_cv_and_a_grouped_config_too(pairs_run, tmp_path):
    from typer.testing import CliRunner

    from mabe_train.cli import app
    root, _ = pairs_run
    with pytest.raises(CvError, match="--refit is for GBDT"):
        run_cv(_cfg(root, tmp_path, "r"), 2, refit=True)
    assert not (tmp_path / "r").exists()  # refused before any folder is made
    r = CliRunner().invoke(app, ["cv", "--config", "configs/pairs_demo.yaml", "--refit", f"data.data_dir={root / 's.zarr'}",
                                 f"train.checkpoint_dir={tmp_path}"])
    assert r.exit_code == 1 and "--refit is for GBDT" in r.output
