"""A lab's project as a list of videos to import: files, folders and globs, or a manifest CSV.

A manifest has one row per video, so each video carries its own frame rate, scale and labels:

    tracking,annotations,video_id,lab,fps,pix_per_cm,individuals
    dlc/11DLC_resnet.csv,annotations/11_annot.txt,11,ratlab,30,,individual1;individual2

Columns: `tracking` (required), `annotations`, `video_id` (a whole number), `lab`, `split`, `fps`,
`pix_per_cm` (or `arena_cm` with `arena_pix`), `individuals` (`;`-separated, mouse1 first),
`format`, `annotation_format`, `self_behaviors` (`;`-separated), `min_confidence`, `behaviors`.
An empty cell takes the command line's value. Paths are relative to the manifest's folder.
Every number is checked here, before any file is read: one line naming the row and the value.
"""

from __future__ import annotations

import csv
import glob
import math
from dataclasses import dataclass, replace
from pathlib import Path

from mabe_store.importers.poses import ImportFailure
from mabe_store.sources import PLAIN_NAME

TRACKING_SUFFIXES = (".h5", ".hdf5", ".csv", ".nc", ".slp")
MANIFEST_COLUMNS = ("tracking", "annotations", "video_id", "lab", "split", "fps", "pix_per_cm", "arena_cm",
                    "arena_pix", "individuals", "format", "annotation_format", "self_behaviors",
                    "min_confidence", "behaviors")
_NUMBERS = {"fps": "fps", "pix_per_cm": "pix_per_cm", "arena_cm": "arena_cm", "arena_pix": "arena_pix",
            "min_confidence": "min_confidence"}


@dataclass(frozen=True)
class VideoSpec:
    """One video to import: its tracking file, its labels (optional), and its options."""

    tracking: Path
    opts: object  # ImportOptions
    annotations: Path | None = None
    video_id: int | None = None
    where: str = ""  # "manifest row 3" for messages; "" for a file given on the command line


def _positive(name: str, value, allow_zero: bool = False) -> float | None:
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        want = "a number >= 0" if allow_zero else "a positive number"
        raise ImportFailure(f"{name} {value!r} is not {want}")
    return v


def check_numbers(opts) -> None:
    """fps, scale and arena are positive, min_confidence in [0, 1], the lab a folder name and the
    split train or test; else one line naming the value."""
    for name in ("fps", "pix_per_cm", "arena_cm", "arena_pix"):
        _positive(f"--{name.replace('_', '-')}", getattr(opts, name))
    if not 0 <= opts.min_confidence <= 1:
        raise ImportFailure(f"--min-confidence {opts.min_confidence!r} is not between 0 and 1")
    if not PLAIN_NAME.match(opts.lab):
        raise ImportFailure(f"lab {opts.lab!r} is not a plain folder name (letters, digits, . _ -)")
    if opts.split not in ("train", "test"):
        raise ImportFailure(f"split {opts.split!r} is not train or test")


def expand(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Files as given, folders as their tracking files (a `.csv` beside an `.h5` of the same name is
    DeepLabCut's copy of it and left out), globs as their matches; and a line per empty input."""
    out, empty = [], []
    for p in map(Path, paths):
        if not p.exists() and any(ch in str(p) for ch in "*?["):
            hits = sorted(Path(h) for h in glob.glob(str(p), recursive=True))
            out += hits or []
            empty += [] if hits else [f"{p}: no file matches"]
        elif p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in TRACKING_SUFFIXES)
            h5 = {f.stem for f in files if f.suffix.lower() in (".h5", ".hdf5")}
            files = [f for f in files if not (f.suffix.lower() == ".csv" and f.stem in h5)]
            out += files
            empty += [] if files else [f"{p}: a folder with no tracking file ({', '.join(TRACKING_SUFFIXES)})"]
        else:
            out.append(p)
    return out, empty


def _list(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.replace(";", ",").split(",") if x.strip()) if value else ()


def _row_spec(row: dict[str, str], base: Path, opts, n: int) -> VideoSpec:
    where = f"manifest row {n}"
    get = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
    if not get.get("tracking"):
        raise ImportFailure(f"{where}: no tracking file")
    changes = {}
    for col, field in _NUMBERS.items():
        if get.get(col):
            try:
                changes[field] = _positive(col, get[col], allow_zero=col == "min_confidence")
            except ImportFailure as e:
                raise ImportFailure(f"{where} ({get['tracking']}): {e}") from None
    for col, field in (("lab", "lab"), ("split", "split"), ("format", "fmt"), ("annotation_format", "annotation_fmt")):
        if get.get(col):
            changes[field] = get[col]
    for col, field in (("individuals", "individuals"), ("self_behaviors", "self_behaviors")):
        if get.get(col):
            changes[field] = _list(get[col])
    if get.get("behaviors"):
        changes["behaviors"] = tuple(b.strip().replace(" ", "") for b in get["behaviors"].split(";") if b.strip())
    vid = get.get("video_id")
    if vid and not vid.isdigit():
        raise ImportFailure(f"{where} ({get['tracking']}): video_id {vid!r} is not a whole number")
    ann = base / get["annotations"] if get.get("annotations") else None
    return VideoSpec(base / get["tracking"], replace(opts, **changes), ann, int(vid) if vid else None, where)


def read_manifest(path: Path, opts) -> list[VideoSpec]:
    """One VideoSpec per manifest row; a bad row or an unknown column fails the whole manifest in one
    line (nothing is imported from a manifest with a typo)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            columns = [c.strip().lower() for c in (rows[0].keys() if rows else [])]
    except OSError as e:
        raise ImportFailure(f"cannot read manifest {path}: {e.strerror}") from None
    if not rows or "tracking" not in columns:
        raise ImportFailure(f"manifest {path}: needs a header with a `tracking` column and one row per video")
    unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
    if unknown:
        raise ImportFailure(f"manifest {path}: unknown column(s) {', '.join(unknown)}; known: {', '.join(MANIFEST_COLUMNS)}")
    specs = [_row_spec(r, Path(path).parent, opts, i + 2) for i, r in enumerate(rows)]
    ids = [s.video_id for s in specs if s.video_id is not None]
    dup = sorted({v for v in ids if ids.count(v) > 1})
    if dup:
        raise ImportFailure(f"manifest {path}: video_id {dup[0]} is given to more than one row")
    return specs
