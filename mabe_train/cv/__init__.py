"""`mabe-train cv`: K video-level folds, out-of-fold (OOF) probabilities, thresholds tuned on all of them.

Why: a single split tunes each (lab, action) threshold on the lab's 1-2 validation videos, so an
action those videos lack is either silenced or guessed. Out-of-fold predictions give every
validated video a prediction from a model that never trained on it; thresholds tuned on all of
them use every lab's whole evidence (mabe_train.calibrate: NEVER only for an action the lab never
shows, the action's global threshold where the lab's OOF frames cannot decide).

This module is the kind-independent driver; what differs per model kind — fit one fold, predict
its held-out videos, write the final model — is a `FoldKind` (mabe_train.cv.kinds: GBDT and the
pair sequence model). Every cv run directory holds
  run.json, config.yaml  the marker (`kind` and `cv: true`: how `load_run` reads it) and the resolved config
(file names: mabe_train.runs.files)
  split.json             {"train": every labeled video, "val": the validated ones, "cv_folds": K}
  cv/folds.json          {video_id: fold} for the validated videos (mabe_train.split.assign_folds)
  cv/fold_<k>/           that fold's model, oof/<video>.npz, and done.json, written last
  thresholds.json        tuned on the OOF probabilities of all folds; `score` is the OOF score
  summary.json           written when every fold is done and the thresholds are tuned
  oof_predictions.csv    the OOF intervals decoded with those thresholds (mabe_train.cv.outputs)
  per_behaviour.csv/.png per (lab, behaviour): F1, precision, recall, labelled frames of those intervals
A fold with done.json is never redone: after a kill, the same command continues with the next
fold (a sequence fold killed mid-training resumes from its last.pt). Folds are stratified by lab;
`--labs` validates only those labs' videos (the rest always train).
The folds can also run in parallel on Modal (mabe_train.modal_app.launch_cv): `plan_cv`,
`run_fold` and `finish_cv` are the three steps, each callable on its own against a run directory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from mabe_store.log import Log, say
from mabe_store.reader import Store, open_store
from mabe_train.calibrate import present_actions, tune_thresholds
from mabe_train.cv.kinds import CvError, kind_of
from mabe_train.cv.outputs import (
    OOF_PREDICTIONS_FILE,
    labeled_behaviours,
    per_behaviour_table,
    write_oof_predictions,
    write_per_behaviour,
)
from mabe_train.decode import VideoProbs
from mabe_train.pairs.scoring import score_probs, score_videos
from mabe_train.run import make_run_dir, mark_run, run_name, save_config
from mabe_train.runs.files import (
    CV_DIR,
    DONE_FILE,
    FOLDS_FILE,
    OOF_DIR,
    SPLIT_FILE,
    SUMMARY_FILE,
    fold_dir,
    load_oof,
    save_oof,
    save_thresholds,
    write_atomic,
    write_json,
)
from mabe_train.split import assign_folds, fold_split, load_split, save_split, usable_ids
from mabe_train.submission import solution_from_store

__all__ = ["CV_DIR", "CvError", "assign_folds", "finish_cv", "fold_dir", "load_oof", "plan_cv", "run_cv",
           "run_fold", "save_oof"]


def _folds(run_dir: Path) -> dict[int, int]:
    return {int(v): f for v, f in json.loads((Path(run_dir) / CV_DIR / FOLDS_FILE).read_text())["folds"].items()}


def n_folds(run_dir: Path) -> int:
    return max(_folds(run_dir).values()) + 1


# -- the three steps ------------------------------------------------------------------------------
def plan_cv(cfg, k: int, *, labs: list[str] | None = None, overwrite: bool = False, refit: bool = False) -> Path:
    """The cv run directory with its fold plan: a new one, or the existing one of this plan."""
    kind = kind_of(cfg)
    kind.check(cfg, refit)
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    folds = assign_folds(store, k, cfg.data.split_seed, labs)
    run_dir = Path(cfg.train.checkpoint_dir) / run_name(cfg)
    plan = run_dir / CV_DIR / FOLDS_FILE
    if plan.exists() and not overwrite:
        if _folds(run_dir) != folds:
            raise CvError(f"{run_dir} holds folds of another plan (videos, --folds, --labs or seed differ) "
                          "— pass --overwrite to start again, or another train.run_name")
        return run_dir
    run_dir = make_run_dir(cfg, overwrite)
    mark_run(run_dir, cfg, store, kind.run_kind, cv=True, **kind.marker(k))
    save_config(cfg, run_dir)
    save_split({"train": usable_ids(store), "val": sorted(folds), "cv_folds": k}, run_dir / SPLIT_FILE)
    (run_dir / CV_DIR).mkdir(exist_ok=True)
    write_atomic(plan, json.dumps({"folds": {str(v): f for v, f in folds.items()}, "labs": labs}, indent=1))
    return run_dir


def run_fold(cfg, run_dir: Path, fold: int, *, hooks=None, log: Log = say, store: Store | None = None) -> bool:
    """Fit fold `fold` on every other video and save its videos' OOF probabilities; True once done
    (at once when done.json exists), False when `hooks.should_stop` stopped it (resumable)."""
    out = fold_dir(run_dir, fold)
    if (out / DONE_FILE).exists():
        log(f"fold {fold}: done already")
        return True
    store = store or open_store(cfg.data.data_dir, cfg.data.storage_options)
    split = fold_split(_folds(run_dir), fold, load_split(Path(run_dir) / SPLIT_FILE)["train"])
    log(f"fold {fold}: {len(split['train'])} training, {len(split['val'])} validation videos")
    t0 = time.process_time()
    kind = kind_of(cfg)
    if not kind.train_fold(cfg, store, out, split, hooks=hooks, log=log):
        return False
    save_oof(out / OOF_DIR, kind.predict_fold(out, store, split["val"]))
    kind.tidy_fold(out)
    write_atomic(out / DONE_FILE, json.dumps({"videos": split["val"], "cpu_s": round(time.process_time() - t0, 1)}))
    return True


def finish_cv(cfg, run_dir: Path, *, refit: bool = False, log: Log = say) -> Path:
    """Thresholds on every fold's OOF probabilities, then the kind's final model (refit or fold average)."""
    run_dir = Path(run_dir)
    k = n_folds(run_dir)
    if missing := [f for f in range(k) if not (fold_dir(run_dir, f) / DONE_FILE).exists()]:
        raise CvError(f"{run_dir}: fold(s) {missing} are not done — run the same `mabe-train cv` again to finish them")
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    split = load_split(run_dir / SPLIT_FILE)
    oof = load_oof(run_dir)
    thresholds = tune_thresholds(oof, store, config=cfg.pairs.decode, present=present_actions(store, split["train"]))
    intervals, details = score_probs(oof, solution_from_store(store, [v.video_id for v in oof]), cfg.pairs.decode,
                                     thresholds)
    log(f"OOF score {details.score:.4f} on {len(oof)} videos (thresholds tuned on these OOF predictions)")
    _write_outputs(run_dir, intervals, details, oof, run_dir.name, log)
    per_fold = fold_scores(run_dir, oof, store, cfg.pairs.decode, thresholds)
    spread = float(np.std(per_fold))
    log(f"per fold: {', '.join(f'{s:.4f}' for s in per_fold)} (mean {np.mean(per_fold):.4f}, std {spread:.4f})")
    kind = kind_of(cfg)
    kind.finish(cfg, store, run_dir, k, refit, split["train"], log=log)
    save_thresholds(run_dir, thresholds, details.score)
    write_json(run_dir, SUMMARY_FILE, {"kind": kind.run_kind, "folds": k, "refit": refit,
                                       "oof_score": details.score, "oof_videos": len(oof),
                                       "fold_scores": per_fold, "fold_score_std": spread})
    return run_dir


def _write_outputs(run_dir: Path, intervals, details, oof, name: str, log: Log) -> None:
    """oof_predictions.csv and the per-behaviour table of a finished cv run (mabe_train.cv.outputs)."""
    write_oof_predictions(run_dir, intervals)
    table = per_behaviour_table(details.per_action, labeled_behaviours(oof))
    csv, png = write_per_behaviour(run_dir, table, f"{name}: out-of-fold F1 per behaviour ({len(oof)} videos)")
    log(f"wrote {OOF_PREDICTIONS_FILE} ({intervals.height:,} intervals), {csv.name} and {png.name}")


def fold_scores(run_dir: Path, oof: list[VideoProbs], store: Store, decode_cfg, thresholds) -> list[float]:
    """Each fold's score on its own OOF videos, with the thresholds tuned on all of them: the spread
    says how much one held-out score of this model kind can move with the videos drawn."""
    folds = _folds(run_dir)
    return [score_videos([v for v in oof if folds.get(v.video_id) == f], store, decode_cfg, thresholds).score
            for f in range(n_folds(run_dir))]


def run_cv(cfg, k: int, *, labs: list[str] | None = None, refit: bool = False, overwrite: bool = False,
           hooks=None, log: Log = say) -> Path:
    """Plan (or continue) the K folds, run each one not yet done, then `finish_cv`."""
    run_dir = plan_cv(cfg, k, labs=labs, overwrite=overwrite, refit=refit)
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    for fold in range(k):
        if not run_fold(cfg, run_dir, fold, hooks=hooks, log=log, store=store):
            raise CvError(f"stopped during fold {fold} with its checkpoint saved — run the same command to resume")
    return finish_cv(cfg, run_dir, refit=refit, log=log)
