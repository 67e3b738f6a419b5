"""Every file name of a run directory, the one writer of run.json, and the one thresholds loader.

Why one home: the run kinds (torch sequence, GBDT, cv, ensemble, a bundled copy) each wrote and
read these files themselves, so a name or a safety rule changed in one place and not the others.
Everything that touches a run's files by name imports it from here.

    <run>/
      run.json          the marker: kind, task, the store's keypoint layout (`write_marker`)
      config.yaml       the resolved config
      split.json        the train/val videos
      metrics.jsonl     one line per finished epoch (torch)
      last.pt best.pt   checkpoints (torch)
      thresholds.json   per-(lab, action) thresholds {epoch, score, thresholds rows[, bout_s]}
      summary.json      written when training ends
      cv/folds.json     {video: fold} of a cv run; cv/fold_<k>/ each fold, its oof/<video>.npz, done.json
      eval/             `mabe-train evaluate`'s report
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np

from mabe_train import MabeTrainError
from mabe_train.decode import TunedThresholds, VideoProbs, thresholds_artefact, thresholds_from_artefact

MARKER = "run.json"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.json"
SUMMARY_FILE = "summary.json"
THRESHOLDS_FILE = "thresholds.json"
METRICS_FILE = "metrics.jsonl"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
EVAL_DIR = "eval"
CV_DIR = "cv"
FOLDS_FILE = "folds.json"
DONE_FILE = "done.json"
OOF_DIR = "oof"
MEMBERS_DIR = "members"


class RunError(MabeTrainError, ValueError):
    """Not a run directory, a missing checkpoint or file, or a run that cannot do what was asked."""


# -- writing ---------------------------------------------------------------------------------------
def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name and rename, so a kill leaves the previous version whole."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def fresh_dir(path: Path, overwrite: bool, root: Path | None = None, error: type = RunError,
              resumable: bool = False) -> Path:
    """An empty folder at `path`. An existing non-empty one is replaced only with `overwrite` and only
    when it is a run (it holds run.json) and, given `root`, lies directly in it; RunError otherwise.
    The one `--overwrite` rule of every run kind."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            resume = f"continue it with `--resume {path}`, " if resumable else ""
            raise error(f"{path} exists — {resume}replace it with `--overwrite`, or pick another name")
        if not (path / MARKER).exists() or (root is not None and path.resolve().parent != Path(root).resolve()):
            raise error(f"{path} is not a run folder of this project (no {MARKER}) — refusing to delete it; "
                           "pick another name")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_marker(run_dir: Path) -> dict:
    """run.json's content ({} for a folder without one: an old torch run)."""
    path = Path(run_dir) / MARKER
    return json.loads(path.read_text()) if path.exists() else {}


def write_marker(run_dir: Path, kind: str, fields: dict) -> None:
    """The one writer of run.json: `kind` (a name in mabe_train.runs.registry) plus the kind's fields
    (task, keypoint layout, store, members, ...); `created` is added when absent."""
    content = {**fields, "kind": kind}
    content.setdefault("created", datetime.now().isoformat(timespec="seconds"))
    write_atomic(Path(run_dir) / MARKER, json.dumps(content, indent=1))


def write_json(run_dir: Path, name: str, content: dict) -> None:
    write_atomic(Path(run_dir) / name, json.dumps(content, indent=1))


# -- thresholds ------------------------------------------------------------------------------------
def thresholds_content(thresholds, score: float, epoch: int = 1) -> dict:
    """thresholds.json's content: {epoch, score, thresholds rows[, bout_s]}."""
    return {"epoch": epoch, **thresholds_artefact(thresholds, score)}


def save_thresholds(run_dir: Path, thresholds, score: float, epoch: int = 1) -> None:
    write_json(run_dir, THRESHOLDS_FILE, thresholds_content(thresholds, score, epoch))


def read_thresholds_file(folder: Path) -> dict | None:
    """thresholds.json's content in `folder`, None without one."""
    path = Path(folder) / THRESHOLDS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def load_thresholds(artefacts: dict, run_dir: Path) -> TunedThresholds:
    """The one thresholds loader of every kind: the run's thresholds.json content (as a checkpoint
    or the folder carries it) -> TunedThresholds (with its per-action bouts); RunError without one."""
    content = artefacts.get(THRESHOLDS_FILE)
    if content is None:
        raise RunError(f"{run_dir} carries no {THRESHOLDS_FILE} — thresholds are tuned when a `task: pairs` "
                       "run validates or a GBDT/cv run finishes; train it (again, with --overwrite if it "
                       "was killed)")
    return thresholds_from_artefact(content)


# -- out-of-fold probabilities -------------------------------------------------------------------
def fold_dir(run_dir: Path, fold: int) -> Path:
    return Path(run_dir) / CV_DIR / f"fold_{fold}"


def save_oof(folder: Path, videos: list[VideoProbs]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for vp in videos:
        np.savez_compressed(folder / f"{vp.video_id}.npz", probs=vp.probs.astype(np.float16),
                            labeled=vp.labeled, pairs=np.asarray(vp.pairs, dtype=np.int64),
                            lab_id=np.asarray(vp.lab_id), fps=np.asarray(vp.fps or 0.0))


def load_oof(run_dir: str | Path) -> list[VideoProbs]:
    """Every OOF VideoProbs of a cv run (empty when the run has none)."""
    out = []
    for path in sorted(Path(run_dir).glob(f"{CV_DIR}/fold_*/{OOF_DIR}/*.npz")):
        z = np.load(path)
        fps = float(z["fps"]) if "fps" in z else 0.0
        out.append(VideoProbs(int(path.stem), str(z["lab_id"]), [tuple(map(int, p)) for p in z["pairs"]],
                              z["probs"].astype(np.float32), z["labeled"], fps or None))
    return out
