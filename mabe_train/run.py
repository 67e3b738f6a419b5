"""The run directory: every file a run writes, and the one way to load a trained run back.

    runs/<name>/
      run.json         the marker: task, the store's keypoint layout, the store it was made from.
                       `--overwrite` deletes only a folder that has it and lies in checkpoint_dir.
      config.yaml      the resolved config (what --resume and load_run read)
      split.json       the train/val videos (mabe_train.split)
      metrics.jsonl    one line per finished epoch (rewritten atomically on resume)
      last.pt          everything to continue: weights, optimizer, scheduler, sampler and RNG states,
                       counters, and the artefacts of its epoch's validation (e.g. thresholds)
      best.pt          a copy of last.pt at the best monitored epoch; epoch_NNN.pt every save_freq
      <artefact>.json  each artefact of best.pt's validation, written beside it (thresholds.json)
      summary.json     written when training ends
      eval/            `mabe-train evaluate`'s report and figures

Checkpoints hold only tensors and plain types (`torch.load(weights_only=True)`); every file is
written to a temporary name and renamed, so a kill leaves the previous version whole.
`load_run(run_dir, checkpoint)` is what evaluate, predict and bundles use: config, split, store,
task, model with weights, and the checkpoint's artefacts, checked against the store's layout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import yaml

from mabe_store.reader import Store, open_store
from mabe_train import MabeTrainError
from mabe_train.config import Config, load_config
from mabe_train.layout import Layout
from mabe_train.split import load_split

MARKER = "run.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RunError(MabeTrainError, ValueError):
    """Not a run directory, a missing checkpoint, or a run name that is not a plain folder name."""


# -- files --------------------------------------------------------------------------------------
def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def require_run(run_dir: str | Path) -> Path:
    """`run_dir` as a Path when it holds a run; RunError naming what to pass otherwise."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise RunError(f"{run_dir} is not a run directory (no config.yaml) — pass the directory "
                       "printed by `mabe-train run`")
    return run_dir


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """`best`, `last`, `epoch_005` or a file name -> its path; RunError listing the run's checkpoints."""
    path = run_dir / (name if name.endswith(".pt") else f"{name}.pt")
    if not path.exists():
        have = sorted(p.stem for p in run_dir.glob("*.pt"))
        raise RunError(f"no checkpoint {path} — this run has: {', '.join(have) or 'none yet'} "
                       "(pass one of those with --checkpoint, or train the run further)")
    return path


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def save_checkpoint(path: Path, ck: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ck, tmp)
    os.replace(tmp, path)


def save_artefacts(run_dir: Path, artefacts: dict, epoch: int) -> None:
    """Each artefact of a validation as `<name>` (JSON) beside best.pt, stamped with its epoch."""
    for name, content in artefacts.items():
        write_atomic(run_dir / name, json.dumps({"epoch": epoch, **content}, indent=1))


# -- history --------------------------------------------------------------------------------------
def read_history(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln] if path.exists() else []


def append_history(run_dir: Path, line: dict) -> None:
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")


def trim_history(run_dir: Path, epochs: int) -> None:
    """Drop lines of epochs after the checkpoint (written just before a kill); atomic."""
    kept = [ln for ln in read_history(run_dir) if ln["epoch"] <= epochs]
    if (run_dir / "metrics.jsonl").exists():
        write_atomic(run_dir / "metrics.jsonl", "".join(json.dumps(ln) + "\n" for ln in kept))


# -- making one -----------------------------------------------------------------------------------
def run_name(cfg: Config) -> str:
    """The run's folder name: train.run_name, or <config name>-<time>; RunError unless a plain name."""
    name = cfg.train.run_name or f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if not _NAME.match(name) or name in (".", ".."):
        raise RunError(f"train.run_name {name!r} is not a plain folder name — use letters, digits, "
                       "'.', '_' and '-' (no path separators)")
    return name


def make_run_dir(cfg: Config, overwrite: bool = False) -> Path:
    """A new, empty runs/<name>; with `overwrite` an existing *run* folder of that name is replaced."""
    root = Path(cfg.train.checkpoint_dir)
    run_dir = root / run_name(cfg)
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunError(f"run directory {run_dir} exists — continue it with `--resume {run_dir}`, "
                           "replace it with `--overwrite`, or pick another train.run_name")
        if not (run_dir / MARKER).exists() or run_dir.resolve().parent != root.resolve():
            raise RunError(f"{run_dir} is not a run folder of this project (no {MARKER}) — refusing to "
                           "delete it; pick another train.run_name or train.checkpoint_dir")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def write_marker(run_dir: Path, cfg: Config, store: Store) -> None:
    write_atomic(run_dir / MARKER, json.dumps({
        "task": cfg.task, "store": str(store.path), "store_generation": store.generation,
        **Layout.of(store).to_dict(),
        "created": datetime.now().isoformat(timespec="seconds")}, indent=1))


def save_config(cfg: Config, run_dir: Path) -> None:
    write_atomic(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def run_kind(run_dir: Path) -> str:
    """run.json's `kind`: torch (sequence models, the default), gbdt or ensemble."""
    path = run_dir / MARKER
    return json.loads(path.read_text()).get("kind", "torch") if path.exists() else "torch"


def check_store_generation(run_dir: Path, store: Store) -> None:
    """RunError when the store was rebuilt since the run started: its rows may have moved."""
    path = run_dir / MARKER
    trained = json.loads(path.read_text()).get("store_generation") if path.exists() else None
    if trained and store.generation and trained != store.generation:
        raise RunError(f"{store.path} was rebuilt since {run_dir} started (generation {trained[:8]} -> "
                       f"{store.generation[:8]}) — start a new run on it instead of resuming this one")


def run_layout(run_dir: Path) -> Layout | None:
    """The keypoint layout the run was trained on (None for a folder without run.json)."""
    path = run_dir / MARKER
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    return Layout(tuple(d["keypoints"]), int(d["n_mice"]))


# -- device and threads ---------------------------------------------------------------------------
def pick_device(name: str = "auto") -> torch.device:
    """`auto` -> cuda > mps > cpu; a named device must exist here (RunError, one line, otherwise)."""
    mps = getattr(torch.backends, "mps", None)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps and mps.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise RunError(f"unknown device {name!r} — use auto, cpu, cuda, cuda:N or mps") from None
    if (dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count()) or (
            dev.type == "mps" and not (mps and mps.is_available())):
        raise RunError(f"device {name!r}: torch sees no such device here — use auto or cpu")
    return dev


def set_threads(n: int) -> None:
    """torch's CPU threads (0 leaves torch's default: every core). On a machine shared with other
    jobs, 2 threads made identical epochs take 6 s to 770 s; 1 keeps them steady."""
    if n > 0:
        torch.set_num_threads(n)


# -- loading one ----------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    """A trained run. `predict_probs` and `thresholds` are what every consumer of Kaggle-style
    predictions (predict, submit, bundles, ensembles) needs, whatever produced them."""

    run_dir: Path
    cfg: Config
    split: dict
    store: Store
    task: object  # mabe_train.task.Task
    model: torch.nn.Module  # in eval mode, on `device`
    device: torch.device
    epoch: int  # epochs the checkpoint had completed
    artefacts: dict  # the checkpoint's validation artefacts ({} when it has none)

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list:
        """`decode.VideoProbs` of every given video of `self.store` that labels a triple; a video
        that labels none is predicted for `default_actions` (all its mice's pairs) when given."""
        if self.cfg.task != "pairs":
            raise RunError(f"{self.run_dir} is a `task: {self.cfg.task}` run: it predicts behaviour groups, "
                           "not the competition's actions — use a pairs run (configs/pairs.yaml)")
        from mabe_train.pairs.scoring import collect_probs
        d = self.cfg.data
        return collect_probs(self.model, self.store, video_ids, window=d.sequence_length, stride=d.val_stride,
                             device=self.device, progress=progress, layout=self.task.layout,
                             default_actions=default_actions, options=self.cfg.pairs)

    @property
    def thresholds(self) -> dict[tuple[str, str], float]:
        """Per-(lab, action) decoding thresholds tuned on the run's validation (the checkpoint's)."""
        from mabe_train.pairs.scoring import thresholds_of
        return thresholds_of(self.artefacts, self.run_dir)


def load_run(run_dir: str | Path, checkpoint: str = "best", *, device: str | None = None,
             data_dir: str | Path | None = None, progress: bool = True,
             storage_options: dict | None = None) -> LoadedRun:
    """A trained run ready to validate or predict; `data_dir` reads another store than the run's,
    `storage_options` are added to the run's own (which hold no credentials: Config.to_dict)."""
    from mabe_train.models import build_model
    from mabe_train.task import build_task

    run_dir = require_run(run_dir)
    kind = run_kind(run_dir)
    if kind == "ensemble":  # members are runs: mabe_train.ensemble loads each with load_run
        from mabe_train.ensemble import load_ensemble
        return load_ensemble(run_dir, data_dir=data_dir, device=device, progress=progress)
    cfg = load_config(run_dir / "config.yaml")
    if data_dir and str(data_dir) != cfg.data.data_dir:  # the run's storage options were its store's
        cfg = load_config(run_dir / "config.yaml", [f"data.data_dir={data_dir}", "data.storage_options={}"])
    cfg.data.storage_options = {**cfg.data.storage_options, **(storage_options or {})}
    ck = load_checkpoint(checkpoint_path(run_dir, checkpoint)) if kind == "torch" else None
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    trained = run_layout(run_dir)
    if trained is not None:
        Layout.of(store).check_same(trained, f"run {run_dir}")
    if kind == "gbdt":
        from mabe_train.gbdt.loaded import load_gbdt_run
        return load_gbdt_run(run_dir, cfg, store, checkpoint)
    set_threads(cfg.train.threads)
    dev = pick_device(device or cfg.train.device)
    task = build_task(cfg, store, load_split(run_dir / "split.json"), run_dir=run_dir, progress=progress)
    model = build_model(cfg.model, task.input_dim, task.n_outputs)
    model.load_state_dict(ck["model"])
    return LoadedRun(run_dir, cfg, task.split, store, task, model.to(dev).eval(), dev,
                     int(ck["state"]["epoch"]), dict(ck.get("artefacts") or {}))
