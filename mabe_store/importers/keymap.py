"""Which store slot a tracking file's body-part name goes to (`configs/keypoints.yaml`).

Names are compared normalised — lower case, with everything but letters and digits removed — so
`Ear_left`, `ear-left` and `EarLeft` are one name, and every slot name matches itself. The map
lists only the other spellings: `snout` for `nose`, `left_ear` for `ear_left`, ... An alias with a
one-letter word (`r_ear`, `ear_l`) matches only with its words kept apart (`r_ear`, `R-Ear`,
`rEar`), since run together it spells another name: `r_ear` would take `rear`, `l_ear` `lear`.
A name that fits no slot is still imported, under its own name (the store build then reports it
as unmapped, and an alias in configs/store.yaml can give it a slot later); the import reports it
with counts. A `--keypoints` file adds its spellings to the built-in ones (a name it lists under
another slot moves there), so a lab lists only what is new.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mabe_store.constants import DEFAULT_KEYPOINTS
from mabe_store.errors import MabeStoreError

# slot -> other spellings seen in DeepLabCut / SLEAP / SimBA / MARS projects (keep configs/keypoints.yaml equal)
DEFAULT_ALIASES: dict[str, list[str]] = {
    "nose": ["snout", "nose_tip"],
    "ear_left": ["left_ear", "l_ear", "ear_l"],
    "ear_right": ["right_ear", "r_ear", "ear_r"],
    "neck": ["nape", "neck_base"],
    "head": ["head_center", "head_centre", "mid_head"],
    "body_center": ["center", "centre", "centroid", "body_centre", "mid_body", "center_body",
                    "spine_center", "mid_spine"],
    "lateral_left": ["left_lateral", "lateral_l", "side_left", "left_side", "left_flank"],
    "lateral_right": ["right_lateral", "lateral_r", "side_right", "right_side", "right_flank"],
    "hip_left": ["left_hip", "hip_l"],
    "hip_right": ["right_hip", "hip_r"],
    "tail_base": ["base_of_tail", "tail_root", "tail_start"],
    "tail_midpoint": ["tail_middle", "tail_mid", "mid_tail", "tail_center", "tail_centre"],
    "tail_tip": ["tail_end"],
}


class KeymapError(MabeStoreError, ValueError):
    """The keypoint map is invalid; the message lists every problem."""


def words(name: str) -> list[str]:
    """Lower-case words of a name: split at anything but letters and digits, and at camelCase."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _key(name: str) -> str:
    """The lookup key of a name: run together, or with `_` between words when one of them is a
    single letter (those run together spell other names)."""
    w = words(name)
    return "_".join(w) if any(len(x) == 1 and x.isalpha() for x in w) else "".join(w)


def slot_of(name: str, keymap: dict[str, str]) -> str | None:
    """The slot of a body-part name in a keymap of `make_keymap`, or None."""
    return keymap.get(_key(name))


def make_keymap(aliases: dict[str, list[str]], slots=DEFAULT_KEYPOINTS) -> dict[str, str]:
    """normalised name -> slot; every problem (unknown slot, a name under two slots) in one message."""
    lookup = {_key(s): s for s in slots}
    problems = []
    for slot, names in aliases.items():
        if slot not in slots:
            problems.append(f"{slot!r} is not a store slot ({', '.join(slots)})")
            continue
        if not isinstance(names, list):
            problems.append(f"{slot}: expected a list of names, got {names!r}")
            continue
        for n in names:
            key = _key(n)
            if lookup.get(key, slot) != slot:
                problems.append(f"{n!r} is listed under both {lookup[key]} and {slot}")
            lookup[key] = slot
    if problems:
        raise KeymapError("invalid keypoint map: " + "; ".join(problems))
    return lookup


def merge_aliases(base: dict[str, list[str]], extra: dict[str, list[str]]) -> dict[str, list]:
    """`base` with `extra`'s spellings added; a spelling `extra` puts under another slot moves there."""
    moved = {_key(n) for names in extra.values() if isinstance(names, list) for n in names}
    kept = {slot: [n for n in names if _key(n) not in moved] for slot, names in base.items()}
    out = {slot: kept.get(slot, []) + names if isinstance(names, list) else names for slot, names in extra.items()}
    return out | {slot: names for slot, names in kept.items() if slot not in out}  # the file's slots first


def load_keymap(path: str | Path | None) -> dict[str, str]:
    """The default map, plus the spellings of the YAML file at `path` (slot: [spellings])."""
    if path is None:
        return make_keymap(DEFAULT_ALIASES)
    p = Path(path)
    try:
        values = yaml.safe_load(p.read_text()) or {}
    except OSError as e:
        raise KeymapError(f"cannot read keypoint map {p}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise KeymapError(f"{p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise KeymapError(f"{p} must hold a mapping slot: [names]")
    return make_keymap(merge_aliases(DEFAULT_ALIASES, values))
