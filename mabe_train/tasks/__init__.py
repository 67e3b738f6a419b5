"""Prediction tasks (see base.Task). Importing the package imports every module in it, so a new
task registers itself just by living here (e.g. tasks/pairs.py with `@register_task("pairs")`)."""

import importlib
import pkgutil

from mabe_train.tasks.base import TASKS, Task, TaskError, build_task, register_task

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["TASKS", "Task", "TaskError", "build_task", "register_task"]
