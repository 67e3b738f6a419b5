"""V5: per-frame 4-class classification (other/social/mating/aggressive) with weighted cross-entropy.

Targets come from `mabe_train.grouped.labels` (unknown frames = IGNORE_INDEX, never "other"). The loss is
the class-weighted mean over known frames only — computed as sum / sum of weights, so a batch with
no known frame gives 0, not NaN. Validation predicts every frame of each validation video
(`windows.predict_video`) and reports accuracy, macro F1 over the classes present (in the labels or
the predictions), per-class precision/recall/F1 and confusion matrices, overall and per lab.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mabe_store.reader import Staged, Store
from mabe_train.grouped.features import build_inputs, check_features, normalise_coords
from mabe_train.grouped.labels import (
    DEFAULT_LABEL_GROUPS,
    GROUPS,
    IGNORE_INDEX,
    frame_classes,
    group_matrix,
)
from mabe_train.task_base import Task
from mabe_train.windows import DataError, UniformStarts, Units, WindowSampler, predict_video, window_span


def stage_grouped(store: Store, video_ids, *, label_groups: dict[str, str] | None = None, assume_absent=(),
                  out=None, max_ram_gb: float = 0.0, progress: bool = False) -> tuple[Staged, np.ndarray]:
    """`Store.load` of the videos with the features normalised in place (cm, centred per frame:
    `normalise_coords`), and their (n,) int16 frame classes (IGNORE_INDEX where unknown)."""
    video_ids = list(video_ids)
    if not video_ids:
        raise DataError("no videos to stage — the split is empty")
    staged = store.load(video_ids, out=out, max_ram_gb=max_ram_gb, progress=progress)
    groups = group_matrix(label_groups or DEFAULT_LABEL_GROUPS, store.action_names)
    targets = np.empty(len(staged.features), dtype=np.int16)
    v = store.videos
    for j, i in enumerate(staged.video_index):
        rows = staged.rows(j)
        staged.features[rows] = normalise_coords(staged.features[rows], float(v["pix_per_cm"][i]))
        targets[rows] = frame_classes(staged.actions[rows], v["labeled_actions"][i], groups, assume_absent)
    return staged, targets


def grouped_sampler(store: Store, staged: Staged, targets: np.ndarray, *, window: int, batch_size: int,
                    seed: int = 0, frame_gap: int = 1, noise_std: float = 0.0,
                    temporal_jitter: int = 0) -> WindowSampler:
    """Windows uniform over every start of every staged video where the window fits."""
    units = Units.videos(staged.starts, staged.lengths)
    return WindowSampler(staged.features, targets, units, UniformStarts(units.length, window_span(window, frame_gap)),
                         fps=store.videos["fps"][staged.video_index].astype(np.float32), window=window,
                         batch_size=batch_size, seed=seed, frame_gap=frame_gap, temporal_jitter=temporal_jitter,
                         noise_std=noise_std)


def class_scores(conf: np.ndarray, names=GROUPS) -> dict:
    """Accuracy, macro F1 and per-class precision/recall/F1 of a (true, pred) confusion matrix.

    Macro F1 averages the classes that occur in the labels or the predictions (an absent class
    that is never predicted is not counted as a perfect or a zero score).
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    support, predicted = conf.sum(axis=1), conf.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (support > 0) | (predicted > 0)
    total = conf.sum()
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "n_frames": int(total),
        "per_class": {n: {"f1": float(f1[i]), "precision": float(precision[i]),
                          "recall": float(recall[i]), "support": int(support[i])}
                      for i, n in enumerate(names)},
        "confusion": conf.astype(np.int64).tolist(),
    }


def majority_macro_f1(conf: np.ndarray) -> float:
    """Macro F1 of always predicting the most frequent true class (the no-learning baseline)."""
    support = np.asarray(conf).sum(axis=1)
    base = np.zeros_like(np.asarray(conf))
    base[:, int(support.argmax())] = support
    return class_scores(base)["macro_f1"]


class GroupedTask(Task):
    """The original design's 4 grouped classes per frame, with unknown frames ignored."""

    monitor = "macro_f1"

    def __init__(self, cfg, store, split, *, run_dir=None, progress=True):
        super().__init__(cfg, store, split, run_dir=run_dir, progress=progress)
        d, g = cfg.data, cfg.grouped
        self.settings = g
        self.input_dim = check_features(g.features, self.layout)
        self.n_outputs = len(GROUPS)
        self.class_weights = torch.tensor(g.class_weights, dtype=torch.float32)
        self._cache = d.cache_dir or (str(run_dir / "stage-cache") if run_dir else None)
        self._train: WindowSampler | None = None
        self._train_frames = 0
        self._val: tuple[Staged, np.ndarray] | None = None

    def _stage(self, ids, name) -> tuple[Staged, np.ndarray]:
        d, g = self.cfg.data, self.settings
        return stage_grouped(self.store, ids, label_groups=g.label_groups, assume_absent=tuple(g.assume_absent),
                             out=f"{self._cache}/{name}" if self._cache else None, max_ram_gb=d.max_ram_gb,
                             progress=self.progress)

    def train_batches(self) -> WindowSampler:
        if self._train is None:
            d, g = self.cfg.data, self.settings  # every sampler setting is read here
            staged, targets = self._stage(self.split["train"], "train")
            self._train_frames = int(staged.lengths.sum())
            self._train = grouped_sampler(self.store, staged, targets, window=d.sequence_length,
                                          batch_size=d.batch_size, seed=self.cfg.train.seed,
                                          frame_gap=g.frame_gap, noise_std=d.noise_std,
                                          temporal_jitter=g.temporal_jitter)
        return self._train

    def frames_per_epoch(self) -> int:
        self.train_batches()
        return self._train_frames

    def inputs(self, batch, device) -> torch.Tensor:
        coords = batch.x.to(device, non_blocking=True)
        fps = batch.fps.to(device, non_blocking=True)
        return build_inputs(coords, fps, self.settings.features, self.settings.frame_gap)

    def loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        return self.frame_loss(logits, batch.y.to(logits.device, non_blocking=True))

    def frame_loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Class-weighted CE over known frames; `sum` returns (loss sum, weight sum) summed."""
        if self.class_weights.device != logits.device:  # once: a per-step host copy would sync CUDA
            self.class_weights = self.class_weights.to(logits.device)
        w = self.class_weights
        flat, y = logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1)
        total = F.cross_entropy(flat, y, weight=w, ignore_index=IGNORE_INDEX, reduction="sum")
        weight = (w[y.clamp(min=0)] * (y != IGNORE_INDEX)).sum()
        if reduction == "sum":
            return torch.stack([total, weight])
        return total / weight.clamp_min(1e-12)

    def _val_staged(self):
        if self._val is None:
            ids = self.split["val"]
            limit = self.cfg.train.max_val_videos
            self._val = self._stage(ids[:limit] if limit else ids, "val")
        return self._val

    @torch.no_grad()
    def predict(self, model, device):
        """Yield (staged video index, (T, C) logits, (T,) targets) for every validation video."""
        model.eval()
        d, g, (staged, targets) = self.cfg.data, self.settings, self._val_staged()
        fps = self.store.videos["fps"][staged.video_index].astype(np.float32)

        def forward(coords, fps):
            return model(build_inputs(coords, fps, g.features, g.frame_gap))
        for j in range(len(staged.video_index)):
            rows = staged.rows(j)
            logits = predict_video(forward, staged.features[rows], float(fps[j]), d.sequence_length, g.frame_gap,
                                   d.val_stride, d.batch_size, device)
            yield j, logits, torch.from_numpy(targets[rows].astype(np.int64))

    def validate(self, model, device) -> tuple[dict, dict]:
        (staged, _), n = self._val_staged(), len(GROUPS)
        conf = np.zeros((n, n), dtype=np.int64)
        per_lab: dict[str, np.ndarray] = {}
        loss_sum = torch.zeros(2)
        for j, logits, y in self.predict(model, device):
            loss_sum += self.frame_loss(logits, y, reduction="sum")
            known = y != IGNORE_INDEX
            pred = logits.argmax(-1)
            c = np.bincount((y[known] * n + pred[known]).numpy(), minlength=n * n).reshape(n, n)
            conf += c
            lab = str(self.store.videos["lab_id"][staged.video_index[j]])
            per_lab[lab] = per_lab.get(lab, 0) + c
        out = {"val_loss": float(loss_sum[0] / loss_sum[1].clamp_min(1e-12)), **class_scores(conf)}
        out["majority_macro_f1"] = majority_macro_f1(conf)
        out["per_lab"] = {lab: class_scores(c) for lab, c in sorted(per_lab.items())}
        return out, {}
