"""V5: per-frame 4-class classification (other/social/mating/aggressive) with weighted cross-entropy.

Targets come from `mabe_train.grouped.labels` (unknown frames = IGNORE_INDEX, never "other"). The loss is
the class-weighted mean over known frames only — computed as sum / sum of weights, so a batch with
no known frame gives 0, not NaN. Validation predicts every frame of each validation video
(`data.predict_video`) and reports accuracy, macro F1 over the classes present (in the labels or
the predictions), per-class precision/recall/F1 and confusion matrices, overall and per lab.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mabe_train.grouped.features import build_inputs, check_features
from mabe_train.grouped.labels import GROUPS, IGNORE_INDEX, frame_classes, group_matrix
from mabe_train.task import Task
from mabe_train.windows import WindowSampler, predict_video, stage_videos


def grouped_targets(label_groups: dict[str, str] | None = None, assume_absent=()):
    """TargetsFn giving each frame's group class (int16, IGNORE_INDEX where unknown)."""
    from mabe_train.grouped.labels import DEFAULT_LABEL_GROUPS
    label_groups = label_groups or DEFAULT_LABEL_GROUPS

    def fn(store, row: int, actions: np.ndarray) -> np.ndarray:
        groups = group_matrix(label_groups, store.action_names)
        return frame_classes(actions, store.videos["labeled_actions"][row], groups, assume_absent)
    return fn


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
        self.targets_fn = grouped_targets(g.label_groups, tuple(g.assume_absent))
        self.class_weights = torch.tensor(g.class_weights, dtype=torch.float32)
        self._stage_kw = {"max_ram_gb": d.max_ram_gb, "progress": progress}
        self._cache = d.cache_dir or (str(run_dir / "stage-cache") if run_dir else None)
        self._train = self._val = None

    def _stage(self, ids, name):
        cache = f"{self._cache}/{name}" if self._cache else None
        return stage_videos(self.store, ids, self.targets_fn, cache_dir=cache, **self._stage_kw)

    def train_batches(self) -> WindowSampler:
        if self._train is None:
            d, g = self.cfg.data, self.settings
            self._train = WindowSampler(
                None, window=d.sequence_length, batch_size=d.batch_size, seed=self.cfg.train.seed,
                frame_gap=g.frame_gap, noise_std=d.noise_std, temporal_jitter=g.temporal_jitter,
                staged=self._stage(self.split["train"], "train"))
        return self._train

    def frames_per_epoch(self) -> int:
        return int(self.train_batches().staged.lengths.sum())

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
        d, g, staged = self.cfg.data, self.settings, self._val_staged()

        def forward(coords, fps):
            return model(build_inputs(coords, fps, g.features, g.frame_gap))
        for j in range(len(staged.video_ids)):
            coords, y = staged.video(j)
            logits = predict_video(forward, coords, float(staged.fps[j]), d.sequence_length, g.frame_gap,
                                   d.val_stride, d.batch_size, device)
            yield j, logits, torch.from_numpy(np.asarray(y).astype(np.int64))

    def validate(self, model, device) -> tuple[dict, dict]:
        staged, n = self._val_staged(), len(GROUPS)
        conf = np.zeros((n, n), dtype=np.int64)
        per_lab: dict[str, np.ndarray] = {}
        loss_sum = torch.zeros(2)
        for j, logits, y in self.predict(model, device):
            loss_sum += self.frame_loss(logits, y, reduction="sum")
            known = y != IGNORE_INDEX
            pred = logits.argmax(-1)
            c = np.bincount((y[known] * n + pred[known]).numpy(), minlength=n * n).reshape(n, n)
            conf += c
            lab = str(staged.lab_ids[j])
            per_lab[lab] = per_lab.get(lab, 0) + c
        out = {"val_loss": float(loss_sum[0] / loss_sum[1].clamp_min(1e-12)), **class_scores(conf)}
        out["majority_macro_f1"] = majority_macro_f1(conf)
        out["per_lab"] = {lab: class_scores(c) for lab, c in sorted(per_lab.items())}
        return out, {}
