"""Figures of a run — confusion matrix and training curves — as PNG and as the JSON they are drawn from.

Each figure is built from a small plain dict (`confusion_data`, `curves_data`), written next to the
PNG, so a notebook or a report can redraw or compare runs without parsing images. The confusion
matrix is row-normalised (recall per true class; colours comparable across classes of very
different sizes) and every cell also prints its frame count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def confusion_data(conf, names, title: str = "") -> dict:
    conf = np.asarray(conf, dtype=np.int64)
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros(conf.shape), where=rows > 0)
    return {"title": title, "labels": list(names), "counts": conf.tolist(), "row_normalised": norm.round(4).tolist()}


def plot_confusion(data: dict, path: str | Path) -> Path:
    """Row-normalised heatmap, cells annotated with share and count; writes PNG + JSON."""
    names, norm, counts = data["labels"], np.array(data["row_normalised"]), np.array(data["counts"])
    n = len(names)
    fig = Figure(figsize=(1.6 * n + 2.5, 1.4 * n + 1.8), dpi=120)  # no pyplot: no global backend
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.0%}\n{counts[i, j]:,}", ha="center", va="center", fontsize=9,
                    color="white" if norm[i, j] > 0.55 else "black")
    ax.set_xticks(range(n), names, rotation=30, ha="right")
    ax.set_yticks(range(n), [f"{nm} ({c:,})" for nm, c in zip(names, counts.sum(axis=1), strict=True)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (frames)")
    ax.set_title(data.get("title") or "confusion (row-normalised: recall per class)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _save(fig, data, path)


def curves_data(history: list[dict], monitor: str = "macro_f1") -> dict:
    """Per-epoch series from metrics.jsonl lines (missing keys become None)."""
    keys = ("loss", "val_loss", monitor, "accuracy", "majority_macro_f1", "lr", "windows_per_s")
    out = {"epoch": [h["epoch"] for h in history], "monitor": monitor}
    for k in keys:
        out[k] = [h.get(k) for h in history]
    return out


def plot_curves(data: dict, path: str | Path) -> Path:
    """Loss (train, val), the monitored metric (+ accuracy, majority baseline) and lr per epoch."""
    ep, monitor = data["epoch"], data["monitor"]
    fig = Figure(figsize=(15, 4.2), dpi=110)
    axes = fig.subplots(1, 3)
    _series(axes[0], ep, {"train loss": data["loss"], "val loss": data["val_loss"]}, "loss")
    best = _best_epoch(ep, data[monitor])
    if best is not None:  # drawn first so that its legend entry sits with the others
        axes[1].axvline(best, color="grey", ls=":", lw=1, label=f"best {monitor}: epoch {best}")
    _series(axes[1], ep, {f"val {monitor}": data[monitor], "val accuracy": data["accuracy"],
                          "majority-class macro F1": data["majority_macro_f1"]}, "score")
    axes[1].set_ylim(0, 1)
    _series(axes[2], ep, {"learning rate": data["lr"]}, "lr")
    if any(v for v in data["lr"] if v):
        axes[2].set_yscale("log")
    fig.suptitle("training curves")
    return _save(fig, data, path)


def _series(ax, x, series: dict, ylabel: str) -> None:
    for label, y in series.items():
        pts = [(a, b) for a, b in zip(x, y, strict=True) if b is not None]
        if pts:
            style = {"ls": "--", "color": "grey"} if "majority" in label else {"marker": "o", "ms": 3}
            ax.plot(*zip(*pts, strict=True), label=label, **style)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # under the panel, so it never hides a curve
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def _best_epoch(epochs, values):
    pts = [(v, e) for e, v in zip(epochs, values, strict=True) if v is not None]
    return max(pts)[1] if pts else None


def _save(fig, data: dict, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    path.with_suffix(".json").write_text(json.dumps(data, indent=1))
    return path
