"""The shapes every annotation reader returns, and the error it raises (no other import of the
package, so readers, the mapping to mice and the importer all depend on this one module)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mabe_store.errors import MabeStoreError


class AnnotationError(MabeStoreError):
    """One annotation file cannot be read; the message is the one-line reason (without the path)."""


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
