"""A GBDT cv run's fold average on held-out videos: the mean of the folds' probabilities (the rule
before the run layer had one) against the one blend rule (mabe_train.runs.blend: the mean of their
log-odds, over the folds that have a booster for the cell). Same run, same thresholds (tuned on the
out-of-fold predictions, which neither rule touches), same held-out videos; only the combination differs.

    python bench/fold_blend.py TRAIN_STORE HOLDOUT_STORE WORK_DIR [--folds 4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mabe_train.config import load_config
from mabe_train.cv import run_cv
from mabe_train.decode import VideoProbs
from mabe_train.gbdt.features import video_features
from mabe_train.pairs.scoring import score_videos
from mabe_train.runs.files import SUMMARY_FILE
from mabe_train.runs.registry import load_run


def mean_of_probs(model, store, vid) -> VideoProbs | None:
    """The old rule: the folds' probabilities averaged (an action a fold lacks counts as 0)."""
    rows = video_features(store, vid, model.windows_s)
    if not rows:
        return None
    lab = str(store.videos["lab_id"][store.index(vid)])
    probs = sum(m.rows_probs(rows, lab) for m in model.members) / len(model.members)
    i = store.index(vid)
    return VideoProbs(int(vid), lab, [(r.agent, r.target) for r in rows], probs.astype(np.float32),
                      np.stack([r.mask for r in rows]), float(store.videos["fps"][i]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train_store")
    ap.add_argument("holdout_store")
    ap.add_argument("work")
    ap.add_argument("--folds", type=int, default=4)
    a = ap.parse_args()
    cfg = load_config("configs/gbdt.yaml", [f"data.data_dir={a.train_store}", f"train.checkpoint_dir={a.work}",
                                            "train.run_name=fold_blend", "train.progress=false"])
    run_dir = run_cv(cfg, a.folds, log=lambda *_: None)
    run = load_run(run_dir, data_dir=a.holdout_store, progress=False)
    store, dec, thr = run.store, run.decode_config, run.thresholds
    ids = [int(v) for v in store.videos["video_id"][store.videos["split"] == "train"]]
    new = run.predict_probs(ids)
    old = [v for v in (mean_of_probs(run.model, store, i) for i in ids) if v is not None]
    out = {"oof_score": json.loads((Path(run_dir) / SUMMARY_FILE).read_text())["oof_score"],
           "heldout_videos": len(new),
           "heldout_mean_of_probs": score_videos(old, store, dec, thr).score,
           "heldout_blend_rule": score_videos(new, store, dec, thr).score}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
