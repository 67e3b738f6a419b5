"""Parsing of train.csv's `behaviors_labeled` column.

The column is a JSON list of `"agent,target,action"` strings (`"mouse2,self,rear"` for self
behaviours). Two real labs (DeliriousFly, ReflectiveManatee) also carry malformed copies such as
`"'mouse1','mouse2','sniff'"`. The official metric compares entries verbatim, so a quoted entry
never matches a prediction; we parse both forms but keep the distinction in `Triple.clean`.
Training masks (the store's `labeled` table and `videos/labeled_actions`) use the clean entries
only: in the real data the clean entries are exactly the triples that occur in the annotations,
and the quoted copies are duplicates of them. Entries that are neither (`"mouse1,mouse2,bogus"`)
are skipped and reported, never fatal: one bad entry must not cost a video its other labels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mabe_store.constants import ACTION_INDEX
from mabe_store.errors import MabeStoreError

_MOUSE = re.compile(r"^mouse([1-9])$")


@dataclass(frozen=True)
class Triple:
    """One labeled (agent, target, action); `target == agent` for self behaviours."""

    agent: int
    target: int
    action: str
    clean: bool  # the entry was written verbatim as "mouseA,mouseB|self,action"
    text: str  # the entry exactly as it appears in the list

    @property
    def is_self(self) -> bool:
        return self.agent == self.target


class BehaviorsParseError(MabeStoreError):
    """One `behaviors_labeled` entry (or the list) could not be read; says which and why."""


def _mouse_id(token: str, agent: int | None) -> int:
    if token == "self" and agent is not None:
        return agent
    m = _MOUSE.match(token)
    if not m:
        raise BehaviorsParseError(f"bad mouse id {token!r}")
    return int(m.group(1))


def parse_entry(entry: str, known=ACTION_INDEX) -> Triple:
    """Parse one list entry, clean (`mouse1,mouse2,sniff`) or quoted (`'mouse1','mouse2','sniff'`);
    `known` is the vocabulary's action names (MABe's by default)."""
    parts = [p.strip() for p in entry.split(",")]
    if len(parts) != 3:
        raise BehaviorsParseError(f"entry {entry!r} does not have 3 comma-separated fields")
    stripped = [p.strip("'\" ") for p in parts]
    clean = stripped == parts
    agent = _mouse_id(stripped[0], None)
    target = _mouse_id(stripped[1], agent)
    action = stripped[2]
    if action not in known:
        raise BehaviorsParseError(f"entry {entry!r}: unknown action {action!r}")
    return Triple(agent, target, action, clean, entry)


@dataclass(frozen=True)
class Labeled:
    """One video's `behaviors_labeled`, read tolerantly: every readable entry and every problem."""

    entries: tuple[Triple, ...]  # readable entries, clean and quoted, in list order
    problems: tuple[str, ...]  # one line per unreadable entry (or for a list that is not one)

    @property
    def clean(self) -> list[Triple]:
        """The clean entries, deduplicated, in list order: what training masks and the metric use."""
        seen: dict[tuple[int, int, str], Triple] = {}
        for t in self.entries:
            if t.clean:
                seen.setdefault((t.agent, t.target, t.action), t)
        return list(seen.values())


def _entries(value) -> list:
    """The JSON list of one `behaviors_labeled` cell; empty/None/NaN is an unlabeled video."""
    if value is None:
        return []
    text = str(value).strip()
    if text in ("", "nan", "NaN", "None", "[]"):
        return []
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as e:
        raise BehaviorsParseError(f"not a JSON list: {text[:60]!r} ({e.msg})") from None
    if not isinstance(entries, list) or not all(isinstance(x, str) for x in entries):
        raise BehaviorsParseError(f"not a JSON list of strings: {text[:60]!r}")
    return entries


def parse_behaviors_labeled(value, known=ACTION_INDEX) -> Labeled:
    """The one parser of `behaviors_labeled`, with one tolerance policy: an unreadable entry (or
    list) is a problem line, never an exception, and the readable entries are kept. The builder
    stores the clean entries and turns the problems into repair notes; `synth --from-real`
    refuses a row with problems. Either way both see the same entries."""
    try:
        raw = _entries(value)
    except BehaviorsParseError as e:
        return Labeled((), (str(e),))
    entries, problems = [], []
    for x in raw:
        try:
            entries.append(parse_entry(x, known))
        except BehaviorsParseError as e:
            problems.append(str(e))
    return Labeled(tuple(entries), tuple(problems))


def clean_triples(value, known=ACTION_INDEX) -> list[Triple]:
    """The clean entries of one cell, deduplicated (see `Labeled.clean`); problems are ignored."""
    return parse_behaviors_labeled(value, known).clean


def labeled_triples(value, known=ACTION_INDEX) -> tuple[list[Triple], list[str]]:
    """The clean entries and, if any entry was unreadable, one repair note (the builder's view)."""
    parsed = parse_behaviors_labeled(value, known)
    notes = []
    if parsed.problems:
        n = len(parsed.problems)
        notes.append(f"behaviors_labeled: ignored {n} unreadable entr{'y' if n == 1 else 'ies'} "
                     f"({parsed.problems[0]}); the readable ones are kept")
    return parsed.clean, notes
