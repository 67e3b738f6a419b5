"""Parsing of train.csv's `behaviors_labeled` column.

The column is a JSON list of `"agent,target,action"` strings (`"mouse2,self,rear"` for self
behaviours). Two real labs (DeliriousFly, ReflectiveManatee) also carry malformed copies such as
`"'mouse1','mouse2','sniff'"`. The official metric compares entries verbatim, so a quoted entry
never matches a prediction; we parse both forms but keep the distinction in `Triple.clean`.
Training masks use the clean entries only: in the real data the clean entries are exactly the
triples that occur in the annotations, and the quoted copies are duplicates of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mabe_store.constants import ACTION_INDEX

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


class BehaviorsParseError(ValueError):
    """`behaviors_labeled` could not be read; the message says which entry and why."""


def _mouse_id(token: str, agent: int | None) -> int:
    if token == "self" and agent is not None:
        return agent
    m = _MOUSE.match(token)
    if not m:
        raise BehaviorsParseError(f"bad mouse id {token!r}")
    return int(m.group(1))


def parse_entry(entry: str) -> Triple:
    """Parse one list entry, clean (`mouse1,mouse2,sniff`) or quoted (`'mouse1','mouse2','sniff'`)."""
    parts = [p.strip() for p in entry.split(",")]
    if len(parts) != 3:
        raise BehaviorsParseError(f"entry {entry!r} does not have 3 comma-separated fields")
    stripped = [p.strip("'\" ") for p in parts]
    clean = stripped == parts
    agent = _mouse_id(stripped[0], None)
    target = _mouse_id(stripped[1], agent)
    action = stripped[2]
    if action not in ACTION_INDEX:
        raise BehaviorsParseError(f"entry {entry!r}: unknown action {action!r}")
    return Triple(agent, target, action, clean, entry)


def parse_behaviors_labeled(value: str | None) -> list[Triple]:
    """All entries of one video's `behaviors_labeled`; empty/None/NaN means an unlabeled video.

    Raises BehaviorsParseError naming the first entry that cannot be read.
    """
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
    return [parse_entry(x) for x in entries]


def clean_triples(value: str | None) -> list[Triple]:
    """The clean entries, deduplicated, in list order: what training masks and the metric use."""
    seen: dict[tuple[int, int, str], Triple] = {}
    for t in parse_behaviors_labeled(value):
        if t.clean:
            seen.setdefault((t.agent, t.target, t.action), t)
    return list(seen.values())
