"""The ethogram of one video: when each mouse is tracked, and each behaviour's bouts over time.

Rows from the top: one `mouseN tracked` row per mouse (dark where it is tracked), then one row per
(agent, target, action) of the time budget, its bouts in the action's colour over a hatched grey
band wherever its pair is not tracked: no behaviour is predicted there, so an empty stretch
reads as "not seen", not as "not doing it". Each behaviour row ends with its share of the video
and of the pair's tracked time. Drawn on a bare `matplotlib.figure.Figure` (no global backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mabe_train.tracked import mouse_number, pair_tracked, runs

TRIPLE = ["agent_id", "target_id", "action"]
UNTRACKED = {"facecolors": "#e4e4e4", "edgecolor": "#b0b0b0", "hatch": "////", "linewidth": 0}
TRACKED_COLOUR = "#8c8c8c"  # lighter than any bout colour: the behaviour rows draw the eye


def _spans(mask: np.ndarray, fps: float) -> list[tuple[float, float]]:
    """(start_s, duration_s) of the True runs of a per-frame mask."""
    starts, stops = runs(mask)
    return list(zip((starts / fps).tolist(), ((stops - starts) / fps).tolist(), strict=True))


def _row_label(agent: str, target: str, action: str) -> str:
    return f"{agent} {action}" if target in ("self", agent) else f"{agent} → {target} {action}"


def _share(pct: float, pct_tracked: float | None, tracked_s: float, n: int) -> str:
    bouts = f"{n} bout{'s' if n != 1 else ''}"
    if tracked_s == 0:
        return f"never tracked · {bouts}"
    return f"{pct:.1f}% of video · {pct_tracked:.1f}% of tracked · {bouts}"


def _tracking_rows(ax, mice: np.ndarray, n_mice: int, fps: float) -> list[str]:
    labels = []
    for m in range(1, n_mice + 1):
        mask = mice[:, m - 1]
        ax.broken_barh(_spans(mask, fps), (m - 1 - 0.3, 0.6), facecolors=TRACKED_COLOUR)
        ax.text(1.005, m - 1, f"tracked {mask.mean() * 100 if len(mask) else 0:.1f}%",
                transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        labels.append(f"mouse{m} tracked")
    return labels


def _behaviour_row(ax, y: int, b: pl.DataFrame, row: dict, colour, mice: np.ndarray | None, fps: float) -> None:
    if mice is not None:
        agent = mouse_number(row["agent_id"])
        pair = pair_tracked(mice, agent, mouse_number(row["target_id"], agent))
        ax.broken_barh(_spans(~pair, fps), (y - 0.42, 0.84), **UNTRACKED)
    sel = b.filter(pl.all_horizontal(pl.col(c) == row[c] for c in TRIPLE))
    ax.broken_barh(list(zip(sel["start_s"].to_list(), sel["duration_s"].to_list(), strict=True)),
                   (y - 0.38, 0.76), facecolors=colour)
    ax.text(1.005, y, _share(row["pct_of_video"], row["pct_of_tracked"], row["tracked_s"], row["bouts"]),
            transform=ax.get_yaxis_transform(), va="center", fontsize=8)


def plot_ethogram(b: pl.DataFrame, budget: pl.DataFrame, *, fps: float, length: int, title: str,
                  path: str | Path, mice: np.ndarray | None = None, n_mice: int = 0) -> Path:
    """`b`: bouts (report.bouts); `budget`: report.time_budget; `mice`: (length, N_MICE) tracked
    mask, drawn for mice 1..n_mice (without it no tracking rows and no shading)."""
    rows = budget.to_dicts()
    n_track = n_mice if mice is not None else 0
    n = n_track + len(rows)
    fig = Figure(figsize=(11, 1.5 + 0.38 * max(n, 1)), dpi=110)
    ax = fig.subplots()
    labels = _tracking_rows(ax, mice, n_track, fps) if n_track else []
    colours = _colours(sorted({r["action"] for r in rows}))
    for y, row in enumerate(rows, start=n_track):
        _behaviour_row(ax, y, b, row, colours[row["action"]], mice, fps)
        labels.append(_row_label(row["agent_id"], row["target_id"], row["action"]))
    if n_track and rows:
        ax.axhline(n_track - 0.5, color="black", lw=0.6)
    ax.set_yticks(range(n), labels, fontsize=9)
    ax.set_ylim(max(n, 1) - 0.5, -0.5)
    ax.set_xlim(0, length / fps)
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)
    if not rows:
        ax.text(0.5, 0.5 if not n_track else 1.0 / (n + 1), "no behaviour requested or predicted",
                transform=ax.transAxes, ha="center", va="center")
    if mice is not None:
        ax.legend(handles=[Patch(facecolor=TRACKED_COLOUR, label="mouse tracked"),
                           Patch(label="pair not tracked: no behaviour predicted", **{
                               k.removesuffix("s"): v for k, v in UNTRACKED.items()})],
                  loc="upper center", bbox_to_anchor=(0.5, -0.55 / (0.38 * max(n, 1))), ncol=2,  # under the axis label
                  frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return Path(path)


def _colours(actions: list[str]) -> dict:
    cmap = colormaps["tab10" if len(actions) <= 10 else "tab20"]
    return {a: cmap(i % cmap.N) for i, a in enumerate(actions)}
