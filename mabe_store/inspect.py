"""`mabe-store inspect`: what is in a store, as text a person reads at a glance, and one picture.

The summary reads only the small tables and attrs (plus the label matrix for label balance), so it
stays quick on the full 72M-frame store; the per-video view reads that video's rows. The plot
(trajectories of each mouse's body centre, and an ethogram of the labeled intervals drawn by
`mabe_store.ethogram`, as `mabe-train report` draws predicted bouts) uses matplotlib (a bare
Figure, never pyplot, so a notebook's backend is left alone), imported only when asked for.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mabe_store.constants import mouse_name
from mabe_store.reader import Store

if TYPE_CHECKING:  # the module imports matplotlib, which only a plot needs
    from mabe_store.ethogram import Row


def _raw_bytes(store: Store) -> int | None:
    raw = Path(store.attrs.get("source", {}).get("raw", ""))
    if not raw.is_dir():
        return None
    return sum(p.stat().st_size for p in raw.glob("*_tracking/*/*.parquet"))


def summary_lines(store: Store) -> list[str]:
    """Videos/frames per lab and split, size on disk vs raw, label balance, last build's report."""
    v = store.videos
    out = [f"{store.path}: {store.n_videos} videos, {store.n_frames:,} frames, "
           f"{len(store.keypoints)} keypoint slots x {store.attrs['n_mice']} mice, {len(store.action_names)} actions"]
    out += _vocabulary_lines(store)
    out.append(f"  {'lab':<24}{'split':<7}{'videos':>8}{'frames':>14}")
    for lab in np.unique(v["lab_id"]):
        for split in np.unique(v["split"]):
            sel = (v["lab_id"] == lab) & (v["split"] == split)
            if sel.any():
                out.append(f"  {lab:<24}{split:<7}{int(sel.sum()):>8}{int(v['length'][sel].sum()):>14,}")
    size, raw = store.location.nbytes(), _raw_bytes(store)
    ratio = f" = {size / raw:.2f} x the raw tracking parquet ({raw / 1e6:,.1f} MB)" if raw else ""
    out.append(f"  size on disk {size / 1e6:,.1f} MB{ratio}")
    out += _balance_lines(store)
    report = store.attrs.get("build_report", {})
    if report.get("skipped"):
        out.append(f"  last build skipped {len(report['skipped'])} videos:")
        out += [f"    {s}" for s in report["skipped"]]
    if report.get("repaired"):
        out.append(f"  {len(report['repaired'])} repairs (first 5):")
        out += [f"    {s}" for s in report["repaired"][:5]]
    return out


def _vocabulary_lines(store: Store) -> list[str]:
    """A lab's own behaviours by kind (a MABe store's 37 need no listing)."""
    v = store.vocabulary
    if v.is_mabe:
        return []
    directed = [a for a in v.pair_actions if a not in v.undirected]
    out = [f"  own behaviours: self {', '.join(sorted(v.self_actions)) or '-'}; pair {', '.join(directed) or '-'}; "
           f"undirected (on both ordered pairs) {', '.join(sorted(v.undirected)) or '-'}"]
    out += [f"  stream {s} (mutually exclusive): {', '.join(names)}" for s, names in v.streams]
    return out


def _balance_lines(store: Store) -> list[str]:
    counts = np.zeros(len(store.action_names), dtype=np.int64)
    step = 1 << 20
    for lo in range(0, store.action_array.shape[0], step):
        counts += store.action_array[lo:lo + step].sum(axis=0, dtype=np.int64)
    if not counts.any():
        return ["  no labeled frames"]
    order = np.argsort(-counts)
    top = [f"{store.action_names[i]} {counts[i]:,}" for i in order if counts[i]]
    return ["  labeled frames per action: " + ", ".join(top)]


def video_lines(store: Store, video_id) -> list[str]:
    """Lab, fps, frames, mice, tracked keypoints with missing fractions, behaviours with frames."""
    i, v = store.index(video_id), store.videos
    feats = store.features(video_id)
    k = len(store.keypoints)
    out = [f"video {video_id}: lab {v['lab_id'][i]}, split {v['split'][i]}, {v['fps'][i]:g} fps, "
           f"{int(v['length'][i]):,} frames, {int(v['n_mice'][i])} mice, {v['pix_per_cm'][i]:g} px/cm"]
    xs = feats[:, 0::2].reshape(len(feats), -1, k)  # (T, mice, K) x coordinates
    tracked = ~np.isnan(xs)
    for m in range(xs.shape[1]):
        parts = [f"{store.keypoints[j]} {1 - tracked[:, m, j].mean():.0%}" for j in range(k) if tracked[:, m, j].any()]
        if parts:
            out.append(f"  {mouse_name(m + 1)} missing: " + ", ".join(parts))
    acts = store.actions(video_id).sum(axis=0)
    names = [f"{store.action_names[a]} {int(acts[a]):,}" for a in np.flatnonzero(acts)]
    out.append("  labeled frames: " + (", ".join(names) if names else "none"))
    lab = store.labeled_triples(video_id)
    out.append(f"  behaviors_labeled: {len(lab['action'])} clean triples")
    return out


def plot_video(store: Store, video_id, path: str | Path) -> Path:
    """Trajectories per mouse (left) and an ethogram of the annotated intervals (right) as PNG."""
    # matplotlib only when a figure is drawn: the text commands of `inspect` stay light
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # not pyplot: the caller's backend and figures stay as they are

    # imports matplotlib, like the two above: only when a figure is drawn
    from mabe_store.ethogram import draw_ethogram

    feats, k, i = store.features(video_id), len(store.keypoints), store.index(video_id)
    fps = float(store.videos["fps"][i]) or 30.0
    xy = feats.reshape(len(feats), -1, k, 2)  # (T, mice, K, 2)
    rows = _ethogram_rows(store.annotations(video_id), fps)
    fig = Figure(figsize=(14, max(5.5, 1.5 + 0.3 * len(rows))))  # taller with many rows: labels stay apart
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    colors = colormaps["tab10"].colors
    with warnings.catch_warnings():  # all-NaN frames (untracked) give NaN centres, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(xy, axis=2)  # (T, mice, 2): mean of the tracked keypoints
    for m in range(centre.shape[1]):
        if np.isfinite(centre[:, m, 0]).any():
            ax1.plot(centre[:, m, 0], centre[:, m, 1], lw=0.6, alpha=0.8, color=colors[m], label=mouse_name(m + 1))
    ax1.set(title=f"video {video_id}: mean keypoint per mouse", xlabel="x (px)", ylabel="y (px)")
    ax1.invert_yaxis()
    ax1.set_aspect("equal", adjustable="datalim")
    ax1.legend(loc="upper right", fontsize=8)
    draw_ethogram(ax2, rows, duration_s=len(feats) / fps, empty="no annotations")
    ax2.set_title("ethogram: annotated intervals per (agent, target, action)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return Path(path)


def _ethogram_rows(ann: dict, fps: float) -> list[Row]:
    """One row per annotated (agent, target, action), agents in order, in seconds, coloured by action."""
    # imports matplotlib: only when a figure is drawn
    from mabe_store.ethogram import Row, action_colours, row_label

    triples = sorted({(int(a), int(t), str(act)) for a, t, act in
                      zip(ann["agent_id"], ann["target_id"], ann["action"], strict=True)})
    colours = action_colours(act for _, _, act in triples)
    rows = []
    for a, t, act in triples:
        sel = (ann["agent_id"] == a) & (ann["target_id"] == t) & (ann["action"] == act)
        spans = [(s / fps, (e - s) / fps) for s, e in zip(ann["start_frame"][sel], ann["stop_frame"][sel], strict=True)]
        rows.append(Row(row_label(mouse_name(a), mouse_name(t), act), spans, colours[act]))
    return rows
