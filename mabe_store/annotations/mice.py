"""Annotation bouts -> the store's intervals (agent_id, target_id, action, start, stop) and the
video's `behaviors_labeled`, through the tracking's individual mapping.

Animal names resolve as the tracking's individuals do (`adult` is mouse1 when the tracking's first
kept individual is `adult`); `mouse2`, `2` and `self` (as a target) are accepted as well. The one
convention for labels that name no animal (Caltech files, frame tables, SimBA, BORIS's "No focal
subject"): with one animal it is that animal's self behaviour; with two it is an *undirected*
pair behaviour, stored on both ordered pairs (mouse1->mouse2 and mouse2->mouse1) with the same
intervals, so no actor is invented and every pair-based consumer reads it as it reads MABe's
pairs; with more than two the pair is unknown, and the file fails in one line. A label naming only
its actor is a pair behaviour with the other animal when there are two (a BORIS `interact` of
`adult` is adult->juvenile), unless the behaviour is listed as a self behaviour; a modifier naming
another animal is the target. Behaviours scored without any bout in the video are labeled (its
frames are negatives) for the pairs the convention gives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from mabe_store.annotations.model import Annotation, AnnotationError, Bout
from mabe_store.annotations.read import read_annotation
from mabe_store.constants import entry_text


@dataclass
class Labels:
    """One video's labels in the store's terms: what `frame()` writes as its annotation parquet."""

    intervals: list[tuple[int, int, str, int, int]]  # (agent_id, target_id, action, start, stop exclusive)
    behaviors_labeled: list[str]  # "mouse1,mouse2,social" entries, clean
    kinds: dict[str, str]  # action -> self | pair | undirected
    notes: list[str] = field(default_factory=list)

    def frame(self):
        """The intervals as MABe's annotation table (Kaggle's column names and dtypes)."""
        cols = list(zip(*self.intervals, strict=True)) or [[], [], [], [], []]
        return pl.DataFrame({"agent_id": pl.Series(cols[0], dtype=pl.Int8), "target_id": pl.Series(cols[1], dtype=pl.Int8),
                             "action": pl.Series(cols[2], dtype=pl.String),
                             "start_frame": pl.Series(cols[3], dtype=pl.Int32),
                             "stop_frame": pl.Series(cols[4], dtype=pl.Int32)})


def _mouse(name: str, mice: list[str], agent: int | None = None) -> int | None:
    """Mouse id (1-based) of an animal name, or None when it names none of them."""
    n = str(name).strip()
    low = [m.lower() for m in mice]
    if n.lower() == "self" and agent is not None:
        return agent
    if n.lower() in low:
        return low.index(n.lower()) + 1
    digits = n.lower().removeprefix("mouse")
    if digits.isdigit() and 1 <= int(digits) <= len(mice):
        return int(digits)
    return None


def _actor(b: Bout, mice: list[str]) -> int:
    a = _mouse(b.agent, mice)
    if a is None:
        raise AnnotationError(f"subject {b.agent!r} of {b.action} is none of the tracked animals "
                            f"({', '.join(mice)}) — name it as the tracking does (see --individuals)")
    return a


def _target(b: Bout, agent: int, mice: list[str], self_behaviors: set[str]) -> tuple[int, str]:
    """(target id, kind) of a bout whose actor is known."""
    if b.target is not None and str(b.target).strip():
        t = _mouse(b.target, mice, agent)
        if t is None:
            raise AnnotationError(f"target {b.target!r} of {b.action} is none of the tracked animals ({', '.join(mice)})")
        return t, "self" if t == agent else "pair"
    named = [m for m in (_mouse(x, mice) for x in b.modifiers) if m is not None and m != agent]
    if named:
        return named[0], "pair"
    if b.action in self_behaviors or len(mice) == 1:
        return agent, "self"
    if len(mice) == 2:
        return 3 - agent, "pair"
    raise AnnotationError(f"{b.action} of {b.agent} names no target among {len(mice)} animals — add a modifier "
                        "naming the target, or list it as a self behaviour")


def _group_kind(action: str, n: int, self_behaviors: set[str]) -> str:
    """Kind of a label that names no animal (the module docstring's convention)."""
    if n == 1:
        return "self"
    if action in self_behaviors:
        raise AnnotationError(f"{action} is a self behaviour but its labels name no animal among {n}")
    if n == 2:
        return "undirected"
    raise AnnotationError(f"{action}: the labels name no animal and there are {n} animals — the pair is "
                        "unknown (give agent/target columns or a subject)")


def _pairs(kind: str, n: int) -> list[tuple[int, int]]:
    return [(1, 1)] if kind == "self" else [(1, 2), (2, 1)]


def to_mice(ann: Annotation, mice: list[str], *, scored: list[str] | None = None,
            self_behaviors: tuple[str, ...] = ()) -> Labels:
    """The store intervals and behaviors_labeled of one video. `mice`: individual names in mouse
    order; `scored`: the behaviours scored in it (default: the file's own list)."""
    selfs, n = set(self_behaviors), len(mice)
    kinds: dict[str, str] = {}
    intervals, triples = [], {}
    for b in ann.bouts:
        if b.agent is None:
            kind = _group_kind(b.action, n, selfs)
            pairs = _pairs(kind, n)
        else:
            a = _actor(b, mice)
            t, kind = _target(b, a, mice, selfs)
            pairs = [(a, t)]
        if kinds.setdefault(b.action, kind) != kind:
            raise AnnotationError(f"{b.action} is labeled both as {kinds[b.action]} and as {kind} in one file")
        for a, t in pairs:
            intervals.append((a, t, b.action, b.start, b.stop))
            triples.setdefault(entry_text(a, t, b.action), None)
    for action in scored if scored is not None else ann.scored:
        if action not in kinds:  # scored, no bout: labels of the group, by the same convention
            kinds[action] = _group_kind(action, n, selfs) if not ann.bouts or ann.bouts[0].agent is None \
                else ("self" if action in selfs else "pair")
            if kinds[action] == "pair":
                continue  # an actor-based format without a bout says nothing of who was scored
            for a, t in _pairs(kinds[action], n):
                triples.setdefault(entry_text(a, t, action), None)
    return Labels(sorted(intervals, key=lambda r: (r[3], r[0], r[1], r[2])), list(triples), kinds, list(ann.notes))


def read_labels(path, mice: list[str], *, fmt: str = "auto", fps: float | None = None,
                self_behaviors: tuple[str, ...] = ()) -> Labels:
    """One annotation file straight to the store's terms (a round trip test reads exports back so)."""
    return to_mice(read_annotation(path, fmt, fps=fps), mice, self_behaviors=self_behaviors)
