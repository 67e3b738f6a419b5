"""The torch run kind: its run directory, checkpoints, history, and `LoadedRun` (the `Run` protocol).

    runs/<name>/       (file names: mabe_train.runs.files)
      run.json         the marker: kind, task, the store's keypoint layout, the store it was made from.
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
`mabe_train.runs.registry.load_run(run_dir, checkpoint)` loads a run of any
kind; for this kind `load_torch_run` gives config, split, store, task, model with weights, and the
checkpoint's artefacts, checked against the store's layout.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import yaml

from mabe_store.reader import Store, open_store
from mabe_train.config import Config, load_config
from mabe_train.layout import Layout
from mabe_train.models import build_model
from mabe_train.pairs.scoring import collect_probs
from mabe_train.runs.files import (
    CONFIG_FILE,
    MARKER,
    METRICS_FILE,
    SPLIT_FILE,
    RunError,
    copy_atomic,
    fresh_dir,
    read_marker,
    run_vocabulary,
    write_atomic,
    write_marker,
)
from mabe_train.runs.protocol import HELD_OUT_VAL, HeldOut, StoredDecoding
from mabe_train.runs.registry import TORCH, LoadOptions
from mabe_train.split import load_split
from mabe_train.task import build_task
from mabe_train.vocab import adopt_run_vocabulary, vocabulary_of, vocabulary_record

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
__all__ = ["MARKER", "LoadedRun", "RunError", "copy_atomic", "write_atomic"]


# -- files --------------------------------------------------------------------------------------
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
    path = Path(run_dir) / METRICS_FILE
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln] if path.exists() else []


def append_history(run_dir: Path, line: dict) -> None:
    with open(run_dir / METRICS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


def trim_history(run_dir: Path, epochs: int) -> None:
    """Drop lines of epochs after the checkpoint (written just before a kill); atomic."""
    kept = [ln for ln in read_history(run_dir) if ln["epoch"] <= epochs]
    if (run_dir / METRICS_FILE).exists():
        write_atomic(run_dir / METRICS_FILE, "".join(json.dumps(ln) + "\n" for ln in kept))


# -- making one -----------------------------------------------------------------------------------
def run_name(cfg: Config) -> str:
    """The run's folder name: train.run_name, or <config name>-<time>; RunError unless a plain name."""
    name = cfg.train.run_name or f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if not _NAME.match(name) or name in (".", ".."):
        raise RunError(f"train.run_name {name!r} is not a plain folder name — use letters, digits, "
                       "'.', '_' and '-' (no path separators)")
    return name


def make_run_dir(cfg: Config, overwrite: bool = False) -> Path:
    """A new, empty runs/<name>; with `overwrite` an existing *run* folder of that name is replaced
    (mabe_train.runs.files.fresh_dir: the one --overwrite rule)."""
    root = Path(cfg.train.checkpoint_dir)
    return fresh_dir(root / run_name(cfg), overwrite, root, resumable=True)


def marker_fields(cfg: Config, store: Store) -> dict:
    """run.json's fields of a run trained on `store`: task, store, its generation, keypoint layout and
    action vocabulary (predicting on a store of other behaviours is refused: `open_run_store`)."""
    return {"task": cfg.task, "store": str(store.path), "store_generation": store.generation,
            **Layout.of(store).to_dict(), "vocabulary": vocabulary_record(vocabulary_of(store))}


def mark_run(run_dir: Path, cfg: Config, store: Store, kind: str = TORCH, **extra) -> None:
    """run.json of a run trained on `store` (written by mabe_train.runs.files.write_marker)."""
    write_marker(run_dir, kind, {**marker_fields(cfg, store), **extra})


def save_config(cfg: Config, run_dir: Path) -> None:
    write_atomic(run_dir / CONFIG_FILE, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def check_store_generation(run_dir: Path, store: Store) -> None:
    """RunError when the store was rebuilt since the run started: its rows may have moved."""
    trained = read_marker(run_dir).get("store_generation")
    if trained and store.generation and trained != store.generation:
        raise RunError(f"{store.path} was rebuilt since {run_dir} started (generation {trained[:8]} -> "
                       f"{store.generation[:8]}) — start a new run on it instead of resuming this one")


def run_layout(run_dir: Path) -> Layout | None:
    """The keypoint layout the run was trained on (None for a folder without run.json)."""
    d = read_marker(run_dir)
    if "keypoints" not in d:
        return None
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
class LoadedRun(StoredDecoding):
    """A trained torch run (kind `torch`): the checkpoint's model behind the `Run` protocol
    (mabe_train.runs.protocol), so predict, submit, bundles and ensembles need not know its kind."""

    run_dir: Path
    cfg: Config
    split: dict
    store: Store
    task: object  # mabe_train.task.Task
    model: torch.nn.Module  # in eval mode, on `device`
    device: torch.device
    epoch: int  # epochs the checkpoint had completed
    artefacts: dict  # the checkpoint's validation artefacts ({} when it has none)
    checkpoint: str = "best"
    kind: str = TORCH

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list:
        """`decode.VideoProbs` of every given video of `self.store` that labels a triple; a video
        that labels none is predicted for `default_actions` (all its mice's pairs) when given."""
        if self.cfg.task != "pairs":
            raise RunError(f"{self.run_dir} is a `task: {self.cfg.task}` run: it predicts behaviour groups, "
                           "not the competition's actions — use a pairs run (configs/pairs.yaml)")
        d = self.cfg.data
        return collect_probs(self.model, self.store, video_ids, window=d.sequence_length, stride=d.val_stride,
                             device=self.device, progress=progress, layout=self.task.layout,
                             default_actions=default_actions, options=self.cfg.pairs)

    @property
    def checkpoint_label(self) -> str:
        return f"{self.checkpoint}, epoch {self.epoch}"

    def held_out(self) -> HeldOut:
        """Its validation videos: never trained on (its best epoch and thresholds were picked on them)."""
        return HeldOut(self.predict_probs([int(v) for v in self.split["val"]]), HELD_OUT_VAL)


def load_config_for(run_dir: Path, opts: LoadOptions) -> Config:
    """The run's config with `opts.data_dir` (another store: the run's storage options were its
    store's) and `opts.storage_options` added; the path is set as it is, never parsed."""
    cfg = load_config(run_dir / CONFIG_FILE)
    if opts.data_dir and str(opts.data_dir) != cfg.data.data_dir:
        cfg.data.data_dir, cfg.data.storage_options = str(opts.data_dir), {}
    cfg.data.storage_options = {**cfg.data.storage_options, **(opts.storage_options or {})}
    return cfg


def open_run_store(run_dir: Path, cfg: Config) -> Store:
    """The config's store, checked against the keypoint layout and behaviours the run was trained on."""
    store = open_store(cfg.data.data_dir, cfg.data.storage_options)
    trained = run_layout(run_dir)
    if trained is not None:
        Layout.of(store).check_same(trained, f"run {run_dir}")
    adopt_run_vocabulary(run_vocabulary(run_dir), store)  # an unlabeled store predicts the run's behaviours
    return store


def load_torch_run(run_dir: Path, checkpoint: str, opts: LoadOptions) -> LoadedRun:
    """The registry's loader of kind `torch` (use `load_run`)."""
    cfg = load_config_for(run_dir, opts)
    ck = load_checkpoint(checkpoint_path(run_dir, checkpoint))
    store = open_run_store(run_dir, cfg)
    set_threads(cfg.train.threads)
    dev = pick_device(opts.device or cfg.train.device)
    task = build_task(cfg, store, load_split(run_dir / SPLIT_FILE), run_dir=run_dir, progress=opts.progress)
    model = build_model(cfg.model, task.input_dim, task.n_outputs)
    model.load_state_dict(ck["model"])
    return LoadedRun(run_dir, cfg, task.split, store, task, model.to(dev).eval(), dev,
                     int(ck["state"]["epoch"]), dict(ck.get("artefacts") or {}), checkpoint)
