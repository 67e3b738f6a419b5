"""Which annotation format a file is (by content, never by name), and reading it into an Annotation."""

from __future__ import annotations

from pathlib import Path

from mabe_store.annotations import boris, caltech, tables
from mabe_store.annotations.model import Annotation, AnnotationError

ANNOTATION_FORMATS = ("auto", "caltech", "bento", "boris", "boris-aggregated", "simba", "frame-table", "interval-table")


def _head(path: Path, n: int = 4096) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(n)
    except OSError as e:
        raise AnnotationError(f"cannot read ({e.strerror})") from None
    if b"\x00" in data:
        raise AnnotationError("a binary file, not an annotation table (parquet tables need the .parquet suffix)")
    return data.decode("utf-8-sig", errors="replace")


def detect_annotation_format(path: str | Path) -> str:
    """The format by content: Caltech's title or stream headers, BORIS's column names, SimBA's pose
    columns beside 0/1 columns, or a plain frame/interval table."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError("no such file" + (" (a folder: name the annotation file)" if path.is_dir() else ""))
    if path.suffix.lower() == ".parquet":
        return tables.table_kind(path)
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
    return tables.table_kind(path)


def read_annotation(path: str | Path, fmt: str = "auto", *, fps: float | None = None) -> Annotation:
    """One annotation file -> Annotation. `fps` converts seconds to frames where the file counts
    time (BORIS without an FPS column, interval tables in seconds)."""
    path = Path(path)
    if fmt not in ANNOTATION_FORMATS:
        raise AnnotationError(f"unknown --annotation-format {fmt!r}; one of {', '.join(ANNOTATION_FORMATS)}")
    kind = detect_annotation_format(path) if fmt == "auto" else fmt
    if not path.is_file():
        raise AnnotationError("no such file")
    readers = {"caltech": caltech.read_caltech, "bento": caltech.read_bento, "boris": boris.read_boris_tabular,
               "boris-aggregated": boris.read_boris_aggregated, "simba": tables.read_simba,
               "frame-table": tables.read_frame_table, "interval-table": tables.read_interval_table}
    ann = readers[kind](path, fps=fps)
    ann.source = kind
    return ann
