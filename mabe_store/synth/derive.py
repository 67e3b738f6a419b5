"""Derive the lab table of `lab_table.json` from real competition files (run by hand, not at run time).

Why: the synthetic labs should mirror the real ones (fps, mice, body parts, sizes, whitelists,
action rates and interval lengths) without the project needing the real files. This script reads
a folder laid out like `../shared/mabe-real` (train.csv + train_annotation/) once and prints JSON
(one lab per line); the output is committed as `lab_table.json`. Trade-off: the table keeps only summary
figures per lab (most common metadata, a log-normal fit per action), not per-video detail.

    python -m mabe_store.synth.derive ../shared/mabe-real > mabe_store/synth/lab_table.json
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mabe_store.behaviors import parse_behaviors_labeled
from mabe_store.constants import mouse_name

_META = ("strain", "color", "sex", "age", "condition")


def _mode(values) -> object:
    vals = [v for v in values if v == v and v is not None]  # drop NaN
    return Counter(vals).most_common(1)[0][0] if vals else None


def _lab_meta(rows: list[dict]) -> dict:
    n_mice = [sum(r[f"{mouse_name(m)}_strain"] == r[f"{mouse_name(m)}_strain"] for m in range(1, 5)) for r in rows]
    dur = np.array([r["video_duration_sec"] for r in rows])
    return {
        "n_videos": len(rows),
        "fps": sorted({float(r["frames_per_second"]) for r in rows}),
        "n_mice": sorted(set(n_mice)),
        "duration_sec": [float(np.min(dur)), float(np.median(dur)), float(np.max(dur))],
        "body_parts": [[n, json.loads(bp)] for bp, n in
                       Counter(r["body_parts_tracked"] for r in rows).most_common(2)],
        "mouse": {k: _mode([r[f"mouse1_{k}"] for r in rows]) for k in _META},
        **{k: _mode([r[k] for r in rows]) for k in (
            "pix_per_cm_approx", "video_width_pix", "video_height_pix", "arena_width_cm",
            "arena_height_cm", "arena_shape", "arena_type", "tracking_method")},
        "unlabeled_frac": round(float(np.mean([r["behaviors_labeled"] != r["behaviors_labeled"]
                                                for r in rows])), 3),
    }


def _lab_actions(root: Path, lab: str, rows: list[dict]) -> dict:
    """Per action: whitelisted triples, intervals per triple-minute, log-normal interval lengths."""
    exposure: Counter = Counter()  # action -> minutes x whitelisted triples
    lengths: dict[str, list[int]] = {}
    pairs: Counter = Counter()
    int32 = 0
    for r in rows:
        if r["behaviors_labeled"] != r["behaviors_labeled"]:
            continue
        minutes = r["video_duration_sec"] / 60
        for t in parse_behaviors_labeled(r["behaviors_labeled"]).entries:
            if t.clean:
                exposure[t.action] += minutes
                if not t.is_self:
                    pairs[(t.agent, t.target)] += 1
        path = root / "train_annotation" / lab / f"{r['video_id']}.parquet"
        if path.exists():
            tab = pq.read_table(path)
            int32 += tab.schema.field("start_frame").type.bit_width == 32
            d = tab.to_pydict()
            for a, s, e in zip(d["action"], d["start_frame"], d["stop_frame"], strict=True):
                lengths.setdefault(a, []).append(max(1, e - s))
    actions = {}
    for a, minutes in sorted(exposure.items()):
        ln = np.log(np.array(lengths.get(a, [1])))
        actions[a] = {
            "rate_per_min": round(len(lengths.get(a, [])) / max(minutes, 1e-9), 4),
            "len_median": round(float(np.exp(np.median(ln))), 1),
            "len_sigma": round(float(np.std(ln)), 3),
        }
    two_mouse_pairs = sorted({p for p in pairs if max(p) <= 2})
    return {"actions": actions, "pairs_2mice": [list(p) for p in two_mouse_pairs],
            "int32_frac": round(int32 / max(1, len(rows)), 3)}


def derive(root: Path) -> dict:
    """Per lab: metadata (`_lab_meta`) and action figures (`_lab_actions`)."""
    with open(root / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if v == "":
                r[k] = float("nan")
            elif k in ("frames_per_second", "video_duration_sec", "pix_per_cm_approx",
                       "arena_width_cm", "arena_height_cm"):
                r[k] = float(v)
            elif k in ("video_width_pix", "video_height_pix"):
                r[k] = int(v)
    labs: dict[str, list[dict]] = {}
    for r in rows:
        labs.setdefault(r["lab_id"], []).append(r)
    return {lab: {**_lab_meta(rs), **_lab_actions(root, lab, rs)} for lab, rs in sorted(labs.items())}


def main() -> None:
    """Print the table as JSON, one lab per line (diff-friendly, loaded by `profiles.py`)."""
    table = derive(Path(sys.argv[1]))
    lines = [f"  {json.dumps(lab)}: {json.dumps(fig, sort_keys=True)}" for lab, fig in table.items()]
    print("{\n" + ",\n".join(lines) + "\n}")


if __name__ == "__main__":
    main()
