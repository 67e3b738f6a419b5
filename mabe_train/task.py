"""The Task interface: everything the trainer must not know about the prediction problem.

`train(cfg)` only moves tensors: it asks the task for batches, for model inputs of a batch, for a
scalar loss, and for a validation dict with one key named by `monitor` (maximised). Which targets a
frame has (4 grouped classes, 37 actions per mouse pair, ...), how inputs are built from the
store's columns, and how whole videos are scored stay inside the task. `task_types()` lists the
tasks by the name the config's `task:` key takes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import torch

from mabe_store.reader import Store
from mabe_train import MabeTrainError


class TaskError(MabeTrainError, ValueError):
    """Unknown task name or a task that cannot be built from this store/config."""


class Task(ABC):
    """One prediction problem over a store. Subclasses set `input_dim` and `n_outputs` in __init__."""

    name: str = ""
    monitor: str = "macro_f1"  # validate()[monitor] drives the scheduler, early stopping and `best`
    input_dim: int
    n_outputs: int

    def __init__(self, cfg, store: Store, split: dict, *, run_dir: Path | None = None, progress: bool = True,
                 readonly: bool = False):
        """`readonly`: validation must not change the run's files (`mabe-train evaluate`); caches may."""
        self.cfg, self.store, self.split, self.run_dir, self.progress = cfg, store, split, run_dir, progress
        self.readonly = readonly

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
    def validate(self, model: torch.nn.Module, device: torch.device) -> dict:
        """Metrics over the validation videos; must hold `self.monitor`. Leaves the model in eval."""


def task_types() -> dict[str, type[Task]]:
    """Every task by its config name (imported here, not at the top: the tasks import this module)."""
    from mabe_train.grouped.task import GroupedTask
    from mabe_train.pairs.task import PairsTask
    return {"grouped": GroupedTask, "pairs": PairsTask}


def build_task(cfg, store: Store, split: dict, **kwargs) -> Task:
    tasks = task_types()
    if cfg.task not in tasks:
        raise TaskError(f"unknown task {cfg.task!r} (choose from {', '.join(sorted(tasks))})")
    return tasks[cfg.task](cfg, store, split, **kwargs)
