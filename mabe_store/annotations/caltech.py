"""Caltech Behavior Annotator files (`.txt`) and Bento's `.annot` files, its successor.

    Caltech Behavior Annotator - Annotation File
    Configuration file:
    base    z                       <- label, hotkey (one per line)
    social    s
    S1:    start    end    type          <- one block per stream
    -----------------------------
           1    1130    base            <- 1-based, inclusive frames
           1131    2552    social

Each stream covers the video with exactly one label per frame, so a stream's labels are mutually
exclusive. The background label (`base`, or `other` in some projects) means "none of these" and is
no behaviour. The file names no animal: its labels are for the whole group (a dyad for two animals).
A behaviour is scored in a video when its stream is in the file: the stream of a label that never
occurs in this file is learnt from the other files of the project (`mabe-store import` reads all of
them first), since a file lists only the labels of the streams it has.

Bento writes a header (`Bento annotation file`, `Annotation framerate: 30`, `List of channels:`,
`List of annotations:`), then per channel `Ch1----------` and per behaviour `>attack`, a
`Start Stop Duration` line and one row per bout: seconds when the values have a decimal point
(times x the file's framerate, or the tracking's when given), else frames, read as Caltech's
(1-based, inclusive). A channel is a stream, mutually exclusive only when its bouts never overlap.
"""

from __future__ import annotations

import re
from pathlib import Path

from mabe_store.annotations.model import Annotation, AnnotationError, Bout

BACKGROUND = ("base", "other")
_STREAM = re.compile(r"^(S\d+):\s*start\s+end\s+type\s*$", re.IGNORECASE)


def _rows(lines: list[str], path_name: str) -> tuple[list[str], dict[str, list[tuple[int, int, str]]]]:
    """(configured labels, stream -> rows (start, end, label)) of the file's lines."""
    labels, streams, stream, in_config = [], {}, None, False
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("---"):
            continue
        m = _STREAM.match(line)
        if m:
            stream, in_config = m.group(1).upper(), False
            streams[stream] = []
        elif line.lower().startswith("configuration file"):
            in_config = True
        elif in_config:
            labels.append(line.split()[0])
        elif stream is not None:
            parts = line.split()
            if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
                raise AnnotationError(f"line {n} of stream {stream} is not `start end type`: {line[:60]!r}")
            streams[stream].append((int(parts[0]), int(parts[1]), parts[2]))
    if not streams:
        raise AnnotationError(f"{path_name}: no stream (`S1: start end type`) in the file")
    return labels, streams


def read_caltech(path: Path, fps: float | None = None) -> Annotation:
    """Bouts of every stream, frames converted to 0-based [start, stop); background labels dropped."""
    del fps  # frames are in the file
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    labels, streams = _rows(text.splitlines(), path.name)
    bouts, per_stream = [], {}
    for stream, rows in streams.items():
        names = per_stream.setdefault(stream, [])
        for start, end, label in rows:
            if start < 1 or end < start:
                raise AnnotationError(f"stream {stream}: interval {start}-{end} is not 1-based with start <= end")
            if label.lower() in BACKGROUND:
                continue
            if label not in names:
                names.append(label)
            bouts.append(Bout(label, start - 1, end))
    unknown = sorted({b.action for b in bouts} - set(labels)) if labels else []
    notes = [f"labels {unknown} are not in the file's configuration block"] if unknown else []
    return Annotation(bouts, scored=sorted({b.action for b in bouts}),
                      streams={s: sorted(n) for s, n in per_stream.items()}, notes=notes, source="caltech")


def _bento_rate(lines: list[str]) -> float | None:
    for line in lines:
        if line.strip().lower().startswith("annotation framerate"):
            try:
                return float(line.split(":", 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def _bento_frames(a: str, b: str, rate: float | None) -> tuple[int, int]:
    if "." in a or "." in b:
        if not rate:
            raise AnnotationError("bouts are in seconds and no framerate is known — give the video's fps")
        return round(float(a) * rate), round(float(b) * rate)
    return int(a) - 1, int(b)


def _overlaps(bouts: list[Bout]) -> bool:
    spans = sorted((b.start, b.stop) for b in bouts)
    return any(nxt[0] < cur[1] for cur, nxt in zip(spans, spans[1:], strict=False))


def read_bento(path: Path, fps: float | None = None) -> Annotation:
    """Bouts of every channel; a channel whose bouts never overlap is a stream."""
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    rate = fps or _bento_rate(lines)
    channels: dict[str, list[Bout]] = {}
    channel = behaviour = None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if line.endswith("---") and not line.startswith("-"):
            channel, behaviour = line.rstrip("-").strip(), None
            channels.setdefault(channel, [])
        elif channel is not None and line.startswith(">"):
            behaviour = line[1:].strip()
        elif channel is not None and behaviour and line and not line.lower().startswith("start"):
            parts = line.split()
            try:
                start, stop = _bento_frames(parts[0], parts[1], rate)
            except (IndexError, ValueError):
                raise AnnotationError(f"line {n} of channel {channel} is not `start stop duration`: {line[:60]!r}") from None
            if behaviour.lower() not in BACKGROUND:
                channels[channel].append(Bout(behaviour, start, max(stop, start + 1)))
    if not channels:
        raise AnnotationError(f"{path.name}: no channel (`Ch1----------`) in the file")
    bouts = [b for c in channels.values() for b in c]
    streams = {c: sorted({b.action for b in bs}) for c, bs in channels.items() if not _overlaps(bs)}
    notes = [f"channel {c}: bouts overlap, so its behaviours are not mutually exclusive"
             for c, bs in channels.items() if _overlaps(bs)]
    return Annotation(sorted(bouts, key=lambda b: (b.start, b.action)), scored=sorted({b.action for b in bouts}),
                      streams=streams, notes=notes, source="bento")
