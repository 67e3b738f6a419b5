"""The Task interface: everything the trainer must not know about the prediction problem.

`train(cfg)` only moves tensors: it asks the task for batches, for model inputs of a batch, for a
scalar loss, and for a validation: metrics with one key named by `monitor` (maximised) plus the
artefacts that go with the checkpoint (the pairs task's tuned thresholds). Validation is pure: it
writes nothing; `train` stores the artefacts in the checkpoint and beside best.pt (mabe_train.run). Which targets a
frame has (4 grouped classes, 37 actions per mouse pair, ...), how inputs are built from the
store's columns, and how whole videos are scored stay inside the task. The tasks by the name the
config's `task:` key takes are in mabe_train/task.py, which imports every task; this module sits
below them, so a task imports the interface without importing its siblings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import torch

from mabe_store.reader import Store
from mabe_train import MabeTrainError
from mabe_train.layout import Layout


class TaskError(MabeTrainError, ValueError):
    """Unknown task name or a task that cannot be built from this store/config."""


class Task(ABC):
    """One prediction problem over a store. Subclasses set `input_dim` and `n_outputs` in __init__,
    derived from the store's keypoint layout (`self.layout`), never from settings."""

    monitor: str = "macro_f1"  # validate()[0][monitor] drives the scheduler, early stopping and `best`
    input_dim: int
    n_outputs: int

    def __init__(self, cfg, store: Store, split: dict, *, run_dir: Path | None = None, progress: bool = True):
        self.cfg, self.store, self.split, self.run_dir, self.progress = cfg, store, split, run_dir, progress
        self.layout = Layout.of(store)

    @abstractmethod
    def train_batches(self):
        """An endless, resumable batch source: `next_batch()`, `state_dict()`, `load_state_dict()`."""

    @abstractmethod
    def frames_per_epoch(self) -> int:
        """Training frames in the split; the default epoch draws about this many window frames."""

    @abstractmethod
    def inputs(self, batch, device: torch.device) -> torch.Tensor:
        """Model inputs (B, T, input_dim) on `device` for one batch."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """Scalar training loss of the model's logits for `batch` (targets moved as needed)."""

    @abstractmethod
    def validate(self, model: torch.nn.Module, device: torch.device) -> tuple[dict, dict]:
        """(metrics over the validation videos, holding `self.monitor`; artefacts {file name: JSON-able
        dict} that belong with this model, e.g. tuned thresholds). Writes nothing; leaves the model in eval."""
