"""The store's action vocabulary: which behaviours it has columns for, and what kind each one is.

A MABe store's vocabulary is the competition's 37 actions (mabe_store/constants.py), in
alphabetical column order, and its attrs stay exactly what they were before vocabularies existed:
`actions` lists the names, nothing else is added. A lab's own store (`mabe-store import` with
annotations) has the lab's behaviours instead, read from the raw folder's `actions.csv`, and also
carries `attrs["vocabulary"]` with the kinds:

- `self`: a behaviour of one animal, stored with target == agent (as MABe's `rear`);
- `pair`: agent acts on target (as MABe's `sniff`);
- `undirected`: the subset of `pair` whose labels name no actor (a dyad-level label such as the
  Caltech rat files' `social`). Such a label is stored on *both* ordered pairs with the same
  intervals, so no direction is invented and every consumer that handles ordered pairs (frame
  masks, pair windows, decoding, the per-lab metric) handles it unchanged; a consumer that wants
  one row per dyad may merge the two rows (they are identical by construction).
- `streams`: behaviours of one annotation stream (a Caltech `S1:` column) are mutually exclusive
  per frame; a decoder may keep them so.

Standard library only: the reader imports it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from mabe_store.constants import ACTIONS, SELF_ACTIONS
from mabe_store.errors import MabeStoreError

VOCABULARY_FILE = "actions.csv"  # in a raw folder: one row per behaviour of the lab's own vocabulary
CSV_COLUMNS = ("action", "kind", "stream")
KINDS = ("self", "pair", "undirected")


class VocabularyError(MabeStoreError):
    """A vocabulary file or attr is inconsistent; the message names the behaviour and the fix."""


@dataclass(frozen=True)
class Vocabulary:
    """Action names in store column order, with their kinds and annotation streams."""

    actions: tuple[str, ...]
    self_actions: frozenset[str] = frozenset()
    undirected: frozenset[str] = frozenset()  # pair behaviours stored on both ordered pairs
    streams: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (stream, its mutually exclusive names)
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {a: i for i, a in enumerate(self.actions)})
        extra = (self.self_actions | self.undirected) - set(self.actions)
        if extra or len(self.index) != len(self.actions):
            raise VocabularyError(f"vocabulary: kinds name unknown or repeated actions {sorted(extra)}")

    def kind(self, action: str) -> str:
        if action in self.self_actions:
            return "self"
        return "undirected" if action in self.undirected else "pair"

    @property
    def pair_actions(self) -> tuple[str, ...]:
        return tuple(a for a in self.actions if a not in self.self_actions)

    @property
    def stream_of(self) -> dict[str, str]:
        return {a: s for s, names in self.streams for a in names}

    @property
    def is_mabe(self) -> bool:
        return self == MABE

    def to_attrs(self) -> dict | None:
        """The store attr `vocabulary`; None for MABe's, whose store attrs stay as they always were."""
        if self.is_mabe:
            return None
        return {"self": sorted(self.self_actions), "undirected": sorted(self.undirected),
                "streams": {s: list(names) for s, names in self.streams}}

    @classmethod
    def from_attrs(cls, attrs: dict) -> Vocabulary:
        """The vocabulary of a store's attrs (a store without `vocabulary` is a MABe store)."""
        extra = attrs.get("vocabulary")
        actions = tuple(attrs.get("actions", ACTIONS))
        if extra is None:
            return MABE if actions == ACTIONS else cls(actions, frozenset(SELF_ACTIONS) & set(actions))
        return cls(actions, frozenset(extra.get("self", ())), frozenset(extra.get("undirected", ())),
                   tuple((s, tuple(n)) for s, n in extra.get("streams", {}).items()))

    @classmethod
    def from_rows(cls, rows: list[dict]) -> Vocabulary:
        """From `actions.csv` rows (action, kind, stream); names sorted into column order."""
        problems, kinds, streams = [], {}, {}
        for r in rows:
            a, k, s = (str(r.get(c) or "").strip() for c in CSV_COLUMNS)
            if not a or k not in KINDS:
                problems.append(f"{a or '(empty)'}: kind {k!r} is not one of {', '.join(KINDS)}")
            elif kinds.setdefault(a, k) != k:
                problems.append(f"{a}: listed as {kinds[a]} and as {k}")
            elif s:
                streams.setdefault(s, [])
                if a not in streams[s]:
                    streams[s].append(a)
        if problems:
            raise VocabularyError(f"{VOCABULARY_FILE}: " + "; ".join(problems))
        return cls(tuple(sorted(kinds)), frozenset(a for a, k in kinds.items() if k == "self"),
                   frozenset(a for a, k in kinds.items() if k == "undirected"),
                   tuple((s, tuple(sorted(n))) for s, n in sorted(streams.items())))

    def rows(self) -> list[dict]:
        stream = self.stream_of
        return [{"action": a, "kind": self.kind(a), "stream": stream.get(a, "")} for a in self.actions]

    def merged(self, other: Vocabulary) -> Vocabulary:
        """Both vocabularies' behaviours; one behaviour of two kinds is an error naming it."""
        return Vocabulary.from_rows(self.rows() + other.rows())


MABE = Vocabulary(ACTIONS, frozenset(SELF_ACTIONS))


def read_vocabulary(raw: str | Path) -> Vocabulary:
    """The vocabulary of a raw folder: its `actions.csv` when there is one, else MABe's 37 actions."""
    path = Path(raw) / VOCABULARY_FILE
    if not path.is_file():
        return MABE
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise VocabularyError(f"{path}: no behaviours listed — delete it to use the MABe actions")
    return Vocabulary.from_rows(rows)


def write_vocabulary(raw: str | Path, vocab: Vocabulary) -> Path:
    path = Path(raw) / VOCABULARY_FILE
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(vocab.rows())
    return path
