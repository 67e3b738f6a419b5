"""BORIS exports: "tabular events" (START/STOP/POINT rows) and "aggregated events" (one row a bout).

Tabular events (BORIS 7): a header block (observation id, media file, date, time offset,
independent variables), then `Time, Media file path, Total length, FPS, Subject, Behavior,
Behavioral category, Comment, Status`, one row per event, times in seconds; BORIS 8 writes every
observation field on each row and calls the status column `Behavior type`. State behaviours come
as START then STOP of the same subject and behaviour; a POINT event is a bout of one frame.
Aggregated events have one row per bout with `Start (s)` and `Stop (s)`.

Seconds become frames with the tracking's frame rate when it is known (the video's frame numbers
are what the store indexes), else the file's `FPS` column: frame = round(seconds x fps), stop
exclusive, at least one frame. The subject is the actor; a modifier that names another animal is
the target (mapped in mice.py). `No focal subject` (or an empty subject) names no animal. BORIS
lists only behaviours that occurred, so those are the ones scored.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from mabe_store.annotations.model import Annotation, AnnotationError, Bout

NO_SUBJECT = ("", "no focal subject")


def _table(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows under the header row that holds every `required` column (the header block above it
    is skipped); comma or tab separated."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    delim = "\t" if text.count("\t") > text.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    want = {c.lower() for c in required}
    for i, row in enumerate(rows):
        names = [c.strip() for c in row]
        if want <= {c.lower() for c in names}:
            return [dict(zip(names, r, strict=False)) for r in rows[i + 1:] if any(c.strip() for c in r)]
    raise AnnotationError(f"no header row with the columns {', '.join(required)} (is it a BORIS export?)")


def _get(row: dict[str, str], *names: str) -> str:
    low = {k.lower(): v for k, v in row.items() if k is not None}
    for n in names:
        if n.lower() in low and low[n.lower()] is not None:
            return low[n.lower()].strip()
    return ""


def _fps(rows: list[dict[str, str]], fps: float | None, notes: list[str]) -> float:
    found = {v for v in (_get(r, "FPS") for r in rows) if v and v.upper() != "NA"}
    file_fps = None
    try:
        file_fps = float(sorted(found)[0]) if found else None
    except ValueError:
        file_fps = None
    if fps is not None and file_fps and not math.isclose(fps, file_fps, rel_tol=1e-3):
        notes.append(f"the file's FPS {file_fps:g} differs from the tracking's {fps:g}: frames use {fps:g}")
    use = fps or file_fps
    if not use or use <= 0:
        raise AnnotationError("times are in seconds and neither the file nor the tracking gives a frame rate "
                            "— give the video's fps")
    return use


def _seconds(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise AnnotationError(f"{what} {value!r} is not a number of seconds") from None


def _modifiers(row: dict[str, str]) -> tuple[str, ...]:
    values = [v for k, v in row.items() if k and k.lower().startswith("modifier") and v]
    return tuple(m.strip() for v in values for m in v.replace(",", "|").split("|") if m.strip())


def _subject(row: dict[str, str]) -> str | None:
    s = _get(row, "Subject")
    return None if s.lower() in NO_SUBJECT else s


def _bout(action, start_s, stop_s, fps, subject, mods) -> Bout:
    start = round(start_s * fps)
    return Bout(action, start, max(round(stop_s * fps), start + 1), subject, None, mods)


def read_boris_tabular(path: Path, fps: float | None = None) -> Annotation:
    rows = _table(path, ("Time", "Subject", "Behavior"))
    notes: list[str] = []
    fps = _fps(rows, fps, notes)
    open_: dict[tuple, float] = {}
    bouts = []
    for r in rows:
        status = _get(r, "Status", "Behavior type").upper()
        key = (_subject(r), _get(r, "Behavior"), _modifiers(r))
        t = _seconds(_get(r, "Time"), "Time")
        if status == "POINT":
            bouts.append(_bout(key[1], t, t, fps, key[0], key[2]))
        elif status == "START":
            if key in open_:
                raise AnnotationError(f"{key[1]} of {key[0] or 'no subject'} starts at {t:g} s while started at "
                                    f"{open_[key]:g} s")
            open_[key] = t
        elif status == "STOP":
            if key not in open_:
                raise AnnotationError(f"{key[1]} of {key[0] or 'no subject'} stops at {t:g} s without a START")
            bouts.append(_bout(key[1], open_.pop(key), t, fps, key[0], key[2]))
        else:
            raise AnnotationError(f"status {status!r} at {t:g} s is not START, STOP or POINT")
    if open_:
        (subject, action, _), t = next(iter(open_.items()))
        raise AnnotationError(f"{action} of {subject or 'no subject'} starts at {t:g} s and never stops")
    return Annotation(sorted(bouts, key=lambda b: (b.start, b.action)), scored=sorted({b.action for b in bouts}),
                      notes=notes, source="boris")


def read_boris_aggregated(path: Path, fps: float | None = None) -> Annotation:
    rows = _table(path, ("Subject", "Behavior", "Start (s)", "Stop (s)"))
    notes: list[str] = []
    fps = _fps(rows, fps, notes)
    bouts = []
    for r in rows:
        start, stop = _seconds(_get(r, "Start (s)"), "Start (s)"), _seconds(_get(r, "Stop (s)") or _get(r, "Start (s)"),
                                                                         "Stop (s)")
        bouts.append(_bout(_get(r, "Behavior"), start, stop, fps, _subject(r), _modifiers(r)))
    return Annotation(sorted(bouts, key=lambda b: (b.start, b.action)), scored=sorted({b.action for b in bouts}),
                      notes=notes, source="boris-aggregated")
