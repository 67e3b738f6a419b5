"""`mabe-store import`: your own pose tracking (DeepLabCut, SLEAP, movement) and behaviour labels
(mabe_store/annotations) -> the MABe raw layout.

Each file becomes one video: `{split}_tracking/{lab}/{video_id}.parquet` plus a row of
`{split}.csv`, so `mabe-store build`, `inspect`, `verify` and everything downstream read it as
they read the Kaggle download. `imported.csv` beside them records, per video, the source file,
its format and which individual became which mouse; a file imported again keeps its video id
and replaces its row. Video ids: a file named by digits (`1234.h5`) keeps that number, any other
gets the next free id above those in the raw folder.

Each reader (dlc.py, sleap.py, movement.py) only turns one format into `Poses`; raw.py decides,
for all formats alike, which points, mice and names are stored. A bad file is reported in one
line and the others are still imported. project.py turns files, folders, globs or a manifest
into one `VideoSpec` per video (its own fps, scale, individuals and labels). A video with labels
goes to the train split with `train_annotation/{lab}/{video_id}.parquet` (Kaggle's columns and
dtypes) and its `behaviors_labeled`; the run's behaviours, with their kinds and streams, are
merged into the raw folder's `actions.csv`, the vocabulary the build gives the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from mabe_store.annotations import AnnotationError, read_annotation
from mabe_store.annotations.mice import to_mice
from mabe_store.importers import dlc, movement, sleap
from mabe_store.importers.keymap import KeymapError, load_keymap
from mabe_store.importers.poses import ImportFailure, MissingDependency, Poses, require
from mabe_store.importers.project import VideoSpec, check_numbers, expand, read_manifest
from mabe_store.importers.raw import convert, merge_metadata, meta_row
from mabe_store.log import Log, say
from mabe_store.vocabulary import MABE, VOCABULARY_FILE, Vocabulary, read_vocabulary, write_vocabulary

FORMATS = ("auto", "dlc-h5", "dlc-csv", "sleap", "movement")
FORMAT_NAMES = {"dlc-h5": "a DeepLabCut .h5 table", "dlc-csv": "a DeepLabCut .csv table",
                "sleap": "a SLEAP analysis file", "movement": "a movement netCDF dataset"}
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
    annotation_fmt: str = "auto"
    self_behaviors: tuple[str, ...] = ()  # behaviours of one animal, where a label names only its actor


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # one line per video written
    failed: list[str] = field(default_factory=list)  # "path: reason", one per file
    video_ids: dict[str, int] = field(default_factory=dict)  # source path -> video id

    @property
    def ok(self) -> bool:
        return not self.failed


def _hdf5_kind(path: Path) -> str:
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
    path = Path(path)
    readers: dict[str, Callable] = {"dlc-h5": dlc.read_dlc_h5, "dlc-csv": dlc.read_dlc_csv,
                                    "sleap": sleap.read_sleap_h5, "movement": movement.read_movement}
    if fmt not in FORMATS:
        raise ImportFailure(f"unknown --format {fmt!r}; one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise ImportFailure("a folder, not a file" if path.is_dir() else "no such file")
    detected = detect_format(path)
    if fmt not in ("auto", detected):
        raise ImportFailure(f"--format {fmt}, but the file is {FORMAT_NAMES[detected]} — leave out --format "
                            f"(or pass --format {detected})")
    return readers[detected](path)


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


def _fps(opts: ImportOptions, poses: Poses) -> float:
    if opts.fps is not None:
        return opts.fps
    if poses.fps is None:
        raise ImportFailure("the file has no frame rate — pass --fps (or an fps column in the manifest)")
    if not (math.isfinite(poses.fps) and poses.fps > 0):
        raise ImportFailure(f"the file's frame rate {poses.fps!r} is not a positive number — pass --fps")
    return poses.fps


def _write_annotations(raw: Path, lab: str, vid: int, labels) -> None:
    """`train_annotation/{lab}/{vid}.parquet` in Kaggle's layout (or none, removing a stale one)."""
    for old in raw.glob(f"train_annotation/*/{vid}.parquet"):
        old.unlink()
    if labels is None:
        return
    out = raw / "train_annotation" / lab / f"{vid}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    labels.frame().write_parquet(out)


def _labels(spec: VideoSpec, mice: list[str], fps: float, streams: dict[str, list[str]]):
    """The video's labels (annotations.mice.Labels), with the behaviours of every stream the file
    has, as the project's files list them, counted as scored."""
    try:
        ann = read_annotation(spec.annotations, spec.opts.annotation_fmt, fps=fps)
        scored = sorted(set(ann.scored).union(*(streams.get(s, ()) for s in ann.streams)))
        return to_mice(ann, mice, scored=scored, self_behaviors=spec.opts.self_behaviors)
    except AnnotationError as e:
        raise ImportFailure(f"annotations {spec.annotations}: {e}") from None


def _video_vocabulary(labels) -> Vocabulary:
    return Vocabulary.from_rows([{"action": a, "kind": k, "stream": ""} for a, k in labels.kinds.items()])


def import_one(spec: VideoSpec, raw: Path, keymap: dict[str, str], project: Project) -> tuple[int, str]:
    """Import one video; returns (video id, a report line). Raises ImportFailure on a bad file,
    before anything of it is written."""
    path, opts = spec.tracking, spec.opts
    check_numbers(opts)
    poses, notes = read_poses(path, opts.fmt)
    fps = _fps(opts, poses)
    c = convert(poses, keymap, min_confidence=opts.min_confidence, individuals=list(opts.individuals) or None)
    labels = None if spec.annotations is None else _labels(spec, c.mice, fps, project.streams)
    vocab = project.vocabulary
    if labels is not None:
        vocab = project.vocabulary.merged(_video_vocabulary(labels))
    behaviors = opts.behaviors or (tuple(labels.behaviors_labeled) if labels else ())
    split = "train" if labels is not None else opts.split
    registry = _registry(raw)
    vid = spec.video_id if spec.video_id is not None else _video_id(raw, path, registry)
    arena = {"arena_width_cm": opts.arena_cm}
    row = meta_row(c, lab=opts.lab, video_id=vid, n_frames=poses.n_frames, fps=fps, pix_per_cm=_pix_per_cm(opts),
                   arena=arena, source=poses.source, behaviors=behaviors, known=set(vocab.actions) | set(MABE.actions))
    for s in ("train", "test"):  # a video re-imported into the other split leaves no stale parquet
        for old in raw.glob(f"{s}_tracking/*/{vid}.parquet"):
            old.unlink()
    out = raw / f"{split}_tracking" / opts.lab / f"{vid}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    c.tracking.write_parquet(out)
    _write_annotations(raw, opts.lab, vid, labels)
    merge_metadata(raw, split, row)
    project.vocabulary = vocab
    project.labeled |= labels is not None
    entry = {"video_id": str(vid), "lab_id": opts.lab, "split": split, "source": str(path.resolve()),
             "format": poses.source, "mice": json.dumps({f"mouse{k}": n for k, n in enumerate(c.mice, 1)}),
             "names": json.dumps(c.names)}
    pl.concat([registry.filter(pl.col("video_id") != str(vid)), pl.DataFrame([entry], schema=registry.schema)]
              ).write_csv(raw / REGISTRY)
    line = _line(path, vid, poses, c, notes, fps, _pix_per_cm(opts), opts.min_confidence)
    return vid, line + (_label_line(spec, labels) if labels is not None else "")


def _label_line(spec: VideoSpec, labels) -> str:
    frames: dict[str, int] = {}
    for _, _, a, s, e in labels.intervals:
        frames[a] = frames.get(a, 0) + e - s
    kinds = ", ".join(f"{a} {labels.kinds[a]} ({frames.get(a, 0):,} frames)" for a in sorted(labels.kinds))
    return "\n  ".join([f"\n  labels <- {spec.annotations.name}: {kinds}",
                        f"behaviors_labeled: {len(labels.behaviors_labeled)} triples"] + labels.notes)


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


@dataclass
class Project:
    """What one import run learns across its videos: the vocabulary so far and each annotation
    stream's behaviours (a Caltech file lists only the labels that occur in it)."""

    vocabulary: Vocabulary
    streams: dict[str, list[str]]
    labeled: bool = False


def _project(raw: Path, specs: list[VideoSpec]) -> Project:
    """The raw folder's vocabulary so far (none yet: empty) and the streams of every annotation file."""
    vocab = read_vocabulary(raw) if (raw / VOCABULARY_FILE).is_file() else Vocabulary(())
    streams = {s: list(names) for s, names in vocab.streams}
    for spec in specs:
        if spec.annotations is None:
            continue
        try:
            ann = read_annotation(spec.annotations, spec.opts.annotation_fmt, fps=spec.opts.fps or 30.0)
        except AnnotationError:
            continue  # reported with its video
        for s, names in ann.streams.items():
            streams[s] = sorted(set(streams.get(s, [])) | set(names))
    return Project(vocab, streams)


def _stream_vocabulary(project: Project) -> Vocabulary:
    """The project's vocabulary with each behaviour's stream."""
    stream_of = {a: s for s, names in project.streams.items() for a in names}
    rows = [{**r, "stream": stream_of.get(r["action"], "")} for r in project.vocabulary.rows()]
    return Vocabulary.from_rows(rows)


def import_files(paths: list[Path], raw: str | Path, opts: ImportOptions, log: Log = say,
                 *, manifest: Path | None = None, annotations: Path | None = None) -> ImportReport:
    """Import every file (folders and globs expanded) or every manifest row into `raw`; a bad file
    is one line of `failed`, never a stop. Videos with annotations go to the train split with their
    intervals, `behaviors_labeled`, and the raw folder's vocabulary (`actions.csv`)."""
    raw = Path(raw)
    keymap = load_keymap(opts.keypoints)
    if opts.split not in ("train", "test"):
        raise ImportFailure(f"--split must be train or test, got {opts.split!r}")
    specs, report = [], ImportReport()
    if manifest is not None:
        specs = read_manifest(manifest, opts)
    files, empty = expand(paths)
    if annotations is not None and len(files) != 1:
        raise ImportFailure(f"--annotations goes with one tracking file ({len(files)} given) — use --manifest")
    specs += [VideoSpec(f, opts, annotations) for f in files]
    for line in empty:
        report.failed.append(line)
        log(f"FAILED {line}")
    raw.mkdir(parents=True, exist_ok=True)
    project = _project(raw, specs)
    for spec in specs:
        _import_spec(spec, raw, keymap, project, report, log)
    if project.labeled:
        write_vocabulary(raw, _stream_vocabulary(project))
        log(f"vocabulary ({VOCABULARY_FILE}): {', '.join(project.vocabulary.actions)}")
    return report


def _import_spec(spec, raw, keymap, project, report, log) -> None:
    name = f"{spec.tracking}" + (f" ({spec.where})" if spec.where else "")
    try:
        vid, line = import_one(spec, raw, keymap, project)
    except ImportFailure as e:
        report.failed.append(f"{name}: {e}")
        log(f"FAILED {name}: {e}")
        return
    report.imported.append(line)
    report.video_ids[str(spec.tracking)] = vid
    log(line)
