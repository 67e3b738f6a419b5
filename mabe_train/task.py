"""The tasks by the name the config's `task:` key takes, and `build_task` to make one.

The interface every task implements is `mabe_train.task_base.Task`; this module sits above the
tasks (it imports each of them), so adding a task is one import and one entry in `TASKS`.
"""

from __future__ import annotations

from mabe_store.reader import Store
from mabe_train.grouped.task import GroupedTask
from mabe_train.pairs.task import PairsTask
from mabe_train.task_base import Task, TaskError

__all__ = ["TASKS", "Task", "TaskError", "build_task", "task_types"]

TASKS: dict[str, type[Task]] = {"grouped": GroupedTask, "pairs": PairsTask}


def task_types() -> dict[str, type[Task]]:
    """Every task by its config name."""
    return dict(TASKS)


def build_task(cfg, store: Store, split: dict, **kwargs) -> Task:
    if cfg.task not in TASKS:
        raise TaskError(f"unknown task {cfg.task!r} (choose from {', '.join(sorted(TASKS))})")
    return TASKS[cfg.task](cfg, store, split, **kwargs)
