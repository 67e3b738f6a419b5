"""`mabe-store import`: your own pose tracking (DeepLabCut, SLEAP, movement) -> the MABe raw layout.

Each file becomes one video: `{split}_tracking/{lab}/{video_id}.parquet` plus a row of
`{split}.csv`, so `mabe-store build`, `inspect`, `verify` and everything downstream read it as
they read the Kaggle download. `imported.csv` beside them records, per video, the source file,
its format and which individual became which mouse; a file imported again keeps its video id
and replaces its row. Video ids: a file named by digits (`1234.h5`) keeps that number, any other
gets the next free id above those in the raw folder.

Each reader (dlc.py, sleap.py, movement.py) only turns one format into `Poses`; raw.py decides,
for all formats alike, which points, mice and names are stored. A bad file is reported in one
line and the others are still imported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from mabe_store.importers.keymap import KeymapError, load_keymap
from mabe_store.importers.poses import ImportFailure, MissingDependency, Poses
from mabe_store.importers.raw import convert, merge_metadata, meta_row
from mabe_store.log import Log, say

FORMATS = ("auto", "dlc-h5", "dlc-csv", "sleap", "movement")
REGISTRY = "imported.csv"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

__all__ = ["FORMATS", "ImportFailure", "ImportOptions", "ImportReport", "KeymapError", "MissingDependency",
           "Poses", "detect_format", "import_files", "read_poses"]


@dataclass(frozen=True)
class ImportOptions:
    lab: str = "own"
    split: str = "test"
    fps: float | None = None
    pix_per_cm: float | None = None
    arena_cm: float | None = None  # arena width in cm ...
    arena_pix: float | None = None  # ... and in pixels: pix_per_cm = arena_pix / arena_cm
    min_confidence: float = 0.0
    individuals: tuple[str, ...] = ()
    keypoints: Path | None = None  # keypoint map YAML; None: the built-in default
    behaviors: tuple[str, ...] = ()  # "agent,target,action" triples to predict (behaviors_labeled)
    fmt: str = "auto"


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # one line per video written
    failed: list[str] = field(default_factory=list)  # "path: reason", one per file
    video_ids: dict[str, int] = field(default_factory=dict)  # source path -> video id

    @property
    def ok(self) -> bool:
        return not self.failed


def _hdf5_kind(path: Path) -> str:
    from mabe_store.importers.poses import require

    h5py = require("h5py")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ImportFailure(f"a damaged HDF5 file ({str(e)[:90]})") from None
    with f:
        keys = set(f.keys())
        if {"tracks", "node_names"} <= keys:
            return "sleap"
        if "position" in keys:
            return "movement"
        if any("pandas_type" in f[k].attrs for k in keys):
            return "dlc-h5"
    raise ImportFailure(f"an HDF5 file that is neither a DeepLabCut table, a SLEAP analysis file nor a "
                        f"movement dataset (top-level keys: {sorted(keys)[:6]})")


def detect_format(path: Path) -> str:
    """The format by content: HDF5 files by their datasets, CSVs by DeepLabCut's first header cell."""
    if path.suffix.lower() == ".slp":
        raise ImportFailure("SLEAP .slp project files are not read here — export an analysis file in SLEAP "
                            "(File > Export Analysis HDF5, or `sleap-convert --format analysis`) and import that")
    try:
        with path.open("rb") as f:
            head = f.read(11)
    except OSError as e:
        raise ImportFailure(f"cannot read ({e.strerror})") from None
    if head.startswith(HDF5_MAGIC):
        return _hdf5_kind(path)
    if head.startswith(b"CDF"):
        raise ImportFailure("a netCDF-3 file: save the movement dataset as netCDF-4 (ds.to_netcdf(path, engine='h5netcdf'))")
    if head.removeprefix(b"\xef\xbb\xbf").lower().startswith(b"scorer"):  # a CSV saved by Excel starts with a BOM
        return "dlc-csv"
    raise ImportFailure("unknown format: not HDF5 (DeepLabCut .h5, SLEAP analysis .h5, movement .nc) "
                        "nor a DeepLabCut .csv")


def read_poses(path: str | Path, fmt: str = "auto") -> tuple[Poses, list[str]]:
    """One file -> Poses and notes, in the given format (or detected)."""
    from mabe_store.importers import dlc, movement, sleap

    path = Path(path)
    readers: dict[str, Callable] = {"dlc-h5": dlc.read_dlc_h5, "dlc-csv": dlc.read_dlc_csv,
                                    "sleap": sleap.read_sleap_h5, "movement": movement.read_movement}
    if fmt not in FORMATS:
        raise ImportFailure(f"unknown --format {fmt!r}; one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise ImportFailure("no such file")
    return readers[detect_format(path) if fmt == "auto" else fmt](path)


def _registry(raw: Path) -> pl.DataFrame:
    path = raw / REGISTRY
    if path.is_file():
        return pl.read_csv(path, infer_schema=False)
    return pl.DataFrame(schema=dict.fromkeys(["video_id", "lab_id", "split", "source", "format", "mice", "names"],
                                             pl.String))


def _video_id(raw: Path, path: Path, registry: pl.DataFrame) -> int:
    hit = registry.filter(pl.col("source") == str(path.resolve()))
    if hit.height:
        return int(hit["video_id"][0])
    used = {int(v) for v in registry["video_id"].to_list()}
    for s in ("train", "test"):
        if (raw / f"{s}.csv").is_file():
            used |= {int(v) for v in pl.read_csv(raw / f"{s}.csv", infer_schema=False)["video_id"].to_list()
                     if str(v).isdigit()}
    if path.stem.isdigit() and int(path.stem) not in used:
        return int(path.stem)
    return max(used, default=0) + 1


def _pix_per_cm(opts: ImportOptions) -> float | None:
    if opts.pix_per_cm is not None:
        return opts.pix_per_cm
    if opts.arena_cm and opts.arena_pix:
        return opts.arena_pix / opts.arena_cm
    return None


def import_one(path: Path, raw: Path, opts: ImportOptions, keymap: dict[str, str]) -> tuple[int, str]:
    """Import one file; returns (video id, a report line). Raises ImportFailure on a bad file."""
    poses, notes = read_poses(path, opts.fmt)
    fps = opts.fps or poses.fps
    if not fps:
        raise ImportFailure("the file has no frame rate — pass --fps")
    c = convert(poses, keymap, min_confidence=opts.min_confidence, individuals=list(opts.individuals) or None)
    registry = _registry(raw)
    vid = _video_id(raw, path, registry)
    arena = {"arena_width_cm": opts.arena_cm}
    row = meta_row(c, lab=opts.lab, video_id=vid, n_frames=poses.n_frames, fps=fps,
                   pix_per_cm=_pix_per_cm(opts), arena=arena, source=poses.source, behaviors=opts.behaviors)
    for s in ("train", "test"):  # a video re-imported into the other split leaves no stale parquet
        (raw / f"{s}_tracking" / opts.lab / f"{vid}.parquet").unlink(missing_ok=True)
    out = raw / f"{opts.split}_tracking" / opts.lab / f"{vid}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    c.tracking.write_parquet(out)
    merge_metadata(raw, opts.split, row)
    entry = {"video_id": str(vid), "lab_id": opts.lab, "split": opts.split, "source": str(path.resolve()),
             "format": poses.source, "mice": json.dumps({f"mouse{k}": n for k, n in enumerate(c.mice, 1)}),
             "names": json.dumps(c.names)}
    pl.concat([registry.filter(pl.col("video_id") != str(vid)), pl.DataFrame([entry], schema=registry.schema)]
              ).write_csv(raw / REGISTRY)
    return vid, _line(path, vid, poses, c, notes, fps, _pix_per_cm(opts), opts.min_confidence)


def _line(path, vid, poses, c, notes, fps, ppc, min_conf) -> str:
    mice = ", ".join(f"{n}->mouse{k}" for k, n in enumerate(c.mice, 1))
    slots = sum(1 for n in c.names if n not in c.unmapped)
    parts = [f"video {vid} <- {path.name} ({poses.source}): {poses.n_frames:,} frames at {fps:g} fps, "
             f"{c.tracking.height:,} points, mice {mice}, {slots}/{len(c.names)} body parts in store slots"]
    if c.unmapped:
        parts.append("fit no slot (kept under their own names): " + ", ".join(
            f"{n} ({k:,} points)" for n, k in sorted(c.unmapped.items(), key=lambda kv: -kv[1])))
    if min_conf > 0:
        parts.append(f"{c.dropped_low:,} points below --min-confidence {min_conf:g} dropped")
    if ppc is None:
        parts.append("no --pix-per-cm (or --arena-cm/--arena-pix): models will see unscaled pixels")
    return "\n  ".join(parts + notes + c.notes)


def import_files(paths: list[Path], raw: str | Path, opts: ImportOptions,
                 log: Log = say) -> ImportReport:
    """Import every file into `raw`; a bad file is one line of `failed`, never a stop."""
    raw = Path(raw)
    keymap = load_keymap(opts.keypoints)
    if opts.split not in ("train", "test"):
        raise ImportFailure(f"--split must be train or test, got {opts.split!r}")
    raw.mkdir(parents=True, exist_ok=True)
    report = ImportReport()
    for path in map(Path, paths):
        try:
            vid, line = import_one(path, raw, opts, keymap)
        except ImportFailure as e:
            report.failed.append(f"{path}: {e}")
            log(f"FAILED {path}: {e}")
            continue
        report.imported.append(line)
        report.video_ids[str(path)] = vid
        log(line)
    return report
