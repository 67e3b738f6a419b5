"""The wheels a Kaggle bundle ships: the project's own, and each dependency the notebook image lacks.

Kaggle notebooks that submit run with the internet off, so everything `pip install --no-index
--find-links BUNDLE mabe` needs must be in the bundle folder (top level: mabe_train.bundle), for the
notebook's Python (3.11) on manylinux x86_64, not for this machine. We walk the requirement tree
ourselves: start from the project wheel's Requires-Dist (no extras: modal and kaggle stay out), skip every requirement the
image's package list (configs/kaggle_image.txt) satisfies, and fetch the rest one by one with
`pip download --no-deps --only-binary :all: --python-version ... --platform ...` (from PyPI, or
from a local folder with --wheels-from), reading each wheel's METADATA for the next level. Letting
pip resolve the whole tree instead would download torch (~900 MB with its CUDA libraries) and
every package the image already has. A requirement the image has at a version it does not allow is
bundled too (pip upgrades it from the folder), except torch: a torch the image cannot satisfy is an
error, never a 900 MB wheel. For the project, the wheel is about 0.3 MB and the missing
dependencies (zarr, numcodecs, donfig) about 9 MB.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mabe_train import MabeTrainError

NEVER_BUNDLED = frozenset({"torch"})
PLATFORMS = ("manylinux_2_35_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64")
PROJECT_FILES = ("pyproject.toml", "README.md", "mabe_store", "mabe_train")


class WheelError(MabeTrainError):
    """A wheel cannot be built or fetched, or the image cannot satisfy a requirement; one line."""


@dataclass
class Wheelhouse:
    project: Path | None = None
    bundled: dict[str, Path] = field(default_factory=dict)  # canonical name -> wheel
    from_image: dict[str, str] = field(default_factory=dict)  # canonical name -> image version
    upgraded: list[str] = field(default_factory=list)  # image has it, at a version not allowed


def read_image(path: Path) -> dict[str, Version]:
    """`name==version` lines (comments and blanks ignored) -> {canonical name: version}."""
    out, problems = {}, []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, sep, ver = line.partition("==")
        try:
            out[canonicalize_name(name.strip())] = Version(ver.strip().split("+")[0])
        except Exception:  # noqa: BLE001 — collect every bad line
            problems.append(f"line {i}: {line!r}")
        if not sep:
            problems.append(f"line {i}: {line!r} (expected name==version)")
    if problems:
        raise WheelError(f"{path}: not a package list: {'; '.join(problems[:3])}")
    return out


def marker_env(python: str, extra: str = "") -> dict[str, str]:
    return {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": extra}


def wheel_requires(wheel: Path, python: str, extras: frozenset[str] = frozenset()) -> list[Requirement]:
    """The wheel's Requires-Dist that apply on the target (base requirements + the given extras)."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
    out = []
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is None or any(Marker(str(req.marker)).evaluate(marker_env(python, e))
                                     for e in ("", *extras)):
            out.append(req)
    return out


def pip(args: list[str]) -> None:
    """The one call out to pip (tests fake it here); WheelError with pip's last line on failure."""
    r = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if r.returncode:
        last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
        raise WheelError(f"pip {args[0]} failed: {last}")


def build_project_wheel(root: Path, dest: Path, wheels_from: Path | None = None) -> Path:
    """The project's wheel, built from a copy of its sources (so no build/ or egg-info lands in the
    checkout) without build isolation when this environment has setuptools (works offline);
    otherwise pip fetches setuptools into an isolated build (from PyPI, or --wheels-from)."""
    missing = [f for f in PROJECT_FILES if not (root / f).exists()]
    if missing:
        raise WheelError(f"{root} is not a mabe checkout (no {', '.join(missing)}) — run bundle from the repository")
    with tempfile.TemporaryDirectory(prefix="mabe-wheel-") as tmp:
        for f in PROJECT_FILES:
            src, dst = root / f, Path(tmp) / f
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copyfile(src, dst)
        before = set(dest.glob("*.whl"))
        isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
        index = ["--no-index", "--find-links", str(wheels_from)] if wheels_from and isolation == [] else []
        pip(["wheel", "--no-deps", *isolation, *index, "-q", "-w", str(dest), tmp])
    new = sorted(set(dest.glob("mabe-*.whl")) - before) or sorted(dest.glob("mabe-*.whl"))
    if not new:
        raise WheelError("pip built no mabe wheel")
    return new[-1]


def download(req: Requirement, dest: Path, python: str, wheels_from: Path | None) -> Path:
    """One wheel for `req` (no dependencies) for the target Python and manylinux x86_64."""
    args = ["download", "--no-deps", "--only-binary", ":all:", "--python-version", python,
            "--implementation", "cp", "-q", "-d", str(dest)]
    for p in PLATFORMS:
        args += ["--platform", p]
    if wheels_from is not None:
        args += ["--no-index", "--find-links", str(wheels_from)]
    name = canonicalize_name(req.name)
    pip([*args, f"{req.name}{req.specifier}"])
    for whl in sorted(dest.glob("*.whl")):
        if canonicalize_name(parse_wheel_filename(whl.name)[0]) == name:
            return whl
    raise WheelError(f"pip download reported success but no wheel of {req.name} is in {dest}")


def collect(root: Path, dest: Path, image: dict[str, Version], *, python: str = "3.11",
            wheels_from: Path | None = None) -> Wheelhouse:
    """Project wheel + every dependency wheel the image lacks, into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    house = Wheelhouse(project=build_project_wheel(root, dest, wheels_from))
    queue = [(r, "mabe") for r in wheel_requires(house.project, python)]
    extras_done: dict[str, set[str]] = {}
    while queue:
        req, parent = queue.pop(0)
        name = canonicalize_name(req.name)
        have = image.get(name)
        if have is not None and (req.specifier.contains(have, prereleases=True) or name in NEVER_BUNDLED):
            if not req.specifier.contains(have, prereleases=True):
                raise WheelError(f"{parent} needs {req.name}{req.specifier} but the Kaggle image has {have} "
                                 f"and {req.name} is never bundled — relax the requirement")
            house.from_image[name] = str(have)
            continue
        if name in NEVER_BUNDLED:
            raise WheelError(f"{parent} needs {req.name}, which the image list lacks and a bundle never ships")
        if have is not None and name not in house.upgraded:
            house.upgraded.append(name)
        new_extras = set(req.extras) - extras_done.get(name, set())
        if name in house.bundled and not new_extras:
            continue
        if name not in house.bundled:
            house.bundled[name] = download(req, dest, python, wheels_from)
        extras_done.setdefault(name, set()).update(req.extras)
        queue += [(r, req.name) for r in wheel_requires(house.bundled[name], python, frozenset(req.extras))]
    return house
