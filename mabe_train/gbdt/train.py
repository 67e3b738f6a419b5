"""Fit a GBDT run: features of the training videos, one booster per action, thresholds on validation.

`train_gbdt(cfg)` writes the same run directory as a sequence run (run.json with `kind: gbdt`,
config.yaml, split.json, thresholds.json in the pairs artefact format) plus the boosters
(mabe_train.gbdt.model). Training rows: every labeled pair of every training video, subsampled to
`gbdt.rows_per_second` rows per second of video (neighbouring frames at 30-120 fps are near
copies; a bout of >= 1/rows_per_second s keeps a row). One binary model per (kind, action),
fitted only on the rows whose pair labels that action (an unlabeled action is unknown, not
negative), with early stopping on the validation videos' rows. Thresholds: tuned on the
validation videos' whole-video probabilities by mabe_train.calibrate (an action the lab's training
videos show but its validation videos lack gets the action's global threshold, not NEVER).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mabe_store.log import Log, progress_bar, say
from mabe_store.reader import Store, open_store
from mabe_train.calibrate import present_actions, tune_thresholds
from mabe_train.gbdt import GbdtError, require_lightgbm
from mabe_train.gbdt.features import video_features
from mabe_train.gbdt.model import GbdtModel
from mabe_train.pairs.labels import pair_intervals, rasterise_pair
from mabe_train.pairs.scoring import score_videos
from mabe_train.run import make_run_dir, mark_run, save_config
from mabe_train.runs.files import SPLIT_FILE, SUMMARY_FILE, save_thresholds, write_json
from mabe_train.runs.registry import GBDT
from mabe_train.split import save_split, split_videos
from mabe_train.vocab import vocabulary_of

KINDS = ("pair", "self")


@dataclass
class Rows:
    """Stacked training rows of one feature kind."""

    X: np.ndarray  # (n, F) float32
    y: np.ndarray  # (n, A) uint8
    mask: np.ndarray  # (n, A) bool
    lab: np.ndarray  # (n,) str


def collect_rows(store: Store, video_ids, windows_s, rows_per_second: float,
                 progress: bool = False, label_frame_scale: dict[str, float] | None = None) -> dict[str, Rows]:
    """Subsampled feature rows, targets and label masks of every labeled pair, by kind."""
    parts: dict[str, list] = {k: [] for k in KINDS}
    vocab = vocabulary_of(store)
    ids = list(video_ids)
    ids = progress_bar(ids, desc="features", unit="video", enabled=progress, leave=False)
    for vid in ids:
        fps = float(store.videos["fps"][store.index(vid)])
        lab = str(store.videos["lab_id"][store.index(vid)])
        step = max(1, round(fps / rows_per_second)) if rows_per_second > 0 else 1
        ann = store.annotations(vid)
        for r in video_features(store, vid, windows_s):
            t = len(r.X)
            keep = np.arange(0, t, step)
            scale = (label_frame_scale or {}).get(lab, 1.0)
            iv = pair_intervals(ann, r.agent, r.target, t, scale, index=vocab.index)
            y = rasterise_pair(iv, t, len(vocab.actions))[keep] * r.mask
            parts[r.kind].append((r.X[keep], y, np.broadcast_to(r.mask, y.shape), np.full(len(keep), lab)))
    out = {}
    for kind, p in parts.items():
        if p:
            out[kind] = Rows(*(np.concatenate([q[i] for q in p]) for i in range(4)))
    return out


def lgb_params(s, threads: int, seed: int) -> dict:
    return {"objective": "binary", "learning_rate": s.learning_rate, "num_leaves": s.num_leaves,
            "min_data_in_leaf": s.min_child_samples, "feature_fraction": s.feature_fraction,
            "bagging_fraction": s.bagging_fraction, "bagging_freq": 1, "max_bin": 63, "seed": seed,
            "num_threads": threads, "verbose": -1, "deterministic": True, "force_col_wise": True}


def fit_models(train: dict[str, Rows], val: dict[str, Rows], s, *, actions: tuple[str, ...], threads: int = 1,
               seed: int = 0, log: Log = say) -> GbdtModel:
    """One booster per (kind, action) with positives among the rows that label it; actions: the
    store vocabulary's names, in the rows' column order."""
    lgb = require_lightgbm()
    labs = tuple(sorted({str(x) for r in train.values() for x in np.unique(r.lab)})) if s.lab_feature else ()
    model = GbdtModel(tuple(s.windows_s), labs=labs, actions=tuple(actions))
    names = model.actions
    rng = np.random.default_rng(seed)
    for kind, rows in train.items():
        cat = {"categorical_feature": [rows.X.shape[1]]} if labs else {}
        for a in np.flatnonzero(rows.mask.any(axis=0)):
            sel = np.flatnonzero(rows.mask[:, a])
            if len(sel) > s.max_rows:
                sel = np.sort(rng.choice(sel, s.max_rows, replace=False))
            y = rows.y[sel, a]
            if y.sum() == 0:
                continue
            t0 = time.process_time()
            dtrain = lgb.Dataset(model.with_lab(rows.X[sel], rows.lab[sel]), y, free_raw_data=True, **cat)
            valid, callbacks = [], []
            v = val.get(kind)
            if v is not None and s.early_stopping and v.mask[:, a].any() and v.y[v.mask[:, a], a].any():
                vs = np.flatnonzero(v.mask[:, a])
                valid = [lgb.Dataset(model.with_lab(v.X[vs], v.lab[vs]), v.y[vs, a], reference=dtrain, **cat)]
                callbacks = [lgb.early_stopping(s.early_stopping, verbose=False)]
            booster = lgb.train(lgb_params(s, threads, seed), dtrain, num_boost_round=s.n_estimators,
                                valid_sets=valid, callbacks=callbacks)
            if valid and booster.best_iteration > 0:
                booster = booster.model_from_string(booster.model_to_string(num_iteration=booster.best_iteration))
            model.boosters[(kind, names[a])] = booster
            model.info[(kind, names[a])] = {"rows": int(len(sel)), "positives": int(y.sum()),
                                              "trees": int(booster.num_trees()),
                                              "cpu_s": round(time.process_time() - t0, 2)}
            log(f"  {kind:4s} {names[a]:16s} rows {len(sel):>8,} pos {int(y.sum()):>7,} "
                f"trees {booster.num_trees():>4} {time.process_time() - t0:6.1f} cpu-s")
    if not model.boosters:
        raise GbdtError("no action has a positive training frame — build the store from annotated data")
    return model


def fit_on_videos(store: Store, train_ids, val_ids, cfg, *, log: Log = say) -> GbdtModel:
    """Features of both video sets, then `fit_models` (early stopping on `val_ids`, if any)."""
    s = cfg.gbdt
    t0 = time.process_time()
    scales = cfg.pairs.decode.label_frame_scale
    train = collect_rows(store, train_ids, s.windows_s, s.rows_per_second, cfg.train.progress, scales)
    val = collect_rows(store, val_ids, s.windows_s, s.rows_per_second, False, scales) if val_ids else {}
    log(f"features: {sum(len(r.X) for r in train.values()):,} training rows in "
        f"{time.process_time() - t0:.1f} cpu-s")
    return fit_models(train, val, s, actions=vocabulary_of(store).actions, threads=max(cfg.train.threads, 1) if cfg.train.threads else 0,
                      seed=cfg.train.seed, log=log)


def train_gbdt(cfg, *, overwrite: bool = False, log: Log = say) -> Path:
    """Train a `model.name: gbdt` run end to end; returns its directory."""
    require_lightgbm()
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    d = cfg.data
    split = split_videos(store, d.val_fraction, d.split_seed, d.max_videos)
    run_dir = make_run_dir(cfg, overwrite)
    mark_run(run_dir, cfg, store, GBDT)
    save_config(cfg, run_dir)
    save_split(split, run_dir / SPLIT_FILE)
    t0 = time.process_time()
    model = fit_on_videos(store, split["train"], split["val"], cfg, log=log)
    model.save(run_dir)
    videos = model.predict_probs(store, split["val"])
    thresholds = tune_thresholds(videos, store, config=cfg.pairs.decode,
                                 present=present_actions(store, split["train"] + split["val"]))
    details = score_videos(videos, store, cfg.pairs.decode, thresholds)
    save_thresholds(run_dir, thresholds, details.score)
    summary = {"kind": GBDT, "val_score": details.score, "cpu_s": round(time.process_time() - t0, 1),
               "boosters": len(model.boosters)}
    write_json(run_dir, SUMMARY_FILE, summary)
    log(f"validation score {details.score:.4f} ({len(videos)} videos), {summary['cpu_s']} cpu-s")
    return run_dir


def train_kind(cfg, *, resume=None, overwrite: bool = False, hooks=None, log: Log = say) -> Path:
    """The registry's trainer of kind `gbdt` (one pass: the registry refuses `resume`; no hooks)."""
    return train_gbdt(cfg, overwrite=overwrite, log=log)
