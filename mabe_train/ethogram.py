"""The ethogram of one video's predictions: when each mouse is tracked, and each behaviour's bouts.

Rows from the top: one `mouseN tracked` row per mouse (dark where it is tracked), then one row per
(agent, target, action) of the time budget, its bouts in the action's colour over a hatched grey
band wherever its pair is not tracked: no behaviour is predicted there, so an empty stretch
reads as "not seen", not as "not doing it". Each behaviour row ends with its share of the video
and of the pair's tracked time. This module turns the report's tables into rows; the drawing is
`mabe_store.ethogram`'s, the same as `mabe-store inspect --plot` uses for annotated intervals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mabe_store import ethogram as drawing
from mabe_train.tracked import mouse_number, pair_tracked, runs

TRIPLE = ["agent_id", "target_id", "action"]


def _spans(mask: np.ndarray, fps: float) -> list[tuple[float, float]]:
    """(start_s, duration_s) of the True runs of a per-frame mask."""
    starts, stops = runs(mask)
    return list(zip((starts / fps).tolist(), ((stops - starts) / fps).tolist(), strict=True))


def _share(pct: float, pct_tracked: float | None, tracked_s: float, n: int) -> str:
    bouts = f"{n} bout{'s' if n != 1 else ''}"
    if tracked_s == 0:
        return f"never tracked · {bouts}"
    return f"{pct:.1f}% of video · {pct_tracked:.1f}% of tracked · {bouts}"


def _tracking_rows(mice: np.ndarray, n_mice: int, fps: float) -> list[drawing.Row]:
    return [drawing.Row(f"mouse{m} tracked", _spans(mice[:, m - 1], fps), drawing.CONTEXT_COLOUR,
                        text=f"tracked {mice[:, m - 1].mean() * 100 if len(mice) else 0:.1f}%")
            for m in range(1, n_mice + 1)]


def _behaviour_row(b: pl.DataFrame, row: dict, colour, mice: np.ndarray | None, fps: float) -> drawing.Row:
    hatched = []
    if mice is not None:
        agent = mouse_number(row["agent_id"])
        hatched = _spans(~pair_tracked(mice, agent, mouse_number(row["target_id"], agent)), fps)
    sel = b.filter(pl.all_horizontal(pl.col(c) == row[c] for c in TRIPLE))
    return drawing.Row(drawing.row_label(row["agent_id"], row["target_id"], row["action"]),
                       list(zip(sel["start_s"].to_list(), sel["duration_s"].to_list(), strict=True)), colour,
                       hatched=hatched,
                       text=_share(row["pct_of_video"], row["pct_of_tracked"], row["tracked_s"], row["bouts"]))


def plot_ethogram(b: pl.DataFrame, budget: pl.DataFrame, *, fps: float, length: int, title: str,
                  path: str | Path, mice: np.ndarray | None = None, n_mice: int = 0) -> Path:
    """`b`: bouts (report.bouts); `budget`: report.time_budget; `mice`: (length, N_MICE) tracked
    mask, drawn for mice 1..n_mice (without it no tracking rows and no shading)."""
    budget_rows = budget.to_dicts()
    colours = drawing.action_colours(r["action"] for r in budget_rows)
    context = _tracking_rows(mice, n_mice, fps) if mice is not None else []
    rows = [_behaviour_row(b, r, colours[r["action"]], mice, fps) for r in budget_rows]
    n = len(context) + max(len(rows), 1)
    fig = Figure(figsize=(11, 1.5 + 0.38 * n), dpi=110)
    ax = fig.subplots()
    drawing.draw_ethogram(ax, rows, duration_s=length / fps, context=context,
                          empty="no behaviour requested or predicted")
    if mice is not None:
        ax.legend(handles=[Patch(facecolor=drawing.CONTEXT_COLOUR, label="mouse tracked"),
                           drawing.hatched_patch("pair not tracked: no behaviour predicted")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.55 / (0.38 * n)), ncol=2,  # under the axis label
                  frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return Path(path)
