"""Semi-real datasets: real metadata and annotation files, synthetic tracking planted to match.

Why: the real labels (their lengths, overlaps, per-video whitelists, dtypes and quirks) are the
hardest part to imitate and are public, while the real tracking is not available here. This mode
keeps train.csv rows and annotation parquet verbatim and synthesises tracking whose motion follows
those labels, so the whole pipeline can be run on the real label structure. `scale` shortens
each video (annotations starting after the cut are dropped, the rest kept as they are, so some
run past the last frame as in the real data); `videos` and `labs` pick a CPU-sized subset.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from mabe_store.behaviors import parse_behaviors_labeled
from mabe_store.constants import mouse_name
from mabe_store.synth.profiles import SynthError, VideoSpec, _round_robin, lab_table


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


MAX_MICE = 4  # train.csv describes mouse1..mouse4


def _n_mice(row: dict, triples: tuple, ann: Path | None) -> int:
    """Mice to track: those the metadata describes, or more where the labels name a higher id.

    Some real AdaptableSnail rows describe 3 mice while behaviors_labeled and the annotation
    file name mouse4; the labels win, so every labeled mouse has tracking.
    """
    described = sum(bool(row.get(f"{mouse_name(m)}_strain")) for m in range(1, MAX_MICE + 1)) or 2
    named = {"behaviors_labeled": {i for a, g, _ in triples for i in (a, g)}, "annotation file": set()}
    if ann is not None:
        ids = pq.read_table(ann, columns=["agent_id", "target_id"]).to_pydict()
        named["annotation file"] = {int(i) for col in ids.values() for i in col}
    bad = [f"{sorted(i for i in found if not 1 <= i <= MAX_MICE)} in its {where}"
           for where, found in named.items() if any(not 1 <= i <= MAX_MICE for i in found)]
    if bad:
        raise SynthError(f"video {row['video_id']}: mouse ids outside 1..{MAX_MICE}: "
                         f"{'; '.join(bad)}; fix the file or leave the video's lab out with --labs")
    return max([described, *named["behaviors_labeled"], *named["annotation file"]])


def _spec(root: Path, row: dict, split: str, scale: float) -> VideoSpec:
    fps = float(row["frames_per_second"])
    frames = max(30, round(float(row["video_duration_sec"]) * fps * scale))
    labeled = parse_behaviors_labeled(row["behaviors_labeled"])
    if labeled.problems:
        raise SynthError(f"video {row['video_id']}: {labeled.problems[0]}; fix its behaviors_labeled")
    triples = tuple((t.agent, t.target, t.action) for t in labeled.clean)
    ann = root / "train_annotation" / row["lab_id"] / f"{row['video_id']}.parquet"
    ann = ann if split == "train" and ann.is_file() else None
    n_mice = _n_mice(row, triples, ann)
    row = dict(row, video_duration_sec=repr(round(frames / fps, 2)))
    return VideoSpec(row["lab_id"], int(row["video_id"]), split, frames, fps, n_mice,
                     tuple(json.loads(row["body_parts_tracked"])), triples,
                     real_annotations=str(ann) if ann else None, csv_row=row)


def plan_from_real(root: Path, *, videos: int | None, scale: float,
                   labs: tuple[str, ...] | None) -> list[VideoSpec]:
    """Train videos of `root/train.csv` (round-robin over labs, capped) plus its test.csv rows."""
    rows = [r for r in _read_rows(root / "train.csv") if not labs or r["lab_id"] in labs]
    unknown = sorted({r["lab_id"] for r in rows} - set(lab_table()))
    if unknown:
        raise SynthError(f"labs without a synthetic profile: {', '.join(unknown)}; "
                         f"leave them out with --labs")
    by_lab: dict[str, list[dict]] = {}
    for r in rows:
        by_lab.setdefault(r["lab_id"], []).append(r)
    order = _round_robin({lab: len(rs) for lab, rs in by_lab.items()})[: videos or None]
    taken = {lab: iter(rs) for lab, rs in by_lab.items()}
    specs = [_spec(root, next(taken[lab]), "train", scale) for lab in order]
    tests = [r for r in _read_rows(root / "test.csv")
             if r["lab_id"] in lab_table() and (not labs or r["lab_id"] in labs)]
    return specs + [_spec(root, r, "test", scale) for r in tests]


def copy_annotations(spec: VideoSpec, out: Path) -> None:
    """Copy the real annotation file, dropping intervals that start after a shortened video."""
    dst = out / "train_annotation" / spec.lab_id / f"{spec.video_id}.parquet"
    dst.parent.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(spec.real_annotations)
    keep = pc.less(table["start_frame"], spec.n_frames)
    if pc.all(keep).as_py() in (True, None):
        shutil.copyfile(spec.real_annotations, dst)
    else:
        pq.write_table(table.filter(keep), dst)
