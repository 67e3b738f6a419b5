"""Whole videos -> probabilities -> decoded intervals -> the official score, for the pair model.

One path serves validation during training, `evaluate_pairs` after it and `mabe-train predict`:
`collect_probs` runs the model over every labeled pair of each video (pairs.infer), the metric
helper's decoder (`mabe_train.decode`) turns probabilities into intervals with per-(lab, action)
thresholds, and `mabe_train.metric` scores them against the store's annotations. Thresholds are
tuned on the same validation videos that are scored, so the validation score is optimistic by the
tuning's variance (one threshold per lab-action from a 19-point grid); a held-out split scored with
thresholds from validation — what bench/semireal.py reports — is the honest figure.

The tuned thresholds travel with the run in `thresholds.json` ({score, epoch, decode, thresholds}),
rewritten only when the monitored score improves, i.e. exactly when train() refreshes best.pt.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import polars as pl
import torch

from mabe_store.reader import Store
from mabe_train.decode import (
    DecodeConfig,
    VideoProbs,
    decode,
    thresholds_from_rows,
    thresholds_to_rows,
    truth_raster,
    tune_thresholds,
)
from mabe_train.metric import ScoreDetails, score_details
from mabe_train.pairs import PairsError
from mabe_train.pairs.infer import video_probs
from mabe_train.submission import solution_from_store

THRESHOLDS_FILE = "thresholds.json"


def collect_probs(model: torch.nn.Module, store: Store, video_ids, *, window: int, stride: int = 0,
                  device: torch.device | str = "cpu",
                  progress: bool = False) -> list[VideoProbs]:
    """VideoProbs of every video that labels at least one triple (others cannot score)."""
    model.eval()
    ids = list(video_ids)
    if progress:
        from tqdm.auto import tqdm
        ids = tqdm(ids, desc="predicting", unit="video", leave=False)
    out = []
    for vid in ids:
        probs = video_probs(model, store, vid, window=window, stride=stride, device=device)
        if probs is not None:
            out.append(probs)
    return out


def empty_details() -> ScoreDetails:
    """The score of predicting nothing at all (the metric rejects an empty submission)."""
    return ScoreDetails(0.0, pl.DataFrame(schema={"lab_id": pl.Utf8, "n_actions": pl.Int64,
                                                  "score": pl.Float64}),
                        pl.DataFrame(schema={"lab_id": pl.Utf8, "action": pl.Utf8}))


def score_probs(videos: list[VideoProbs], solution: pl.DataFrame, decode_cfg: DecodeConfig,
                thresholds) -> tuple[pl.DataFrame, ScoreDetails]:
    """(submission intervals, official score details) of decoded probabilities."""
    sub = decode(videos, decode_cfg, thresholds)
    if sub.height == 0 or solution.height == 0:
        return sub, empty_details()
    return sub, score_details(solution, sub)


def tune_and_score(videos: list[VideoProbs], store: Store, decode_cfg: DecodeConfig):
    """(thresholds tuned on these videos, their submission, its ScoreDetails, the videos' (P, T, A)
    truth rasters): the truth is rasterised once and shared with the validation loss."""
    solution = solution_from_store(store, [v.video_id for v in videos])
    truths = [truth_raster(v, solution) for v in videos]
    thresholds = tune_thresholds(videos, solution, truths=truths, config=decode_cfg) if solution.height else {}
    sub, details = score_probs(videos, solution, decode_cfg, thresholds)
    return thresholds, sub, details, truths


def bce_of_probs(videos: list[VideoProbs], truths: list[np.ndarray]) -> float:
    """Mean BCE over the labeled (pair, action) cells of probabilities against their (P, T, A) truths."""
    total, n = 0.0, 0
    for v, truth in zip(videos, truths, strict=True):
        for p in range(len(v.pairs)):
            y = truth[p].astype(np.float64)
            q = np.clip(v.probs[p].astype(np.float64), 1e-6, 1 - 1e-6)
            m = np.broadcast_to(v.labeled[p], q.shape)
            total += float(-(y * np.log(q) + (1 - y) * np.log1p(-q))[m].sum())
            n += int(m.sum())
    return total / max(n, 1)


# -- thresholds file -----------------------------------------------------------------------------
def save_run_thresholds(run_dir: str | Path, thresholds, decode_cfg: DecodeConfig, score: float,
                        epoch: int) -> Path:
    path = Path(run_dir) / THRESHOLDS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"score": score, "epoch": epoch, "decode": asdict(decode_cfg),
                               "thresholds": thresholds_to_rows(thresholds)}, indent=1))
    tmp.replace(path)
    return path


def load_run_thresholds(run_dir: str | Path) -> tuple[dict, DecodeConfig, float]:
    """(thresholds, decode config, validation score) saved with a pairs run."""
    path = Path(run_dir) / THRESHOLDS_FILE
    if not path.exists():
        raise PairsError(f"no {THRESHOLDS_FILE} in {run_dir} — it is written at the first validation "
                         "of a `task: pairs` run; train at least one epoch")
    d = json.loads(path.read_text())
    return thresholds_from_rows(d["thresholds"]), DecodeConfig(**d["decode"]), float(d["score"])
