"""Behaviour annotation files of the tools labs use -> one normalised table of bouts.

Each reader (caltech.py, boris.py, tables.py) turns one file into an `Annotation`: bouts with
0-based frames, stop exclusive (the MABe annotation layout), each naming the animals as the file
does (or naming none), plus what the file says about its behaviours — which it scored, which are
mutually exclusive (one annotation stream). `mice.py` then maps animal names to the store's mice
through the tracking's individual mapping, and turns labels without an actor into pair labels on
both ordered pairs (see mabe_store/vocabulary.py for why). The format is told by content, never
by the file name: `detect_annotation_format`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mabe_store.importers.poses import ImportFailure

ANNOTATION_FORMATS = ("auto", "caltech", "bento", "boris", "boris-aggregated", "simba", "frame-table", "interval-table")


@dataclass(frozen=True)
class Bout:
    """One annotated interval, frames [start, stop) 0-based; agent/target as the file names them
    (None: the file names no animal for this label)."""

    action: str
    start: int
    stop: int
    agent: str | None = None
    target: str | None = None
    modifiers: tuple[str, ...] = ()  # BORIS modifiers: one naming another animal is the target


@dataclass
class Annotation:
    """One annotation file, normalised; `scored` is every behaviour the file scored, with or
    without bouts (a behaviour missing from it was not scored in this video)."""

    bouts: list[Bout]
    scored: list[str]
    streams: dict[str, list[str]] = field(default_factory=dict)  # stream -> its mutually exclusive labels
    source: str = ""  # the format, for notes
    notes: list[str] = field(default_factory=list)


def _head(path: Path, n: int = 4096) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(n)
    except OSError as e:
        raise ImportFailure(f"cannot read ({e.strerror})") from None
    if b"\x00" in data:
        raise ImportFailure("a binary file, not an annotation table (parquet tables need the .parquet suffix)")
    return data.decode("utf-8-sig", errors="replace")


def detect_annotation_format(path: str | Path) -> str:
    """The format by content: Caltech's title or stream headers, BORIS's column names, SimBA's pose
    columns beside 0/1 columns, or a plain frame/interval table."""
    from mabe_store.annotations.tables import table_kind

    path = Path(path)
    if not path.is_file():
        raise ImportFailure("no such file" + (" (a folder: name the annotation file)" if path.is_dir() else ""))
    if path.suffix.lower() == ".parquet":
        return table_kind(path)
    head = _head(path)
    lines = head.splitlines()
    if lines and lines[0].strip().lower().startswith("bento annotation file"):
        return "bento"
    if lines and lines[0].strip().lower().startswith("caltech behavior annotator") or any(
            line.strip().split("\t")[0].rstrip(":").startswith("S") and line.strip().lower().endswith("start\tend\ttype")
            for line in lines):
        return "caltech"
    low = head.lower()
    if "behavior" in low and "subject" in low:
        if "start (s)" in low and "stop (s)" in low:
            return "boris-aggregated"
        if "status" in low or "behavior type" in low:
            return "boris"
    return table_kind(path)


def read_annotation(path: str | Path, fmt: str = "auto", *, fps: float | None = None) -> Annotation:
    """One annotation file -> Annotation. `fps` converts seconds to frames where the file counts
    time (BORIS without an FPS column, interval tables in seconds)."""
    from mabe_store.annotations import boris, caltech, tables

    path = Path(path)
    if fmt not in ANNOTATION_FORMATS:
        raise ImportFailure(f"unknown --annotation-format {fmt!r}; one of {', '.join(ANNOTATION_FORMATS)}")
    kind = detect_annotation_format(path) if fmt == "auto" else fmt
    if not path.is_file():
        raise ImportFailure("no such file")
    readers = {"caltech": caltech.read_caltech, "bento": caltech.read_bento, "boris": boris.read_boris_tabular,
               "boris-aggregated": boris.read_boris_aggregated, "simba": tables.read_simba,
               "frame-table": tables.read_frame_table, "interval-table": tables.read_interval_table}
    ann = readers[kind](path, fps=fps)
    ann.source = kind
    return ann


__all__ = ["ANNOTATION_FORMATS", "Annotation", "Bout", "detect_annotation_format", "read_annotation"]
