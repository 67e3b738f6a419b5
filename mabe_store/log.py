"""One way to report progress in both packages: a `log` callback for lines, `progress_bar` for bars.

Library functions that report take `log: Log = say` and call `log(line)`; `say` prints the line to
stdout (flushed, so a detached or remote run's log is current), which is what the command lines
show and what tests capture. A caller that wants the lines elsewhere passes its own callable (a
list's `append`, a logger's `info`), or `quiet`. Why a callback and not `logging`: the lines are the
commands' output, not diagnostics, and a callback needs no handler set up in a Kaggle notebook or a
Modal container to be seen. Progress bars are tqdm's (`tqdm.auto`: a widget in a notebook), on
stderr so they never mix with the lines, created through `progress_bar` so every bar can be switched off
the same way (`enabled=False`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Log = Callable[[str], None]


def say(line: str) -> None:
    """The default log: the line on stdout, flushed."""
    print(line, flush=True)


def quiet(line: str) -> None:
    """A log that drops every line."""


def progress_bar(iterable: Iterable | None = None, *, desc: str, unit: str, total: float | None = None,
        enabled: bool = True, **options):
    """A tqdm progress bar on stderr; `enabled=False` gives one that shows nothing."""
    from tqdm.auto import tqdm  # imported when a bar is made: importing this module stays light

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, **options)
