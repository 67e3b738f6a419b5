"""`task: pairs` — 37 per-frame action probabilities for every labeled ordered (agent, target) pair.

What the trainer gets from this task:
- batches: `pairs.sampler.pair_sampler` windows (raw pixels + pair + packed targets) over the
  training videos staged once with `Store.load` (raw pixels, because the egocentric features
  need the true per-mouse geometry; the grouped task's centred coordinates would distort speeds),
  memory-mapped under `data.cache_dir` (default run_dir/stage-cache) when they do not fit in RAM,
  with gaussian noise of `data.noise_std` cm on the raw points from the sampler's noise bank;
- inputs: `pairs.features.pair_features` on the training device (149 wide with 18 keypoint slots),
  plus the lab one-hot when `pairs.lab_input` (pairs.augment; 19 more), hip/lateral points
  harmonised first when `pairs.harmonise_sides`;
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
from mabe_train.pairs.augment import LAB_DROP_EVERY, N_LAB_INPUTS, harmonise_sides, lab_onehot, lab_slot
from mabe_train.pairs.features import n_pair_features, pair_features
from mabe_train.pairs.labels import build_pairs
from mabe_train.pairs.sampler import pair_sampler, pair_targets
from mabe_train.pairs.scoring import (
    THRESHOLDS_FILE,
    bce_of_probs,
    collect_probs,
    thresholds_artefact,
    tune_and_score,
)
from mabe_train.pairs.settings import PairsSettings
from mabe_train.task_base import Task
from mabe_train.windows import Batch, WindowSampler


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
        self.settings: PairsSettings = cfg.pairs
        self.input_dim = n_pair_features(self.layout) + (N_LAB_INPUTS if self.settings.lab_input else 0)
        self.n_outputs = len(ACTIONS)
        self.pos_weight = torch.tensor(self.settings.pos_weight, dtype=torch.float32)
        self._sampler: WindowSampler | None = None
        self._frames = 0
        self._pair_cols: dict[str, torch.Tensor] = {}  # per pair (the sampler's units): agent, target, labeled, lab

    # -- training ---------------------------------------------------------------------------------
    def train_batches(self) -> WindowSampler:
        if self._sampler is None:
            self._sampler = self._make_sampler(self.split["train"])
        return self._sampler

    def _make_sampler(self, video_ids) -> WindowSampler:
        d, seed, s = self.cfg.data, self.cfg.train.seed, self.settings  # every sampler setting is read here
        cache = d.cache_dir or (str(self.run_dir / "stage-cache") if self.run_dir else None)
        staged = self.store.load(video_ids, out=f"{cache}/train" if cache else None, max_ram_gb=d.max_ram_gb,
                                 progress=self.progress)
        pairs = build_pairs(self.store, staged.video_index, self.settings.decode.label_frame_scale)
        if pairs.n_pairs == 0:
            raise PairsError("the training videos label no (agent, target, action) triple — build the "
                             "store from annotated data")
        self._frames = int(pairs.length.sum())
        v, idx = self.store.videos, staged.video_index
        labs = torch.tensor([lab_slot(str(lab)) for lab in v["lab_id"][idx]], dtype=torch.long)
        self._pair_cols = {"agent": torch.from_numpy(pairs.agent), "target": torch.from_numpy(pairs.target),
                           "labeled": torch.as_tensor(pairs.mask, dtype=torch.float32),
                           "lab": labs[torch.from_numpy(pairs.video).long()]}
        return pair_sampler(staged, pairs, lab=v["lab_id"][idx], fps=v["fps"][idx], pix_per_cm=v["pix_per_cm"][idx],
                            window=d.sequence_length, batch_size=d.batch_size, seed=seed,
                            positive_fraction=s.positive_fraction, noise_std=d.noise_std, mirror=s.mirror,
                            time_stretch=s.time_stretch, common_fps=s.common_fps,
                            layout=self.layout)

    def frames_per_epoch(self) -> int:
        self.train_batches()
        return self._frames

    def _cols(self, device) -> dict[str, torch.Tensor]:
        """The per-pair tables on `device` (moved once: a per-step host copy would sync CUDA)."""
        if self._pair_cols["agent"].device != torch.device(device):
            self._pair_cols = {k: v.to(device) for k, v in self._pair_cols.items()}
        return self._pair_cols

    def inputs(self, batch: Batch, device) -> torch.Tensor:
        x = batch.x.to(device, non_blocking=True)
        if self.settings.harmonise_sides:
            x = harmonise_sides(x, self.layout)
        unit, cols = batch.unit.to(device), self._cols(device)
        feats = pair_features(x, cols["agent"][unit], cols["target"][unit], batch.pix_per_cm.to(device),
                              batch.fps.to(device), self.layout)
        if not self.settings.lab_input:
            return feats
        drop = batch.start.to(device) % LAB_DROP_EVERY == 0  # the unknown-lab case (pairs.augment)
        slot = torch.where(drop, torch.full_like(cols["lab"][unit], -1), cols["lab"][unit])
        return torch.cat((feats, lab_onehot(slot, feats.shape[1])), dim=-1)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        dev = logits.device
        y, mask = pair_targets(batch, self._cols(dev)["labeled"])
        return masked_bce(logits, y, mask, self.pos_weight.to(dev))

    # -- validation -------------------------------------------------------------------------------
    def val_ids(self) -> list:
        ids = list(self.split["val"])
        limit = self.cfg.train.max_val_videos
        return ids[:limit] if limit else ids

    def validate(self, model, device) -> tuple[dict, dict]:
        d = self.cfg.data
        videos = collect_probs(model, self.store, self.val_ids(), window=d.sequence_length,
                               stride=d.val_stride, device=device, progress=self.progress,
                               layout=self.layout, options=self.settings)
        thresholds, sub, details, truths = tune_and_score(videos, self.store, self.settings.decode)
        per_lab = {r["lab_id"]: r["score"] for r in details.per_lab.iter_rows(named=True)}
        labs = self.store.videos["lab_id"]
        n_videos = Counter(str(labs[self.store.index(v.video_id)]) for v in videos)
        metrics = {"score": details.score, "val_loss": bce_of_probs(videos, truths),
                   "val_videos": len(videos), "val_intervals": sub.height,
                   "per_lab_score": per_lab, "per_lab": per_lab_table(details, n_videos)}
        return metrics, {THRESHOLDS_FILE: thresholds_artefact(thresholds, details.score)}
