"""The commands the README and the documentation site show are real, and the README is a front door.

Why: a user copies commands from the docs; a renamed command or a dropped option must fail here, not
on their machine. Three checks:

(a) every `mabe-store ...`, `mabe-train ...` (also `python -m mabe_train.cli ...`) and `make ...`
    command in README.md and docs/*.md -- in fenced code blocks and in inline code spans -- names a
    real command of the Typer app (`typer.main.get_command(app)`, walked through its groups) and
    uses only that command's real `--options`; a `make` command names targets of the Makefile.
    Placeholders are fine (`RUN`, `[--split test|val]`): only the command path and option names
    are checked, not values.
(b) the README stays short (<= 260 lines) and no user doc cites an issue number.
(c) what "run" means for the README: every command it shows with arguments (in a code block or
    inline) is executed by `make demo` or by CI. A `mabe-store`/`mabe-train` command must be, word
    for word, a command that `make demo` runs (the recipes of `demo` and of its prerequisites, with
    `$(VENV)/bin/` dropped and the Makefile's variables at their defaults); a `make` target must be
    `demo` or one of its prerequisites (`make demo` is the reference run, which
    `scripts/readme_figures.sh` times on a fresh clone), or a target `.ci/run` runs (`test`,
    `docs`) or one of their prerequisites (`setup`). A bare command name (`mabe-train report`) is
    only a name and needs (a) alone. Commands that are documented but not run belong in docs/,
    where (a) checks them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PROGRAMS = {"mabe-store", "mabe-train", "make"}
MODULES = {"mabe_store.cli": "mabe-store", "mabe_train.cli": "mabe-train"}


def _apps() -> dict:
    from mabe_store.cli import app as store_app
    from mabe_train.cli import app as train_app
    return {"mabe-store": typer.main.get_command(store_app), "mabe-train": typer.main.get_command(train_app)}


def code_lines(text: str, spans: bool = True) -> list[str]:
    """Shell lines of fenced blocks (not python/yaml) and, with `spans`, inline code spans; continuations joined."""
    out: list[str] = []
    fence, lang, pending = False, "", ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence, lang = not fence, line.strip()[3:].strip()
            continue
        if fence:
            if lang in ("", "bash", "sh", "shell", "console"):
                line = pending + line
                pending = line[:-1] + " " if line.rstrip().endswith("\\") else ""
                if not pending:
                    out.append(line)
            continue
        if line.startswith("    ") and line.strip().startswith(("mabe-", "make ")):
            out.append(line.strip())  # an indented code block
        if spans:
            out += [span.replace("\\|", "|") for span in re.findall(r"`([^`\n]+)`", line)]
    return out


def commands(text: str, spans: bool = True) -> list[list[str]]:
    """Each command of a program in PROGRAMS as tokens from its program on, cut at `#`, `|`, `;`, `&&`."""
    found = []
    for line in code_lines(text, spans):
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        for start, tok in enumerate(tokens):
            name = tok.rsplit("/", 1)[-1]
            if tok == "python" and tokens[start + 1 : start + 2] == ["-m"] and len(tokens) > start + 2 \
                    and tokens[start + 2] in MODULES:
                found.append([MODULES[tokens[start + 2]], *_until_end(tokens[start + 3 :])])
                break
            if name in PROGRAMS and (start == 0 or "=" in tokens[start - 1] or tokens[start - 1] == "$"):
                found.append([name, *_until_end(tokens[start + 1 :])])
                break
    return found


def _until_end(tokens: list[str]) -> list[str]:
    out = []
    for tok in tokens:
        if tok in ("|", ";", "&&", "||", ">", "2>&1") or tok.startswith("#"):
            break
        out.append(tok)
    return out


def makefile_targets() -> dict[str, list[str]]:
    """target -> its prerequisites."""
    targets = {}
    for m in re.finditer(r"^([a-zA-Z_-]+):(?!=)([^#\n]*)", (ROOT / "Makefile").read_text(), re.M):
        targets[m.group(1)] = [p for p in m.group(2).split() if not p.startswith("$")]
    return targets


def problem(cmd: list[str], apps: dict) -> str | None:
    """Why `cmd` does not match the real CLI or Makefile, or None."""
    program, rest = cmd[0], [t.strip("[]") for t in cmd[1:]]
    if program == "make":
        targets = makefile_targets()
        missing = [t for t in rest if t and not t.startswith("-") and "=" not in t and t not in targets]
        return f"make has no target {missing}" if missing else None
    node, path = apps[program], [program]
    while hasattr(node, "commands") and rest and rest[0] != "...":  # a bare group name is fine
        if rest[0] not in node.commands:
            return f"`{' '.join(path)}` has no command {rest[0]!r}"
        path.append(rest[0])
        node, rest = node.commands[rest[0]], rest[1:]
    options = {o for p in getattr(node, "params", []) if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}
    bad = [t.split("=", 1)[0] for t in rest if t.startswith("-") and t != "-" and t.split("=", 1)[0] not in options]
    return f"`{' '.join(path)}` has no option {bad}" if bad else None


def all_commands() -> list[tuple[str, list[str]]]:
    return [(f.name, c) for f in (README, *DOCS) for c in commands(f.read_text())]


def test_the_docs_show_commands_at_all():
    """Guards the extractor: the pages that teach commands still yield them."""
    found = {name for name, _ in all_commands()}
    assert {"README.md", "store.md", "training.md", "kaggle.md", "own-data.md"} <= found
    assert len(all_commands()) > 60


def test_every_documented_command_and_option_exists():
    apps = _apps()
    bad = [f"{name}: {' '.join(cmd)} -> {why}" for name, cmd in all_commands() if (why := problem(cmd, apps))]
    assert not bad, "documented commands the CLI does not have:\n" + "\n".join(bad)


@pytest.mark.parametrize("cmd, fragment", [
    (["mabe-train", "no-such-command", "--run", "R"], "no command 'no-such-command'"),
    (["mabe-train", "modal", "nope"], "no command"),
    (["mabe-store", "build", "--raw", "r", "--nope", "1"], "no option ['--nope']"),
    (["make", "no-such-target"], "no target"),
])
def test_the_check_catches_a_missing_command_or_option(cmd, fragment):
    assert fragment in (problem(cmd, _apps()) or "")


def test_the_extractor_reads_blocks_spans_and_continuations():
    text = ("run `mabe-train predict --run R [--split val]` then\n```bash\nOMP_NUM_THREADS=1 mabe-store build "
            "--raw a \\\n    --jobs 2   # note --nope\n```\n```python\nmabe-train fake\n```\n")
    assert commands(text) == [["mabe-train", "predict", "--run", "R", "[--split", "val]"],
                              ["mabe-store", "build", "--raw", "a", "--jobs", "2"]]


def test_readme_is_a_front_door_and_docs_cite_no_issue_numbers():
    assert len(README.read_text().splitlines()) <= 260
    cited = [f"{f.name}: {m.group(0)}" for f in (README, *DOCS)
             for m in re.finditer(r"\bissues? #?\d+", f.read_text(), re.I)]
    assert not cited, cited


def prerequisites(*targets: str) -> set[str]:
    """`targets` with every Makefile prerequisite they pull in."""
    graph, todo, seen = makefile_targets(), list(targets), set()
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo += graph.get(t, [])
    return seen


def demo_commands() -> set[str]:
    """The `mabe-*` commands `make demo` runs (its recipe and its prerequisites'), as a user types them:
    `$(VENV)/bin/` dropped, the Makefile's variables at their defaults."""
    text = (ROOT / "Makefile").read_text()
    defaults = dict(re.findall(r"^(\w+)\s*\?=\s*(\S+)", text, re.M))
    found = set()
    for target in prerequisites("demo"):
        recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)*)", text, re.M).group(1)
        for cmd in re.findall(r"\$\(VENV\)/bin/(mabe-(?:store|train)\b[^;\"\n\\]*)", recipe):
            for key, value in defaults.items():
                cmd = cmd.replace(f"$({key})", value)
            found.add(" ".join(cmd.split()))
    return found


def ci_targets() -> set[str]:
    """Targets `.ci/run` runs, with every prerequisite they pull in."""
    return prerequisites(*re.findall(r"^\s*make\s+([\w-]+)", (ROOT / ".ci" / "run").read_text(), re.M))


def test_ci_runs_the_tests_and_the_docs_build():
    assert {"test", "docs"} <= ci_targets()


def test_every_readme_command_is_run_by_make_demo_or_ci():
    """A command with arguments, in a block or inline, must be run; a bare command name (`mabe-train
    report`) is a name, which the existence check above covers."""
    apps, demo = _apps(), demo_commands()
    allowed_targets = ci_targets() | prerequisites("demo")
    not_run = []
    for cmd in commands(README.read_text()):
        if cmd[0] == "make":
            not_run += [] if set(cmd[1:]) <= allowed_targets else [" ".join(cmd)]
        elif " ".join(cmd) not in demo and not is_bare_name(cmd, apps):
            not_run.append(" ".join(cmd))
    assert not not_run, f"README commands that neither `make demo` nor CI runs (move them to docs/): {not_run}"


def is_bare_name(cmd: list[str], apps: dict) -> bool:
    node, rest = apps[cmd[0]], cmd[1:]
    while rest and hasattr(node, "commands") and rest[0] in node.commands:
        node, rest = node.commands[rest[0]], rest[1:]
    return not rest


def test_readme_links_into_the_docs_resolve():
    """mkdocs --strict checks links between doc pages; the README is outside the site, so its links
    into docs/ (file and heading anchor, slugged as the site's table of contents does) are checked here."""
    from markdown.extensions.toc import slugify
    broken = []
    for target, anchor in re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", README.read_text()):
        page = ROOT / target
        if not page.exists():
            broken.append(target)
        elif anchor and target.endswith(".md"):
            headings = re.findall(r"^#+\s+(.+?)\s*$", page.read_text(), re.M)
            if anchor not in {slugify(h, "-") for h in headings}:
                broken.append(f"{target}#{anchor}")
    assert not broken, broken
