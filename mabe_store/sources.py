"""Discovery of the videos in a raw Kaggle-layout directory, with a fingerprint of each one's inputs.

`train.csv`/`test.csv` name the videos; `{split}_tracking/{lab}/{video}.parquet` and (train only)
`train_annotation/{lab}/{video}.parquet` hold them. A video's fingerprint combines the size and
mtime of its files with its metadata row: cheap to compute for 8,789 videos (no hashing of 2.6 GB),
and any re-download or edit changes it. The trade-off: a file rewritten with identical size within
the same nanosecond would be missed — acceptable for a cache key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from mabe_store.constants import FRAME_SLACK, N_MICE, SPLITS, mouse_name
from mabe_store.errors import MabeStoreError


class SourceError(MabeStoreError):
    """The raw directory cannot be used at all (no metadata); the message says what to do."""


PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a lab_id is a folder name, never a path

@dataclass(frozen=True)
class VideoTask:
    """Everything a worker needs to build one video; picklable."""

    video_id: int
    lab_id: str
    split: str
    tracking: Path
    annotation: Path | None
    meta: dict  # fps, pix_per_cm, width_pix, height_pix, n_mice, behaviors_labeled
    fingerprint: str


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _n_mice(row: dict) -> int:
    present = [k for k in range(1, N_MICE + 1)
               if any(row.get(f"{mouse_name(k)}_{f}") not in (None, "") for f in ("strain", "color", "sex", "id"))]
    return max(present, default=0)


def _stat(path: Path | None) -> list:
    if path is None or not path.exists():
        return [None]
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def row_problem(row: dict) -> str | None:
    """Why a metadata row cannot be built (the video is skipped with this reason), or None."""
    lab = str(row.get("lab_id") or "")
    if not PLAIN_NAME.match(lab):
        return f"lab_id {lab!r} is not a plain folder name"
    fps = _float(row.get("frames_per_second"))
    if not (math.isfinite(fps) and fps > 0):
        return f"frames_per_second {row.get('frames_per_second')!r} is not a positive number (every time scale needs it)"
    return None


def meta_notes(meta: dict) -> list[str]:
    """Repairs of a usable row, noted with the video: an unknown scale is stored as NaN."""
    notes = []
    ppc = meta.get("pix_per_cm", math.nan)
    if not (math.isfinite(ppc) and ppc > 0):
        meta["pix_per_cm"] = math.nan
        notes.append("pix_per_cm_approx is missing or not a positive number: stored as NaN, so the models "
                     "cannot put this video's coordinates in cm (give --pix-per-cm at import)")
    if not meta.get("labeled_column", True):
        notes.append("the metadata has no behaviors_labeled column: stored as unlabeled")
    return notes


def max_frame(meta: dict) -> int | None:
    """The last plausible video_frame from the metadata's duration (None when it gives none)."""
    duration, fps = meta.get("duration_s", math.nan), meta.get("fps", math.nan)
    if not (math.isfinite(duration) and duration > 0 and math.isfinite(fps) and fps > 0):
        return None
    return int((duration * FRAME_SLACK + 10) * fps)


def _task(raw: Path, split: str, row: dict) -> VideoTask:
    vid, lab = int(row["video_id"]), str(row["lab_id"])
    tracking = raw / f"{split}_tracking" / lab / f"{vid}.parquet"
    annotation = raw / "train_annotation" / lab / f"{vid}.parquet" if split == "train" else None
    meta = {
        "fps": _float(row.get("frames_per_second")), "pix_per_cm": _float(row.get("pix_per_cm_approx")),
        "width_pix": _float(row.get("video_width_pix")), "height_pix": _float(row.get("video_height_pix")),
        "n_mice": _n_mice(row), "behaviors_labeled": row.get("behaviors_labeled") or "",
        "duration_s": _float(row.get("video_duration_sec")),
        "labeled_column": "behaviors_labeled" in row,
    }
    key = json.dumps([sorted(row.items()), _stat(tracking), _stat(annotation)], default=str)
    return VideoTask(vid, lab, split, tracking, annotation, meta, hashlib.sha1(key.encode()).hexdigest()[:16])


def read_metadata(path: Path) -> list[dict]:
    """Rows of a train/test csv as str -> str (every column as text; parsed per field later)."""
    try:
        df = pl.read_csv(path, infer_schema=False)
    except Exception as e:
        raise SourceError(f"{path}: unreadable csv ({type(e).__name__}) — re-download it") from None
    missing = [c for c in ("lab_id", "video_id", "frames_per_second") if c not in df.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)} — every video needs its lab, id "
                          "and frame rate")
    return df.to_dicts()


def discover(raw: str | Path, splits: tuple[str, ...] = SPLITS) -> tuple[list[VideoTask], list[tuple[str, str]]]:
    """All videos of the given splits (only their csv files are read), and (where, reason) for
    metadata rows that cannot be used."""
    raw = Path(raw)
    csvs = {s: raw / f"{s}.csv" for s in splits if (raw / f"{s}.csv").is_file()}
    if not csvs:
        names = " or ".join(f"{s}.csv" for s in splits)
        raise SourceError(f"no {names} in {raw} — run `mabe-store download` or "
                          f"`mabe-store synth --out {raw}`")
    tasks, rejected, seen = [], [], set()
    for split, csv in csvs.items():
        for i, row in enumerate(read_metadata(csv)):
            problem = row_problem(row)
            if problem is not None:
                rejected.append((f"{csv.name} row {i + 2} (video {row.get('video_id')})", problem))
                continue
            try:
                task = _task(raw, split, row)
            except (TypeError, ValueError):
                rejected.append((f"{csv.name} row {i + 2}", f"bad video_id {row.get('video_id')!r}"))
                continue
            if task.video_id in seen:
                rejected.append((f"{csv.name} row {i + 2}", f"video {task.video_id} listed twice"))
                continue
            seen.add(task.video_id)
            tasks.append(task)
    return tasks, rejected
