"""`mabe-train kaggle bundle`: trained runs -> a folder to upload as a Kaggle Dataset, plus the notebook.

    DIR/                       flat: no sub-folder, so `kaggle datasets create -p DIR` uploads all of it
      mabe-bundle.json         the marker the notebook finds the bundle by; runs, Python, and `files`:
                               every file the notebook needs (its first cell checks they arrived)
      dataset-metadata.json    for `kaggle datasets create -p DIR` (not uploaded as a file)
      *.whl                    mabe-*.whl + every dependency the Kaggle image lacks (mabe_train.wheels)
      runs.tar                 runs/<name>/ for each run: what `load_run` needs, nothing else (below)
      store.yaml               the store build settings of the first run's store, so the notebook's
                               test-only store has the keypoint layout the runs were trained on
      submit.ipynb             three short cells (mabe_train.notebook), for `kaggle kernels push -p DIR`
      kernel-metadata.json     (the client never uploads it as a dataset file)

Why flat: the kaggle client (2.x) uploads only a folder's top-level files by default
(`--dir-mode skip` prints "Skipping folder" and goes on), so a bundle with folders loses its wheels
and runs on the documented command. The runs' own folders (GBDT models, an ensemble's members)
travel in one uncompressed tar instead. Kaggle's backend unpacks an uploaded archive into a folder
of the same stem (that is how `--dir-mode tar` restores folders), so on Kaggle the runs may arrive
as `runs.tar` or as `runs/`: `mabe-train kaggle submit` and the notebook accept both.

A run keeps every file but the training-only ones (`last.pt`, `epoch_NNN.pt`, metrics, summary,
eval/, stage-cache/, CSVs, PNGs), so a run kind with files of its own (GBDT models, an ensemble's
members) travels whole; a torch checkpoint loses its optimizer, scheduler, sampler and RNG states
(about 2/3 of best.pt for Adam). Each bundled copy is then loaded back with `load_run` against a
store and must give thresholds: a run that cannot be loaded is refused before anything is uploaded.
Loaded, each run is timed on a few of that store's videos and `bundle` prints its estimated model
time for the ~200-video hidden set (mabe_train.budget).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from mabe_store.log import Log, say
from mabe_store.reader import open_store
from mabe_train import MabeTrainError
from mabe_train.budget import measure
from mabe_train.config import load_config
from mabe_train.notebook import MARKER, NOTEBOOK, kernel_metadata, notebook
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
STORE_CONFIG = "store.yaml"
SKIP = (LAST_CHECKPOINT, "epoch_*.pt", METRICS_FILE, SUMMARY_FILE, EVAL_DIR, "stage-cache", "*.csv", "*.png", "*.tmp")
TRAINING_ONLY = ("optimizer", "scheduler", "sampler", "torch_rng", "cuda_rng", "scaler")
TIME_BUDGET_S = 8 * 3600  # of Kaggle's 9 h: the rest covers install, the store build and writing
RUNS_TAR = "runs.tar"
PLACEHOLDER_OWNER = "YOUR-KAGGLE-USERNAME"
KAGGLE_CPU_THREADS = 4  # a Kaggle CPU notebook's cores: what the runtime estimate is measured with


class BundleError(MabeTrainError):
    """A run cannot be bundled (not loadable, a name clash) or the folder cannot be written; one line."""


@dataclass
class BundleReport:
    out: Path
    runs: list[str] = field(default_factory=list)
    wheels: Wheelhouse | None = None
    run_mb: dict[str, float] = field(default_factory=dict)  # each run's share of runs.tar
    estimates: list[str] = field(default_factory=list)  # one line per run (and device)
    warnings: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, float]:
        """MB per part: each wheel, each run, the rest."""
        parts = {w.name: w.stat().st_size / 1e6 for w in sorted(self.out.glob("*.whl"))}
        parts.update({f"{RUNS_TAR}: {r}": mb for r, mb in self.run_mb.items()})
        total = sum(f.stat().st_size for f in self.out.iterdir() if f.is_file()) / 1e6
        parts["other (tar headers, metadata, notebook, store.yaml)"] = total - sum(parts.values())
        parts["total"] = total
        return parts

    def lines(self) -> list[str]:
        out = [f"bundle: {self.out} ({len(self.runs)} run(s): {', '.join(self.runs)})"]
        if self.wheels is not None:
            out.append(f"from the Kaggle image (not bundled): {', '.join(sorted(self.wheels.from_image)) or 'none'}")
            if self.wheels.upgraded:
                out.append(f"bundled although the image has them (its version is not allowed): {', '.join(self.wheels.upgraded)}")
        out += [f"  {mb:9.2f} MB  {name}" for name, mb in self.sizes().items()]
        out += [f"estimate: {e}" for e in self.estimates]
        out += [f"warning: {w}" for w in self.warnings]
        out.append(upload_command(self.out))
        return out


def upload_command(out: Path) -> str:
    """The upload instruction: the bundle is flat, so the client's defaults upload every file."""
    return f"upload: kaggle datasets create -p {out}   then: kaggle kernels push -p {out}"


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
                wheels_from: Path | None = None, store: Path | None = None, owner: str = PLACEHOLDER_OWNER,
                slug: str = "mabe-bundle", overwrite: bool = False, threads: int = KAGGLE_CPU_THREADS,
                log: Log = say) -> BundleReport:
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
        return _fill(runs, names, out, python, gpu, image, wheels_from, store, owner, slug, threads, log)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave a bundle that looks complete
        raise


def _fill(runs, names, out, python, gpu, image, wheels_from, store, owner, slug, threads, log) -> BundleReport:
    report, checked, staged = BundleReport(out), [], out / ".runs"
    for run, name in zip(runs, names, strict=True):
        log(f"run {name}: copying and checking that it loads")
        copy_run(Path(run), staged / name)
        checked.append(check_run(staged / name, store))
        report.runs.append(name)
        report.run_mb[name] = sum(f.stat().st_size for f in (staged / name).rglob("*") if f.is_file()) / 1e6
        report.estimates += estimate_run(staged / name, checked[-1], threads, log)
    _store_yaml(checked[0], out / STORE_CONFIG)
    pack_runs(staged, out / RUNS_TAR)
    shutil.rmtree(staged)
    log(f"wheels for Python {python}, manylinux x86_64" + (f" from {wheels_from}" if wheels_from else " from PyPI"))
    report.wheels = collect(ROOT, out, read_image(image or DEFAULT_IMAGE), python=python, wheels_from=wheels_from)
    if owner == PLACEHOLDER_OWNER:
        report.warnings.append(f"dataset-metadata.json and kernel-metadata.json name the owner {PLACEHOLDER_OWNER}: "
                               "pass --owner (or set KAGGLE_USERNAME) with your Kaggle user name before uploading")
    _write_metadata(out, report, python, gpu, owner, slug)
    return report


def pack_runs(staged: Path, tar_path: Path) -> None:
    """`staged/<name>/...` -> a tar of `<name>/...` entries (uncompressed: checkpoints barely
    compress, and the notebook unpacks it in seconds), as `--dir-mode tar` would pack a runs/ folder."""
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tf:
        for run in sorted(staged.iterdir()):
            tf.add(run, arcname=run.name)


def estimate_run(run_dir: Path, store: Path, threads: int, log) -> list[str]:
    """The run's model time for the hidden set, timed on the store's videos on the CPU with a
    Kaggle notebook's threads, and on the GPU when this machine has one; never fatal."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = []
    for device in devices:
        log(f"run {run_dir.name}: timing prediction on {device}")
        try:
            run = load_run(run_dir, data_dir=store, device=device, progress=False)
            lines.append(measure(run, run_dir.name, threads=threads).line())
        except Exception as e:  # noqa: BLE001 — an estimate is advice: the bundle stands without it
            lines.append(f"run {run_dir.name}: no {device} estimate ({type(e).__name__}: {e})")
    return lines


def needed_files(out: Path) -> list[str]:
    """Every file the notebook needs, as named in the bundle folder (what its first cell checks)."""
    return sorted([*(p.name for p in out.glob("*.whl")), RUNS_TAR, STORE_CONFIG])


def _write_metadata(out: Path, report: BundleReport, python: str, gpu: bool, owner: str, slug: str) -> None:
    (out / MARKER).write_text(json.dumps({"runs": report.runs, "python": python, "competition": COMPETITION,
                                          "wheels": sorted(p.name for p in out.glob("*.whl")),
                                          "files": needed_files(out)}, indent=1))
    (out / "dataset-metadata.json").write_text(json.dumps(
        {"title": slug, "id": f"{owner}/{slug}", "licenses": [{"name": "CC0-1.0"}]}, indent=1))
    (out / NOTEBOOK).write_text(json.dumps(notebook(TIME_BUDGET_S), indent=1))
    (out / "kernel-metadata.json").write_text(json.dumps(kernel_metadata(owner, slug, COMPETITION, gpu), indent=1))
