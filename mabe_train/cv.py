"""`mabe-train cv`: K video-level folds, out-of-fold (OOF) probabilities, thresholds tuned on all of them.

Why: a single split tunes each (lab, action) threshold on the lab's 1-2 validation videos, so an
action those videos lack is either silenced or guessed. Out-of-fold predictions give every
training video a prediction from a model that never saw it; thresholds tuned on all of them use
every lab's whole evidence (mabe_train.calibrate: NEVER only for an action the lab never shows,
the action's global threshold where the lab's OOF frames cannot decide).

The run directory is a GBDT run (`kind: gbdt`, loadable by `load_run`, so predict, evaluate and
ensembles take it) with:
  cv/folds.json          {video_id: fold} for the validated videos, the labs, K
  cv/fold_<k>/           that fold's boosters (gbdt.json, models/), oof/<video>.npz, done.json last
  gbdt.json              the refit on every video (`--refit`), else the average of the K fold models
  thresholds.json        tuned on the OOF probabilities of all folds; `score` is the OOF score
Folds are stratified by lab (each lab's videos dealt round-robin from a seeded shuffle, starting
where the previous lab stopped, so 1-2 video labs do not pile into fold 0); `--labs` validates only
those labs' videos (the rest always train). A fold with done.json is never redone: after a kill,
the same command continues with the next fold.
Folds train a fixed `gbdt.n_estimators` (no early stopping on the fold's own validation videos,
which would leak into their OOF predictions).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from mabe_store.reader import Store, open_store
from mabe_train.decode import VideoProbs
from mabe_train.gbdt import GbdtError

CV_DIR = "cv"


def assign_folds(store: Store, k: int, seed: int = 0, labs: list[str] | None = None) -> dict[int, int]:
    """{video_id: fold} for the labeled train videos of `labs` (default: all), stratified by lab."""
    v = store.videos
    usable = (v["split"] == "train") & v["labeled_actions"].any(axis=1)
    have = sorted(set(v["lab_id"][usable].tolist()))
    unknown = sorted(set(labs or []) - set(have))
    if unknown:
        raise GbdtError(f"--labs {', '.join(unknown)}: no labeled training video of that lab in {store.path} "
                        f"(labs: {', '.join(have)})")
    if k < 2:
        raise GbdtError(f"--folds must be >= 2, got {k}")
    rng = np.random.default_rng(seed)
    out, start = {}, 0
    for lab in labs or have:
        ids = rng.permutation(v["video_id"][usable & (v["lab_id"] == lab)])
        for j, vid in enumerate(ids):
            out[int(vid)] = (start + j) % k
        start = (start + len(ids)) % k
    if len(set(out.values())) < k:
        raise GbdtError(f"{len(out)} videos to validate cannot fill {k} folds — use fewer --folds")
    return out


# -- OOF files ------------------------------------------------------------------------------------
def save_oof(folder: Path, videos: list[VideoProbs]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for vp in videos:
        np.savez_compressed(folder / f"{vp.video_id}.npz", probs=vp.probs.astype(np.float16),
                            labeled=vp.labeled, pairs=np.asarray(vp.pairs, dtype=np.int64),
                            lab_id=np.asarray(vp.lab_id), fps=np.asarray(vp.fps or 0.0))


def load_oof(run_dir: str | Path) -> list[VideoProbs]:
    """Every OOF VideoProbs of a cv run (empty when the run has none)."""
    out = []
    for path in sorted(Path(run_dir).glob(f"{CV_DIR}/fold_*/oof/*.npz")):
        z = np.load(path)
        fps = float(z["fps"]) if "fps" in z else 0.0
        out.append(VideoProbs(int(path.stem), str(z["lab_id"]), [tuple(map(int, p)) for p in z["pairs"]],
                              z["probs"].astype(np.float32), z["labeled"], fps or None))
    return out


# -- the folds ----------------------------------------------------------------------------------------
def _start_run(cfg, store: Store, folds: dict[int, int], overwrite: bool, resume: bool) -> Path:
    """The run directory: a new one, or the existing one of this config when resuming."""
    from mabe_train.run import make_run_dir, run_name, save_config, write_atomic, write_marker
    from mabe_train.split import save_split
    run_dir = Path(cfg.train.checkpoint_dir) / run_name(cfg)
    plan = run_dir / CV_DIR / "folds.json"
    if resume and plan.exists() and not overwrite:
        if json.loads(plan.read_text())["folds"] != {str(k): f for k, f in folds.items()}:
            raise GbdtError(f"{run_dir} holds folds of another plan (videos, --folds, --labs or seed differ) "
                            "— pass --overwrite to start again, or another train.run_name")
        return run_dir
    run_dir = make_run_dir(cfg, overwrite)
    write_marker(run_dir, cfg, store)
    marker = json.loads((run_dir / "run.json").read_text()) | {"kind": "gbdt", "cv": True}
    write_atomic(run_dir / "run.json", json.dumps(marker, indent=1))
    save_config(cfg, run_dir)
    ids = sorted(int(x) for x, u in zip(store.videos["video_id"], (store.videos["split"] == "train")
                                        & store.videos["labeled_actions"].any(axis=1), strict=True) if u)
    save_split({"train": ids, "val": sorted(folds), "cv_folds": max(folds.values()) + 1}, run_dir / "split.json")
    (run_dir / CV_DIR).mkdir(exist_ok=True)
    write_atomic(plan, json.dumps({"folds": {str(k): f for k, f in folds.items()}}, indent=1))
    return run_dir


def run_fold(cfg, store: Store, run_dir: Path, fold: int, folds: dict[int, int], all_ids: list[int],
             log=print) -> None:
    """Fit fold `fold` on every other video, save its boosters and its videos' OOF probabilities."""
    from mabe_train.gbdt.train import fit_on_videos
    from mabe_train.run import write_atomic
    out = run_dir / CV_DIR / f"fold_{fold}"
    if (out / "done.json").exists():
        log(f"fold {fold}: done already")
        return
    t0 = time.process_time()
    val = sorted(v for v, f in folds.items() if f == fold)
    train = [v for v in all_ids if v not in set(val)]
    log(f"fold {fold}: {len(train)} training, {len(val)} validation videos")
    fcfg = dataclasses.replace(cfg, gbdt=dataclasses.replace(cfg.gbdt, early_stopping=0))
    model = fit_on_videos(store, train, [], fcfg, log=log)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    save_oof(out / "oof", model.predict_probs(store, val))
    write_atomic(out / "done.json", json.dumps({"videos": val, "cpu_s": round(time.process_time() - t0, 1)}))


def run_cv(cfg, k: int, *, labs: list[str] | None = None, refit: bool = False, overwrite: bool = False,
           resume: bool = True, log=print) -> Path:
    """K folds (resumable), thresholds on all OOF probabilities, then refit or fold average."""
    from mabe_train.calibrate import present_actions, tune_thresholds
    from mabe_train.gbdt import require_lightgbm
    from mabe_train.gbdt.loaded import score_videos
    from mabe_train.gbdt.model import AveragedModel
    from mabe_train.gbdt.train import fit_on_videos
    from mabe_train.pairs.scoring import THRESHOLDS_FILE, thresholds_artefact
    from mabe_train.run import save_artefacts, write_atomic
    if cfg.model.name != "gbdt":
        raise GbdtError(f"mabe-train cv fits `model.name: gbdt` configs (configs/gbdt.yaml); {cfg.model.name!r} "
                        "runs are trained with `mabe-train run`")
    require_lightgbm()
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    folds = assign_folds(store, k, cfg.data.split_seed, labs)
    run_dir = _start_run(cfg, store, folds, overwrite, resume)
    split = json.loads((run_dir / "split.json").read_text())
    for fold in range(k):
        run_fold(cfg, store, run_dir, fold, folds, split["train"], log=log)
    oof = load_oof(run_dir)
    thresholds = tune_thresholds(oof, store, config=cfg.pairs.decode,
                                 present=present_actions(store, split["train"]))
    details = score_videos(oof, store, cfg.pairs.decode, thresholds)
    log(f"OOF score {details.score:.4f} on {len(oof)} videos (thresholds tuned on these OOF predictions)")
    if refit:
        fcfg = dataclasses.replace(cfg, gbdt=dataclasses.replace(cfg.gbdt, early_stopping=0))
        fit_on_videos(store, split["train"], [], fcfg, log=log).save(run_dir)
    else:
        AveragedModel.write(run_dir, [f"{CV_DIR}/fold_{f}" for f in range(k)], tuple(cfg.gbdt.windows_s))
    save_artefacts(run_dir, {THRESHOLDS_FILE: thresholds_artefact(thresholds, details.score)}, epoch=1)
    write_atomic(run_dir / "summary.json", json.dumps({"kind": "gbdt", "folds": k, "refit": refit,
                                                       "oof_score": details.score, "oof_videos": len(oof)}))
    return run_dir
