"""`task: pairs` — 37 per-frame action probabilities for every labeled ordered (agent, target) pair.

What the trainer gets from this task:
- batches: `pairs.sampler.PairSampler` windows (raw pixels + pair + packed targets) over the
  training videos staged once with `Store.load` (raw pixels, because the egocentric features
  need the true per-mouse geometry; the grouped task's centred coordinates would distort speeds);
- inputs: `pairs.features.pair_features` on the training device (N_PAIR_FEATURES wide), plus
  gaussian noise of `data.noise_std` cm on the raw points while training;
- loss: BCE over the labeled (pair, action) cells only — an action the video does not label for
  that pair is unknown, never negative — with `pairs.pos_weight` (one value for every action, or
  37 in action order); sum / number of known cells;
- validation: every labeled pair of every validation video predicted whole, decoded with
  per-(lab, action) thresholds tuned on them, scored with the official metric: `score` is the
  monitored value; the tuned thresholds are the validation's artefact (`thresholds.json`), which
  train() keeps with the checkpoint and writes beside best.pt.
No temporal jitter or frame_gap (grouped-task settings): a shift of inputs against pair labels only
blurs bout edges, which the metric scores frame by frame, and the fps-aware features already put
every lab's motion in per-second units. Pair-specific knobs live in the config's `pairs:` section
(mabe_train.pairs.settings.PairsSettings: positive_fraction, pos_weight, decode).
"""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F

from mabe_store.constants import ACTIONS
from mabe_train.pairs import PairsError
from mabe_train.pairs.features import n_pair_features, pair_features
from mabe_train.pairs.infer import pair_truth
from mabe_train.pairs.labels import build_pairs
from mabe_train.pairs.sampler import PairBatch, PairSampler
from mabe_train.pairs.scoring import (
    THRESHOLDS_FILE,
    bce_of_probs,
    collect_probs,
    thresholds_artefact,
    tune_and_score,
)
from mabe_train.pairs.settings import PairsSettings
from mabe_train.task import Task


def masked_bce(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
               pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE over cells where mask > 0; 0 (not NaN) for a batch without a known cell."""
    cell = F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=pos_weight, reduction="none")
    return (cell * mask).sum() / mask.sum().clamp_min(1.0)


def per_lab_table(details, n_videos: dict[str, int]) -> dict:
    """{lab: {score, n_videos, n_actions, f: {action: F}}} — the shape `mabe-train evaluate` prints."""
    f: dict[str, dict[str, float]] = {}
    for r in details.per_action.iter_rows(named=True):
        f.setdefault(r["lab_id"], {})[r["action"]] = r["f"]
    return {r["lab_id"]: {"score": r["score"], "n_videos": n_videos.get(r["lab_id"], 0),
                          "n_actions": r["n_actions"], "f": f.get(r["lab_id"], {})}
            for r in details.per_lab.sort("lab_id").iter_rows(named=True)}


class PairsTask(Task):
    """Per-pair multi-label actions; monitored by the official metric on validation videos."""

    monitor = "score"

    def __init__(self, cfg, store, split, *, run_dir=None, progress=True):
        super().__init__(cfg, store, split, run_dir=run_dir, progress=progress)
        self.input_dim = n_pair_features(self.layout)
        self.n_outputs = len(ACTIONS)
        self.settings: PairsSettings = cfg.pairs
        self.pos_weight = torch.tensor(self.settings.pos_weight, dtype=torch.float32)
        self._sampler: PairSampler | None = None

    # -- training ---------------------------------------------------------------------------------
    def train_batches(self) -> PairSampler:
        if self._sampler is None:
            self._sampler = self._make_sampler(self.split["train"])
        return self._sampler

    def _make_sampler(self, video_ids) -> PairSampler:
        staged = self.store.load(video_ids, progress=self.progress)
        pairs = build_pairs(self.store, staged.video_index)
        if pairs.n_pairs == 0:
            raise PairsError("the training videos label no (agent, target, action) triple — build the "
                             "store from annotated data")
        v, idx, d = self.store.videos, staged.video_index, self.cfg.data
        return PairSampler(staged, pairs, lab=v["lab_id"][idx], fps=v["fps"][idx],
                           pix_per_cm=v["pix_per_cm"][idx], window=d.sequence_length,
                           batch_size=d.batch_size, seed=self.cfg.train.seed,
                           positive_fraction=self.settings.positive_fraction)

    def frames_per_epoch(self) -> int:
        return int(self.train_batches().pairs.length.sum())

    def inputs(self, batch: PairBatch, device) -> torch.Tensor:
        x = batch.x.to(device, non_blocking=True)
        ppc = batch.pix_per_cm.to(device)
        if self.cfg.data.noise_std > 0:
            x = x + torch.randn_like(x) * (self.cfg.data.noise_std * ppc.view(-1, 1, 1))
        return pair_features(x, batch.agent.to(device), batch.target.to(device), ppc,
                             batch.fps.to(device), self.layout)

    def loss(self, logits: torch.Tensor, batch: PairBatch) -> torch.Tensor:
        dev = logits.device
        return masked_bce(logits, batch.y.to(dev), batch.mask.to(dev), self.pos_weight.to(dev))

    # -- validation -------------------------------------------------------------------------------
    def val_ids(self) -> list:
        ids = list(self.split["val"])
        limit = self.cfg.train.max_val_videos
        return ids[:limit] if limit else ids

    def validate(self, model, device) -> tuple[dict, dict]:
        d = self.cfg.data
        videos = collect_probs(model, self.store, self.val_ids(), window=d.sequence_length,
                               stride=d.val_stride, device=device, progress=self.progress,
                               layout=self.layout)
        thresholds, sub, details = tune_and_score(videos, self.store, self.settings.decode)
        truth = {(int(v.video_id), a, t): y for v in videos
                 for (a, t), y in pair_truth(self.store, v.video_id).items()}
        per_lab = {r["lab_id"]: r["score"] for r in details.per_lab.iter_rows(named=True)}
        labs = self.store.videos["lab_id"]
        n_videos = Counter(str(labs[self.store.index(v.video_id)]) for v in videos)
        metrics = {"score": details.score, "val_loss": bce_of_probs(videos, truth),
                   "val_videos": len(videos), "val_intervals": sub.height,
                   "per_lab_score": per_lab, "per_lab": per_lab_table(details, n_videos)}
        return metrics, {THRESHOLDS_FILE: thresholds_artefact(thresholds, details.score)}
