"""The one loader of settings for both packages: defaults <- a YAML file <- `key=value` overrides.

mabe_store's build settings (build_config.py) and mabe_train's run settings (mabe_train/config.py)
each keep their own dataclasses and checks; what they share is here, so a settings problem reads
the same in both command lines: a missing file says where to look, a YAML syntax error is one line
with its line and column (PyYAML's own text spans several), an override is parsed as a YAML value,
and every problem is collected into one `invalid <what>: a; b; c` message instead of stopping at
the first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml


def yaml_problem(path: Path, e: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: what and where."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{path} is not valid YAML: {getattr(e, 'problem', None) or str(e).splitlines()[0]}{where}"


def read_settings(path: str | Path, error: type[Exception], hint: str) -> dict:
    """The mapping in the YAML file at `path` ({} for an empty file); `error` naming the problem
    otherwise. `hint` says where valid files are, after "no config file at <path> — "."""
    p = Path(path)
    if not p.is_file():
        raise error(f"no config file at {p} — {hint}")
    try:
        values = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise error(yaml_problem(p, e)) from None
    if not isinstance(values, dict):
        raise error(f"{p}: the top level must be a mapping of settings")
    return values


def apply_overrides(raw: dict, overrides: list[str], problems: list[str],
                    resolve: Callable[[str], str | None], unknown: Callable[[str], str]) -> dict:
    """Set `key=value` pairs (values parsed as YAML) into the nested dict `raw`.

    `resolve` turns what was typed into a dotted key (None: unknown, then `unknown(key)` is the
    problem); each dot is one level of nesting. Problems are appended, not raised."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"override {item!r} is not key=value (e.g. train.epochs=3)")
            continue
        dotted = resolve(key)
        if dotted is None:
            problems.append(unknown(key))
            continue
        node = raw
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else {}
        try:
            node[last] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            problems.append(f"{dotted}={text!r} is not a YAML value ({getattr(e, 'problem', None) or 'syntax'})"
                            " — quote text, write lists as [a,b]")
    return raw


def raise_problems(error: type[Exception], what: str, problems: list[str]) -> None:
    """`error("invalid <what>: a; b; c")` when there is any problem: every one in one message."""
    if problems:
        raise error(f"invalid {what}: " + "; ".join(problems))
