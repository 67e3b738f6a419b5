"""`mabe-train kaggle bundle`: trained runs -> a folder to upload as a Kaggle Dataset, plus the notebook.

    DIR/
      mabe-bundle.json         the marker the notebook finds the bundle by; runs, Python, wheel list
      dataset-metadata.json    for `kaggle datasets create -p DIR`
      wheels/                  mabe-*.whl + every dependency the Kaggle image lacks (mabe_train.wheels)
      runs/<name>/             what `load_run` needs from each run, nothing else (below)
      store.yaml               the store build settings of the first run's store, so the notebook's
                               test-only store has the keypoint layout the runs were trained on
      notebook/submit.ipynb    three short cells (mabe_train.notebook) + kernel-metadata.json

A run keeps every file but the training-only ones (`last.pt`, `epoch_NNN.pt`, metrics, summary,
eval/, stage-cache/, CSVs, PNGs), so a run kind with files of its own (GBDT models, an ensemble's
members) travels whole; a torch checkpoint loses its optimizer, scheduler, sampler and RNG states
(about 2/3 of best.pt for Adam). Each bundled copy is then loaded back with `load_run` against a
store and must give thresholds: a run that cannot be loaded is refused before anything is uploaded.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from mabe_store.log import Log, say
from mabe_store.reader import open_store
from mabe_train import MabeTrainError
from mabe_train.config import load_config
from mabe_train.notebook import MARKER, kernel_metadata, notebook
from mabe_train.runs.files import (
    CONFIG_FILE,
    CV_DIR,
    EVAL_DIR,
    LAST_CHECKPOINT,
    MEMBERS_DIR,
    METRICS_FILE,
    SUMMARY_FILE,
    read_marker,
    write_marker,
)
from mabe_train.runs.files import (
    MARKER as MARKER_FILE,
)
from mabe_train.runs.registry import load_run, run_kind
from mabe_train.wheels import Wheelhouse, collect, read_image

COMPETITION = "MABe-mouse-behavior-detection"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = ROOT / "configs" / "kaggle_image.txt"
SKIP = (LAST_CHECKPOINT, "epoch_*.pt", METRICS_FILE, SUMMARY_FILE, EVAL_DIR, "stage-cache", "*.csv", "*.png", "*.tmp")
TRAINING_ONLY = ("optimizer", "scheduler", "sampler", "torch_rng", "cuda_rng", "scaler")
TIME_BUDGET_S = 8 * 3600  # of Kaggle's 9 h: the rest covers install, the store build and writing


class BundleError(MabeTrainError):
    """A run cannot be bundled (not loadable, a name clash) or the folder cannot be written; one line."""


@dataclass
class BundleReport:
    out: Path
    runs: list[str] = field(default_factory=list)
    wheels: Wheelhouse | None = None

    def sizes(self) -> dict[str, float]:
        """MB per part: each wheel, each run, the rest."""
        def mb(p: Path) -> float:
            return (sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size) / 1e6
        parts = {f"wheels/{w.name}": mb(w) for w in sorted((self.out / "wheels").glob("*.whl"))}
        parts.update({f"runs/{r}": mb(self.out / "runs" / r) for r in self.runs})
        total = mb(self.out)
        parts["other (metadata, notebook, store.yaml)"] = total - sum(parts.values())
        parts["total"] = total
        return parts

    def lines(self) -> list[str]:
        out = [f"bundle: {self.out} ({len(self.runs)} run(s): {', '.join(self.runs)})"]
        if self.wheels is not None:
            out.append(f"from the Kaggle image (not bundled): {', '.join(sorted(self.wheels.from_image)) or 'none'}")
            if self.wheels.upgraded:
                out.append(f"bundled although the image has them (its version is not allowed): {', '.join(self.wheels.upgraded)}")
        out += [f"  {mb:9.2f} MB  {name}" for name, mb in self.sizes().items()]
        out.append(f"upload: kaggle datasets create -p {self.out}   then: kaggle kernels push -p {self.out / 'notebook'}")
        return out


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in SKIP)


def _slim_checkpoint(src: Path, dst: Path) -> None:
    """A copy of a torch checkpoint without what only resuming training needs."""
    try:
        ck = torch.load(src, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 — not a checkpoint of ours: it travels as is, load_run judges it
        ck = None
    if not (isinstance(ck, dict) and "model" in ck):
        shutil.copyfile(src, dst)
        return
    slim = {k: v for k, v in ck.items() if k not in TRAINING_ONLY}
    if isinstance(ck.get("state"), dict) and "epoch" in ck["state"]:
        slim["state"] = {"epoch": ck["state"]["epoch"]}
    torch.save(slim, dst)


def copy_run(run_dir: Path, dst: Path) -> None:
    """The run's prediction files into `dst` (see the module docstring). An ensemble's member runs
    are copied into `dst/members/` and its run.json points there, so it loads wherever it lands."""
    dst.mkdir(parents=True)
    with_members = run_kind(run_dir).members
    if with_members:
        meta, members = read_marker(run_dir), []
        for i, m in enumerate(meta["members"]):
            src = Path(m) if Path(m).is_absolute() else run_dir / m
            rel = Path(MEMBERS_DIR) / f"{i}-{src.name}"
            copy_run(src, dst / rel)
            members.append(str(rel))
        write_marker(dst, meta["kind"], {**meta, "members": members})
    for src in sorted(run_dir.iterdir()):
        # a run with members: its own cv/ holds the fold runs just copied into members/, and OOF files
        if _skipped(src.name) or (with_members and src.name in (MARKER_FILE, MEMBERS_DIR, CV_DIR)):
            continue
        if src.is_dir():
            shutil.copytree(src, dst / src.name, ignore=lambda _d, names: [n for n in names if _skipped(n)])
        elif src.suffix == ".pt":
            _slim_checkpoint(src, dst / src.name)
        else:
            shutil.copyfile(src, dst / src.name)


def check_run(run_dir: Path, store: Path | None) -> Path:
    """Load the bundled copy as the notebook will; BundleError naming the run and why otherwise.
    Returns the store it was checked against."""
    try:
        data = store or Path(load_config(run_dir / CONFIG_FILE, []).data.data_dir)
        if not data.exists():
            raise BundleError(f"no store at {data} to check it with — pass --store (any store built with "
                              "the run's keypoint layout)")
        run = load_run(run_dir, data_dir=data, device="cpu", progress=False)
        run.thresholds  # noqa: B018 — a run that cannot decode cannot submit
    except BundleError:
        raise
    except Exception as e:  # noqa: BLE001 — whatever stops load_run stops the notebook too
        raise BundleError(f"run {run_dir.name} cannot be loaded, so it is not bundled: {e}") from None
    return data


def _store_yaml(store: Path, out: Path) -> None:
    cfg = dict(open_store(store).attrs.get("build_config") or {})
    cfg.pop("hash", None)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))


def make_bundle(runs: list[Path], out: Path, *, python: str = "3.11", gpu: bool = False, image: Path | None = None,
                wheels_from: Path | None = None, store: Path | None = None, owner: str = "YOUR-KAGGLE-USERNAME",
                slug: str = "mabe-bundle", overwrite: bool = False, log: Log = say) -> BundleReport:
    """Write the bundle folder; see the module docstring."""
    out, names = Path(out), [Path(r).resolve().name for r in runs]
    if len(set(names)) != len(names):
        raise BundleError(f"two runs share a folder name ({', '.join(names)}) — rename one")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BundleError(f"{out} exists and is not empty — pass --overwrite or another --out")
        if not (out / MARKER).exists():
            raise BundleError(f"{out} is not a bundle (no {MARKER}) — refusing to replace it")
        shutil.rmtree(out)
    missing = [str(r) for r in runs if not (Path(r) / CONFIG_FILE).is_file()]
    if missing:
        raise BundleError(f"not a run directory (no config.yaml): {', '.join(missing)} — pass the "
                          "directory printed by `mabe-train run`")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("{}")  # first, so --overwrite can replace a half-written bundle
    try:
        return _fill(runs, names, out, python, gpu, image, wheels_from, store, owner, slug, log)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave a bundle that looks complete
        raise


def _fill(runs, names, out, python, gpu, image, wheels_from, store, owner, slug, log) -> BundleReport:
    report, checked = BundleReport(out), []
    for run, name in zip(runs, names, strict=True):
        log(f"run {name}: copying and checking that it loads")
        copy_run(Path(run), out / "runs" / name)
        checked.append(check_run(out / "runs" / name, store))
        report.runs.append(name)
    _store_yaml(checked[0], out / "store.yaml")
    log(f"wheels for Python {python}, manylinux x86_64" + (f" from {wheels_from}" if wheels_from else " from PyPI"))
    report.wheels = collect(ROOT, out / "wheels", read_image(image or DEFAULT_IMAGE), python=python,
                            wheels_from=wheels_from)
    _write_metadata(out, report, python, gpu, owner, slug)
    return report


def _write_metadata(out: Path, report: BundleReport, python: str, gpu: bool, owner: str, slug: str) -> None:
    (out / MARKER).write_text(json.dumps({"runs": report.runs, "python": python, "competition": COMPETITION,
                                          "wheels": sorted(p.name for p in (out / "wheels").glob("*.whl"))}, indent=1))
    (out / "dataset-metadata.json").write_text(json.dumps(
        {"title": slug, "id": f"{owner}/{slug}", "licenses": [{"name": "CC0-1.0"}]}, indent=1))
    nb_dir = out / "notebook"
    nb_dir.mkdir()
    (nb_dir / "submit.ipynb").write_text(json.dumps(notebook(TIME_BUDGET_S), indent=1))
    (nb_dir / "kernel-metadata.json").write_text(json.dumps(kernel_metadata(owner, slug, COMPETITION, gpu), indent=1))
