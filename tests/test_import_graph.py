"""The import graph of `mabe_store` and `mabe_train`, read statically: no cycles, the store
package stays free of torch and of mabe_train, and every import inside a function says why it is
there (an optional extra, a heavy module a light path must not pay for) or is of an optional extra.

Every `import` / `from ... import` in the packages counts, those inside functions too: an import
moved into a function hides a cycle from Python's loader but not from a reader, and the next
top-level import brings it back. `from pkg import name` is an edge to `pkg.name` when that is a
module, else to `pkg`; relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mabe_store", "mabe_train")
# where an import inside a function must say why: the packages, and the benches and scripts beside them
LAZY_CHECKED = (*PACKAGES, "bench", "scripts")
# the optional extras of pyproject.toml ([modal], [kaggle], [io], [gbdt], [cloud]): importing one
# inside the function that needs it is the rule, so it needs no comment
OPTIONAL = {"modal", "kaggle", "pandas", "tables", "h5py", "xarray", "h5netcdf", "lightgbm", "s3fs", "gcsfs"}


def modules(root: Path = ROOT, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported(path: Path, module: str, known: set[str]) -> set[str]:
    """Every module name `path` imports (external ones included, as written)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, path.name == "__init__.py")
            subs = {f"{base}.{a.name}" for a in node.names} & known
            out |= subs or {base}
            if subs != {f"{base}.{a.name}" for a in node.names}:
                out.add(base)  # some names are attributes of the package itself
    return out


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def graph(root: Path = ROOT, packages=PACKAGES) -> dict[str, set[str]]:
    """module -> the package modules it imports. A module importing `a.b.c` also runs `a` and
    `a.b` (their __init__), so those are edges too, except the importer's own packages: those
    are loaded before it anyway (a package re-exporting its modules is no cycle, a module taking
    a name from its package's __init__ is an explicit edge)."""
    mods = modules(root, packages)
    known = set(mods)
    out = {}
    for name, path in mods.items():
        own = _ancestors(name)
        edges = set()
        for target in imported(path, name, known):
            edges |= ({target} | _ancestors(target) - own) & known
        out[name] = edges - {name}
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(out)


def one_cycle(g: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A shortest path a -> ... -> a inside the component, to print."""
    inside = set(comp)
    start = comp[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(g[v] & inside):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def describe(g: dict[str, set[str]]) -> str:
    return "\n".join(f"{len(c)} modules: {', '.join(c)}\n  e.g. {' -> '.join(one_cycle(g, c))}" for c in cycles(g))


def test_no_import_cycles():
    g = graph()
    if cycles(g):
        pytest.fail("import cycles (every import counts, those inside functions too):\n" + describe(g), pytrace=False)


def test_the_store_never_imports_torch_or_mabe_train():
    mods = modules()
    bad = sorted(f"{name} imports {target}"
                 for name, path in mods.items() if name.split(".")[0] == "mabe_store"
                 for target in imported(path, name, set(mods))
                 if target.split(".")[0] in ("torch", "mabe_train"))
    if bad:
        pytest.fail("mabe_store must not import torch or mabe_train:\n" + "\n".join(bad), pytrace=False)


def test_a_planted_cycle_is_found_and_printed(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")  # inside a function, relative
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import a\n")  # imports into the cycle, not part of it
    g = graph(tmp_path, ("pkg",))
    assert cycles(g) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert "pkg.a -> pkg.sub.b -> pkg.c -> pkg.a" in describe(g)


def function_imports(path: Path) -> tuple[list[tuple[int, str]], dict[int, int]]:
    """(line, first module named) of every import nested in a function (or a lambda), in order,
    and each one's last line (an import in parentheses spans several)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []

    def walk(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if inside and isinstance(child, ast.Import):
                out.append((child, child.names[0].name))
            elif inside and isinstance(child, ast.ImportFrom):
                out.append((child, "." * child.level + (child.module or "")))
            walk(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(tree, False)
    return [(node.lineno, name) for node, name in out], {n.lineno: n.end_lineno for n, _ in out}


def unexplained(path: Path) -> list[str]:
    """The imports inside functions of `path` with no comment on their lines or on the line just
    above, other than those of an optional extra."""
    text = path.read_text()
    comments = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                if tok.type == tokenize.COMMENT}
    lines = text.splitlines()
    found, ends = function_imports(path)
    bad = []
    for line, name in found:
        own = range(line, ends[line] + 1)
        above = line - 1 in comments and lines[line - 2].lstrip().startswith("#")
        if not (above or any(n in comments for n in own) or name.split(".")[0] in OPTIONAL):
            bad.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}: "
                       f"{lines[line - 1].strip()}")
    return bad


def test_every_import_inside_a_function_says_why():
    bad = [b for d in LAZY_CHECKED for path in sorted((ROOT / d).rglob("*.py")) for b in unexplained(path)]
    if bad:
        pytest.fail("imports inside functions belong at the top of the module, unless they are of an optional "
                    "extra or a heavy module a light path avoids: then a comment on the line (or just above) "
                    "says so, e.g. `# heavy: matplotlib; keeps mabe-train --help fast`:\n" + "\n".join(bad),
                    pytrace=False)


def test_an_uncommented_import_inside_a_function_is_caught(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import os\n\n\n"
                    "def f():\n    import json\n    return json, os\n\n\n"  # caught
                    "def g():\n    import torch  # heavy: keeps --help fast\n\n\n"  # says why
                    "def h():\n    # heavy: keeps --help fast\n    from matplotlib import (\n        colormaps,\n    )\n\n\n"
                    "def i():\n    import lightgbm.basic\n    x = '# not a comment'; from . import y\n"  # extra; caught
                    "    return lambda: __import__('re')\n")
    assert [b.split(": ", 1)[1] for b in unexplained(path)] == ["import json", "x = '# not a comment'; from . import y"]
