"""The registry of run kinds, the one `load_run` and the one training entry point `train_run`.

A kind is named in run.json (`kind`) and chosen for a new run by its config (`config_kind`); every
decision that differs per kind — how to load it, how to train it, whether it can resume or train on
a remote GPU — is a field of its `Kind` here, never a string comparison elsewhere. Kinds are named
by dotted path ("module:function") and imported when first used, so this module imports none of
them and any kind module may load other runs through `load_run` (an ensemble loads its members)
without an import cycle. A new kind is one more entry in KINDS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from mabe_store.log import Log, say
from mabe_train.runs.files import CONFIG_FILE, RunError, read_marker


@dataclass(frozen=True)
class Kind:
    """One run kind: `loader(run_dir, checkpoint, opts) -> Run`; `trainer(cfg, resume, overwrite, log)
    -> run_dir` (None: made otherwise, e.g. `mabe-train ensemble`); `resumable`: `--resume` continues
    a killed run; `remote`: Modal can train it (its dependencies are in the image and it trains on a GPU);
    `members`: its run.json lists member runs (a bundle copies them along); `folds`: its cv steps."""

    name: str
    loader: str
    trainer: str | None
    resumable: bool
    remote: bool
    why_not_remote: str = ""
    members: bool = False
    folds: str | None = None  # its `mabe-train cv` steps (mabe_train.cv.kinds), None: no cv of this kind

    def fold_steps(self):
        """The kind's cv steps (fit a fold, predict it, write the final model); RunError without any."""
        if self.folds is None:
            raise RunError(f"a {self.name} run has no cross-validation")
        return _resolve(self.folds)()

    def load(self, run_dir: Path, checkpoint: str, opts: LoadOptions):
        return _resolve(self.loader)(run_dir, checkpoint, opts)

    def train(self, cfg, *, resume: Path | None = None, overwrite: bool = False, hooks=None, log: Log = say) -> Path:
        """Train (or resume) `cfg`; `hooks` (mabe_train.train.Hooks) let a launcher stop it cleanly."""
        if self.trainer is None:
            raise RunError(f"a {self.name} run is not trained from a config")
        if resume is not None and not self.resumable:
            raise RunError(f"a {self.name} run trains in one pass: nothing to --resume "
                           "(`mabe-train cv` resumes its folds)")
        return _resolve(self.trainer)(cfg, resume=resume, overwrite=overwrite, hooks=hooks, log=log)

    def require_remote(self) -> None:
        """RunError (one line) when this kind cannot train remotely."""
        if not self.remote:
            raise RunError(f"a {self.name} run trains locally: {self.why_not_remote} — drop --remote")


@dataclass(frozen=True)
class LoadOptions:
    device: str | None = None
    data_dir: str | Path | None = None
    progress: bool = True
    storage_options: dict | None = None


TORCH, GBDT, ENSEMBLE = "torch", "gbdt", "ensemble"
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind(TORCH, "mabe_train.run:load_torch_run", "mabe_train.train:train_kind", resumable=True, remote=True,
         folds="mabe_train.cv.kinds:SequenceFolds"),
    Kind(GBDT, "mabe_train.gbdt.loaded:load_gbdt_run", "mabe_train.gbdt.train:train_kind", resumable=False,
         remote=False, why_not_remote="LightGBM trains on CPU and is not in the Modal image, so a GBDT cv runs "
                                      "locally too", folds="mabe_train.cv.kinds:GbdtFolds"),
    Kind(ENSEMBLE, "mabe_train.ensemble:load_ensemble", None, resumable=False, remote=False,
         why_not_remote="it blends runs that are already trained", members=True),
)}


def _resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def config_kind(cfg) -> Kind:
    """The kind a config trains: `model.name: gbdt` is a GBDT run, every other model a torch one."""
    return KINDS[GBDT if cfg.model.name == GBDT else TORCH]


def run_kind(run_dir: Path) -> Kind:
    """The kind run.json names (torch for a run written before kinds were recorded)."""
    name = read_marker(run_dir).get("kind", TORCH)
    if name not in KINDS:
        raise RunError(f"{run_dir}: unknown run kind {name!r} in run.json — known: {', '.join(KINDS)}")
    return KINDS[name]


def require_run(run_dir: str | Path) -> Path:
    """`run_dir` as a Path when it holds a run; RunError naming what to pass otherwise."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise RunError(f"{run_dir} is not a run directory (no {CONFIG_FILE}) — pass the directory "
                       "printed by `mabe-train run`")
    return run_dir


def load_run(run_dir: str | Path, checkpoint: str = "best", *, device: str | None = None,
             data_dir: str | Path | None = None, progress: bool = True, storage_options: dict | None = None):
    """A trained run of any kind, ready to predict (mabe_train.runs.protocol.Run); `data_dir` reads
    another store than the run's, `storage_options` are added to the run's own."""
    run_dir = require_run(run_dir)
    return run_kind(run_dir).load(run_dir, checkpoint, LoadOptions(device, data_dir, progress, storage_options))


def train_run(cfg, *, resume: Path | None = None, overwrite: bool = False, hooks=None, log: Log = say) -> Path:
    """The one training entry point (the CLI, tests and the Modal function call it): train (or resume)
    `cfg` with its kind's trainer; returns the run directory."""
    kind = run_kind(Path(resume)) if resume is not None else config_kind(cfg)
    return kind.train(cfg, resume=resume, overwrite=overwrite, hooks=hooks, log=log)
