"""Whole videos -> probabilities -> decoded intervals -> the official score, for the pair model.

One path serves validation during training, `evaluate_pairs` after it and `mabe-train predict`:
`collect_probs` runs the model over every labeled pair of each video (pairs.infer), the metric
helper's decoder (`mabe_train.decode`) turns probabilities into intervals with per-(lab, action)
thresholds, and `mabe_train.metric` scores them against the store's annotations. Thresholds are
tuned on the same validation videos that are scored, so the validation score is optimistic by the
tuning's variance (mabe_train.calibrate: one threshold per lab-action from a 25-point grid, the
action's global threshold where these videos lack an action the lab shows); a held-out split scored with
thresholds from validation — what bench/semireal.py reports — is the honest figure.

The tuned thresholds are the validation's artefact `thresholds.json` ({epoch, score, thresholds}):
train() keeps it inside each checkpoint and writes it beside best.pt (mabe_train.run), so
`load_run(run, "last")` gets last's thresholds and `best` gets best's.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from mabe_store.log import progress_bar
from mabe_store.reader import Store
from mabe_train.calibrate import tune_thresholds
from mabe_train.decode import DecodeConfig, VideoProbs, decode, truth_raster
from mabe_train.decode import thresholds_artefact as decode_artefact
from mabe_train.layout import DEFAULT_LAYOUT, Layout
from mabe_train.metric import ScoreDetails, score_details
from mabe_train.pairs.infer import video_probs
from mabe_train.pairs.settings import PairsSettings
from mabe_train.runs.files import THRESHOLDS_FILE
from mabe_train.submission import solution_from_store

__all__ = ["THRESHOLDS_FILE", "collect_probs", "score_probs", "score_videos", "thresholds_artefact",
           "tune_and_score"]


def collect_probs(model: torch.nn.Module, store: Store, video_ids, *, window: int, stride: int = 0,
                  device: torch.device | str = "cpu", progress: bool = False,
                  layout: Layout = DEFAULT_LAYOUT, default_actions=None,
                  options: PairsSettings | None = None) -> list[VideoProbs]:
    """VideoProbs of every video that labels at least one triple (others cannot score), and of the
    others too when `default_actions` names the actions to predict there (pairs.labels.video_pairs).
    options: the run's `pairs:` settings (lab input, flip TTA: pairs.infer.pairs_probs)."""
    model.eval()
    ids = list(video_ids)
    ids = progress_bar(ids, desc="predicting", unit="video", enabled=progress, leave=False)
    out = []
    for vid in ids:
        probs = video_probs(model, store, vid, window=window, stride=stride, device=device, layout=layout,
                            default_actions=default_actions, options=options)
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


def score_videos(videos: list[VideoProbs], store: Store, decode_cfg: DecodeConfig, thresholds) -> ScoreDetails:
    """Official score details of decoded probabilities against the store's annotations (`score_probs`)."""
    return score_probs(videos, solution_from_store(store, [v.video_id for v in videos]), decode_cfg, thresholds)[1]


def tune_and_score(videos: list[VideoProbs], store: Store, decode_cfg: DecodeConfig):
    """(thresholds tuned on these videos, their submission, its ScoreDetails, the videos' (P, T, A)
    truth rasters): the truth is rasterised once and shared with the validation loss."""
    solution = solution_from_store(store, [v.video_id for v in videos])
    truths = [truth_raster(v, solution, decode_cfg.scale(v.lab_id)) for v in videos]
    thresholds = tune_thresholds(videos, store, truths=truths, config=decode_cfg) if solution.height else {}
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


# -- thresholds artefact -------------------------------------------------------------------------
def thresholds_artefact(thresholds, score: float) -> dict:
    """The JSON-ready `thresholds.json` content of one validation (train() adds the epoch); with
    the per-action bouts when tuning used them (decode.thresholds_artefact)."""
    return decode_artefact(thresholds, score)
