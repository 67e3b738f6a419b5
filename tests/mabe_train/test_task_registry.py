"""The catalogue of tasks: every task by its config name, one error for an unknown one."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mabe_train.grouped.task import GroupedTask
from mabe_train.pairs.task import PairsTask
from mabe_train.task import TaskError, build_task, task_types
from mabe_train.task_base import Task


def test_every_task_is_listed_under_its_config_name():
    assert task_types() == {"grouped": GroupedTask, "pairs": PairsTask}
    assert all(issubclass(t, Task) for t in task_types().values())


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(TaskError, match=r"unknown task 'nope' \(choose from grouped, pairs\)"):
        build_task(SimpleNamespace(task="nope"), None, {})
