"""What a sequence `mabe-train cv` run's held-out gain is made of: OOF thresholds or fold averaging.

For each fold model alone: its held-out score with its own validation thresholds and with the cv
run's OOF thresholds; then the fold average (the cv run) with the OOF thresholds. Also the OOF
score from the folds' best.pt (what cv saves: the epoch was picked on those videos) against their
last.pt (no choice), i.e. the optimism of that choice. Run after `bench/semireal.py` (pairs_cv row):

    .venv/bin/python bench/cv_parts.py data/semireal/runs/pairs_cv data/semireal/holdout.zarr
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from mabe_train.calibrate import present_actions, tune_thresholds
from mabe_train.cv import fold_dir, load_oof, n_folds
from mabe_train.pairs.scoring import score_videos
from mabe_train.runs.files import DONE_FILE, SPLIT_FILE
from mabe_train.runs.registry import load_run
from mabe_train.split import load_split


def heldout_parts(run_dir: Path, holdout: str) -> dict:
    top = load_run(run_dir, data_dir=holdout, progress=False)
    store, dec = top.store, top.cfg.pairs.decode
    ids = [int(v) for v in store.videos["video_id"][store.videos["split"] == "train"]]
    own, oof = [], []
    for f in range(n_folds(run_dir)):
        m = load_run(fold_dir(run_dir, f), data_dir=holdout, progress=False)
        videos = m.predict_probs(ids)
        own.append(score_videos(videos, store, dec, m.thresholds).score)
        oof.append(score_videos(videos, store, dec, top.thresholds).score)
    average = score_videos(top.predict_probs(ids), store, dec, top.thresholds).score
    return {"fold_own_thresholds": own, "fold_oof_thresholds": oof, "mean_own": float(np.mean(own)),
            "mean_oof": float(np.mean(oof)), "fold_average_oof_thresholds": average}


def oof_best_vs_last(run_dir: Path) -> dict:
    top = load_run(run_dir, progress=False)
    store, dec = top.store, top.cfg.pairs.decode
    present = present_actions(store, load_split(run_dir / SPLIT_FILE)["train"])
    out = {}
    for name in ("best", "last"):
        if name == "best":
            videos = load_oof(run_dir)
        else:
            videos = []
            for f in range(n_folds(run_dir)):
                val = json.loads((fold_dir(run_dir, f) / DONE_FILE).read_text())["videos"]
                videos += load_run(fold_dir(run_dir, f), "last", progress=False).predict_probs(val)
        out[f"oof_{name}"] = score_videos(videos, store, dec, tune_thresholds(videos, store, config=dec,
                                                                             present=present)).score
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    run, held = Path(sys.argv[1]), sys.argv[2]
    print(json.dumps({**heldout_parts(run, held), **oof_best_vs_last(run)}, indent=1))
