"""The one ethogram drawing of the project: behaviour over time, one row per (agent, target, action).

`mabe-store inspect --plot` draws a video's annotated intervals with it and `mabe-train report`
its predicted bouts, so a labeled video and a predicted one read the same way: rows from the top
in the caller's order, time in seconds on the x axis, each row's spans as bars. The colour says
the action, one rule for every figure (the row label already names agent and target, so the
colour is free to make one behaviour easy to follow down the rows). A row may add hatched spans
behind its bars (time where the row cannot be seen, e.g. its pair is not tracked: an empty
stretch then reads "not seen", not "not doing it") and a short text right of the axis (its
share of the video). Leading context rows (a `mouseN tracked` row per mouse) sit above a rule.

Drawn on axes the caller made from a bare `matplotlib.figure.Figure`: never pyplot, so a
notebook's backend and figures stay as they are. This module imports matplotlib on import;
`mabe_store.inspect` imports it only when a plot is asked for, so the text commands stay light.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matplotlib import colormaps
from matplotlib.patches import Patch

Span = tuple[float, float]  # (start_s, duration_s), as `broken_barh` takes them
HATCHED = {"facecolors": "#e4e4e4", "edgecolor": "#b0b0b0", "hatch": "////", "linewidth": 0}
CONTEXT_COLOUR = "#8c8c8c"  # lighter than any action colour: the behaviour rows draw the eye
BAR, CONTEXT_BAR, HATCH_BAR = 0.76, 0.6, 0.84  # row heights (1 = the row pitch)


@dataclass(frozen=True)
class Row:
    """One ethogram row: `spans` drawn in `colour`, `hatched` behind them, `text` right of the axis."""

    label: str
    spans: Sequence[Span]
    colour: object  # any matplotlib colour
    hatched: Sequence[Span] = ()
    text: str = ""


def action_colours(actions: Iterable[str]) -> dict[str, tuple]:
    """One colour per action, by sorted name: tab10 up to 10 actions, tab20 beyond (it repeats
    past 20, where the row labels still tell the actions apart)."""
    names = sorted(set(actions))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {a: cmap(i % cmap.N) for i, a in enumerate(names)}


def row_label(agent: str, target: str, action: str) -> str:
    """`mouse1 rear` for a self behaviour (target `self` or the agent), `mouse1 → mouse2 sniff` else."""
    return f"{agent} {action}" if target in ("self", agent) else f"{agent} → {target} {action}"


def hatched_patch(label: str) -> Patch:
    """A legend entry in the hatched style, for the caller to say what hatching means in its figure."""
    return Patch(label=label, **{k.removesuffix("s"): v for k, v in HATCHED.items()})


def draw_ethogram(ax, rows: Sequence[Row], *, duration_s: float, context: Sequence[Row] = (),
                  empty: str = "no behaviour") -> None:
    """Draw `context` rows (thin, grey, above a rule), then `rows` on `ax`, over [0, duration_s]
    seconds. With no behaviour row, `empty` is written in the row slot they would take."""
    for y, row in enumerate(context):
        _draw_row(ax, y, row, CONTEXT_BAR)
    for y, row in enumerate(rows, start=len(context)):
        _draw_row(ax, y, row, BAR)
    n = len(context) + max(len(rows), 1)
    if context:
        ax.axhline(len(context) - 0.5, color="black", lw=0.6)
    if not rows:
        ax.text(0.5, n - 1, empty, transform=ax.get_yaxis_transform(), ha="center", va="center")
    labelled = [*context, *rows]
    ax.set_yticks(range(len(labelled)), [r.label for r in labelled], fontsize=9)
    ax.set_ylim(n - 0.5, -0.5)  # first row on top, read like a table
    ax.set_xlim(0, duration_s)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)


def _draw_row(ax, y: int, row: Row, height: float) -> None:
    if row.hatched:
        ax.broken_barh(list(row.hatched), (y - HATCH_BAR / 2, HATCH_BAR), **HATCHED)
    ax.broken_barh(list(row.spans), (y - height / 2, height), facecolors=row.colour)
    if row.text:
        ax.text(1.005, y, row.text, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
