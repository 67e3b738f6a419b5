"""Run the same `train(cfg)` on a Modal cloud GPU; the store and the runs live on a Modal Volume.

Layout of the Volume `mabe-data` (mounted at /vol in the container):
    /stores/<name>/   a store uploaded by `mabe-train modal upload --store data/store.zarr`
    /runs/<run_name>/ run directories written by remote runs (`mabe-train modal fetch RUN_NAME`)

The remote function copies its store from the Volume to the container's local disk before
training (Volume reads are network reads; the sampler wants one sequential pass) and writes the run
directory straight to the Volume. Preemption-safe: remotely, last.pt is refreshed every
REMOTE_CKPT_STEPS steps (unless the config sets train.ckpt_every_steps) and the Volume is committed
after every checkpoint; SIGTERM (Modal's notice before a preemption) makes the trainer write last.pt
at the next step and stop; the function has `modal.Retries`, and a call whose run folder already
holds a last.pt resumes it — so a preempted or retried input continues where it stopped and ends
with the weights an uninterrupted run reaches. `--gpu H100,A100-80GB,L40S` is a fallback list.
Detached runs are recorded in runs/.modal/<run>.json, for `mabe-train modal status`, `logs` and
`cancel`. `mabe-train cv --remote modal` (`launch_cv`) plans the folds in one CPU call, runs
every unfinished fold as one GPU call (`cv_fold_remote.starmap`, in parallel; each preemption-safe
as above, a retried fold resumes its last.pt) and tunes the thresholds on the Volume's OOF files in
a last CPU call (mabe_train.cv's three steps). The image pins every dependency to the version
installed here (torch without its local `+cpu` tag, so the CUDA wheel is used remotely).

Trade-off: importing this module builds only the app's description (no network); anything that
talks to Modal first checks for credentials, and a request that gets no answer in MODAL_TIMEOUT_S
fails with one line instead of hanging.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from mabe_store.errors import require
from mabe_train import MabeTrainError
from mabe_train.config import load_config_dict
from mabe_train.cv import finish_cv, fold_dir, plan_cv, run_fold
from mabe_train.runs.files import DONE_FILE, LAST_CHECKPOINT, SUMMARY_FILE
from mabe_train.runs.registry import config_kind
from mabe_train.train import Hooks

modal = require("modal", extra="modal", feature="running on Modal")

APP_NAME = "mabe-train"
VOLUME_NAME = "mabe-data"
VOLUME_ROOT = "/vol"
PINNED_DISTS = ("torch", "numpy", "zarr", "polars", "pyarrow", "pyyaml", "tqdm", "typer", "matplotlib")
HOURS = 3600
REMOTE_CKPT_STEPS = 200  # last.pt refresh remotely when the config sets no train.ckpt_every_steps
MODAL_TIMEOUT_S = 120  # a Modal request without an answer by then is a one-line error
RETRIES = modal.Retries(max_retries=3, initial_delay=10.0, backoff_coefficient=2.0)


class ModalError(MabeTrainError):
    """No Modal credentials, or a remote request that cannot be carried out."""


def pinned_requirements() -> list[str]:
    """`dist==version` of the dependencies the remote trainer imports, as installed locally."""
    return [f"{d}=={version(d).split('+')[0]}" for d in PINNED_DISTS]


image = (modal.Image.debian_slim(python_version="3.11")
         .pip_install(*pinned_requirements())
         .add_local_python_source("mabe_store", "mabe_train"))
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)
app = modal.App(APP_NAME, image=image)


def remote_config(cfg_dict: dict, volume_root: str, local_dir: str | None):
    """The config as a container runs it: runs on the Volume, the store copied from the Volume to
    `local_dir` (None: read in place, for steps that only read annotations), frequent last.pt."""
    cfg = load_config_dict(cfg_dict)
    root = Path(volume_root)
    store_name = Path(cfg.data.data_dir).name
    src = root / "stores" / store_name
    if not src.exists():
        raise ModalError(f"no store {store_name!r} on the Volume — run `mabe-train modal upload "
                         f"--store {cfg.data.data_dir}` first")
    cfg.data.data_dir = str(src)
    if local_dir is not None:
        local_store = Path(local_dir) / store_name
        if not (local_store / "zarr.json").exists():
            shutil.copytree(src, local_store, dirs_exist_ok=True)
        cfg.data.data_dir = str(local_store)
    cfg.train.checkpoint_dir = str(root / "runs")
    cfg.train.ckpt_every_steps = cfg.train.ckpt_every_steps or REMOTE_CKPT_STEPS
    return cfg


def run_remote(cfg_dict: dict, resume: bool, volume_root: str, local_dir: str,
               commit: Callable[[], None], should_stop: Callable[[], bool]) -> str:
    """The body of `train_remote`, with the Volume commit and the stop signal passed in (tests fake them)."""
    cfg = remote_config(cfg_dict, volume_root, local_dir)
    run_dir = Path(volume_root) / "runs" / cfg.train.run_name
    resume = resume or (run_dir / LAST_CHECKPOINT).exists()  # a retried or preempted input continues its run
    hooks = Hooks(should_stop=should_stop, on_checkpoint=lambda _path: commit())
    config_kind(cfg).train(cfg, resume=run_dir if resume else None, overwrite=not resume, hooks=hooks)
    commit()
    if should_stop():
        raise ModalError(f"{cfg.train.run_name} stopped by SIGTERM with its last.pt saved — the retry resumes it")
    return cfg.train.run_name


@app.function(volumes={VOLUME_ROOT: volume}, gpu="A10G", timeout=24 * HOURS, retries=RETRIES)
def train_remote(cfg_dict: dict, resume: bool = False, volume_root: str = VOLUME_ROOT,
                 local_dir: str = "/tmp/mabe") -> str:
    """Stage the Volume's store to local disk, train (resuming a run the Volume already holds), leave
    the run on the Volume; returns its name. SIGTERM checkpoints and stops (see the module docstring)."""
    return on_sigterm(lambda stop: run_remote(cfg_dict, resume, volume_root, local_dir, commit=_commit,
                                              should_stop=stop))


def _commit() -> None:
    if not modal.is_local():
        volume.commit()


def _reload() -> None:
    if not modal.is_local():
        volume.reload()


def on_sigterm(body: Callable[[Callable[[], bool]], object]):
    """body(should_stop), where should_stop turns True once SIGTERM arrives; the handler is restored after."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return body(stop.is_set)
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- cross-validation: one remote call per fold --------------------------------------------------------
def cv_plan(cfg_dict: dict, k: int, labs: list[str] | None, overwrite: bool, volume_root: str,
            commit: Callable[[], None]) -> list[int]:
    """Plan (or continue) the cv run on the Volume; the folds still to do."""
    cfg = remote_config(cfg_dict, volume_root, None)
    run_dir = plan_cv(cfg, k, labs=labs, overwrite=overwrite)
    commit()
    return [f for f in range(k) if not (fold_dir(run_dir, f) / DONE_FILE).exists()]


def cv_fold(cfg_dict: dict, fold: int, volume_root: str, local_dir: str, commit: Callable[[], None],
            should_stop: Callable[[], bool]) -> int:
    """One fold, preemption-safe as `run_remote`: last.pt committed at every checkpoint, a SIGTERM
    saves it and raises (Modal's retry resumes the fold), a fold with done.json returns at once."""
    cfg = remote_config(cfg_dict, volume_root, local_dir)
    cfg.data.cache_dir = cfg.data.cache_dir or str(Path(local_dir) / "cache" / f"fold_{fold}")  # not the Volume
    run_dir = Path(cfg.train.checkpoint_dir) / cfg.train.run_name
    hooks = Hooks(should_stop=should_stop, on_checkpoint=lambda _path: commit())
    done = run_fold(cfg, run_dir, fold, hooks=hooks)
    commit()
    if not done:
        raise ModalError(f"fold {fold} of {cfg.train.run_name} stopped by SIGTERM with its last.pt saved — "
                         "the retry resumes it")
    return fold


def cv_finish(cfg_dict: dict, volume_root: str, commit: Callable[[], None]) -> float:
    """Thresholds on every fold's OOF probabilities (on the Volume); returns the OOF score."""
    cfg = remote_config(cfg_dict, volume_root, None)
    run_dir = finish_cv(cfg, Path(cfg.train.checkpoint_dir) / cfg.train.run_name)
    commit()
    return json.loads((run_dir / SUMMARY_FILE).read_text())["oof_score"]


@app.function(volumes={VOLUME_ROOT: volume}, timeout=2 * HOURS, retries=RETRIES)
def cv_plan_remote(cfg_dict: dict, k: int, labs: list[str] | None = None, overwrite: bool = False,
                   volume_root: str = VOLUME_ROOT) -> list[int]:
    return cv_plan(cfg_dict, k, labs, overwrite, volume_root, commit=_commit)


@app.function(volumes={VOLUME_ROOT: volume}, gpu="A10G", timeout=24 * HOURS, retries=RETRIES)
def cv_fold_remote(cfg_dict: dict, fold: int, volume_root: str = VOLUME_ROOT, local_dir: str = "/tmp/mabe") -> int:
    """One cv fold on a GPU (see `cv_fold`); the folds of a run are called in parallel."""
    _reload()  # see the plan committed by another container
    return on_sigterm(lambda stop: cv_fold(cfg_dict, fold, volume_root, local_dir, commit=_commit, should_stop=stop))


@app.function(volumes={VOLUME_ROOT: volume}, timeout=2 * HOURS, retries=RETRIES)
def cv_finish_remote(cfg_dict: dict, volume_root: str = VOLUME_ROOT) -> float:
    _reload()  # see every fold's commits
    return cv_finish(cfg_dict, volume_root, commit=_commit)


def launch_cv(cfg, k: int, *, labs: list[str] | None = None, overwrite: bool = False, gpu: str = "A10G") -> str:
    """`mabe-train cv --remote modal`: plan on the Volume, the folds not done in parallel (one GPU
    container each, `.starmap`), thresholds on their OOF files; the run stays on the Volume. Running
    the same command again after an interruption redoes no finished fold."""
    config_kind(cfg).require_remote()
    _require_credentials()
    cfg.train.run_name = cfg.train.run_name or f"{cfg.name}-cv-{datetime.now():%Y%m%d-%H%M%S}"
    gpus, name, cfg_dict = gpu_choice(gpu), cfg.train.run_name, cfg.to_dict()
    with modal.enable_output(), app.run():
        todo = _answer(lambda: cv_plan_remote.remote(cfg_dict, k, labs, overwrite), "planning the folds",
                       timeout=20 * 60)
        list(cv_fold_remote.with_options(gpu=gpus).starmap([(cfg_dict, f) for f in todo]))
        score = cv_finish_remote.remote(cfg_dict)
    return (f"finished cv {name}: {len(todo)} of {k} folds run on {gpu}, OOF score {score:.4f}; "
            f"fetch it with: mabe-train modal fetch {name}")


def has_credentials() -> bool:
    return (Path.home() / ".modal.toml").exists() or bool(
        os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"))


def _require_credentials() -> None:
    if not has_credentials():
        raise ModalError("no Modal credentials (~/.modal.toml or MODAL_TOKEN_ID/MODAL_TOKEN_SECRET) — "
                         "run `modal setup` first")


def _answer(fn: Callable, what: str, timeout: float = MODAL_TIMEOUT_S):
    """fn() in a daemon thread; ModalError (one line) if Modal has not answered within `timeout` s."""
    out: dict = {}

    def work():
        try:
            out["value"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            out["error"] = e
    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise ModalError(f"no answer from Modal in {timeout:.0f} s while {what} — check the network "
                         "(and `modal token info`), then try again")
    if "error" in out:
        raise out["error"]
    return out.get("value")


def gpu_choice(gpu: str) -> str | list[str]:
    """`H100` or a fallback list `H100,A100-80GB,L40S` (Modal tries them in order)."""
    names = [g.strip() for g in gpu.split(",") if g.strip()]
    if not names:
        raise ModalError("--gpu is empty — name a GPU type such as A10G, or a list H100,A100-80GB")
    return names[0] if len(names) == 1 else names


def _calls_dir(checkpoint_dir: str | Path) -> Path:
    return Path(checkpoint_dir) / ".modal"


def launch(cfg, *, remote: str = "modal", gpu: str = "A10G", detach: bool = False,
           resume: Path | None = None) -> str:
    """Start `train_remote` on Modal with `cfg`; returns a line saying where the run is."""
    if remote != "modal":
        raise ModalError(f"unknown --remote {remote!r}: only `modal` is supported")
    config_kind(cfg).require_remote()
    _require_credentials()
    if resume is not None:
        cfg.train.run_name = Path(resume).name
    elif not cfg.train.run_name:
        cfg.train.run_name = f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}"
    gpus, name = gpu_choice(gpu), cfg.train.run_name
    with modal.enable_output(), app.run(detach=detach):
        fn = train_remote.with_options(gpu=gpus)  # inside the running app, so it hydrates with it
        if detach:
            call = _answer(lambda: fn.spawn(cfg.to_dict(), resume is not None), "starting the run")
            record = _calls_dir(cfg.train.checkpoint_dir) / f"{name}.json"
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"run": name, "call_id": call.object_id, "gpu": gpu,
                                          "started": datetime.now().isoformat(timespec="seconds")}))
            return (f"started {name} on {gpu} (call {call.object_id}); `mabe-train modal status|logs|cancel "
                    f"{name}`; when done: mabe-train modal fetch {name}")
        name = fn.remote(cfg.to_dict(), resume is not None)
    return f"finished {name} on {gpu}; fetch it with: mabe-train modal fetch {name}"


def _call(run_name: str, checkpoint_dir: str | Path):
    record = _calls_dir(checkpoint_dir) / f"{run_name}.json"
    if not record.exists():
        raise ModalError(f"no detached Modal run {run_name!r} recorded in {record.parent} — start one with "
                         "`mabe-train run --remote modal --detach`")
    _require_credentials()
    call_id = json.loads(record.read_text())["call_id"]
    return _answer(lambda: modal.FunctionCall.from_id(call_id), f"looking up call {call_id}")


def call_status(run_name: str, checkpoint_dir: str | Path = "runs") -> str:
    """running | finished (returned value) | failed: <error> — of a detached run."""
    call = _call(run_name, checkpoint_dir)
    try:
        value = _answer(lambda: call.get(timeout=0), "polling the run")
    except TimeoutError:
        return f"{run_name}: running"
    except ModalError:
        raise
    except Exception as e:  # the remote function's own error, as Modal reports it
        return f"{run_name}: failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return f"{run_name}: finished ({value})"


def call_logs(run_name: str, checkpoint_dir: str | Path = "runs", entries: int = 100) -> list[str]:
    call = _call(run_name, checkpoint_dir)
    return _answer(lambda: [e.message.rstrip() for e in call.logs.tail(entries=entries)], "reading logs")


def call_cancel(run_name: str, checkpoint_dir: str | Path = "runs") -> str:
    call = _call(run_name, checkpoint_dir)
    _answer(lambda: call.cancel(terminate_containers=True), "cancelling the run")
    return f"cancelled {run_name}; its last checkpoint stays on the Volume (`mabe-train modal fetch {run_name}`)"


def upload_store(store: Path, name: str = "store.zarr") -> str:
    """Copy a local store to /stores/<name> on the Volume."""
    if not (Path(store) / "zarr.json").exists():
        raise ModalError(f"no store at {store} — run `make build-store` first")
    _require_credentials()
    with volume.batch_upload(force=True) as batch:
        batch.put_directory(str(store), f"/stores/{name}")
    return f"uploaded {store} to volume {VOLUME_NAME}:/stores/{name}"


def fetch_run(run_name: str, out: Path) -> Path:
    """Download /runs/<run_name> from the Volume into out/<run_name>."""
    _require_credentials()
    from modal.volume import FileEntryType  # optional extra: only after the credentials check
    dest = Path(out) / run_name
    entries = list(volume.iterdir(f"/runs/{run_name}", recursive=True))
    if not entries:
        raise ModalError(f"no run {run_name!r} on volume {VOLUME_NAME} — check the name `run` printed")
    for entry in entries:
        if entry.type != FileEntryType.FILE:
            continue
        target = dest / Path(entry.path.lstrip("/")).relative_to(f"runs/{run_name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            for chunk in volume.read_file(entry.path):
                f.write(chunk)
    return dest
