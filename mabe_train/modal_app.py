"""Run the same `train(cfg)` on a Modal cloud GPU; the store and the runs live on a Modal Volume.

Layout of the Volume `mabe-data` (mounted at /vol in the container):
    /stores/<name>/   a store uploaded by `mabe-train modal-upload --store data/store.zarr`
    /runs/<run_name>/ run directories written by remote runs (`mabe-train modal-fetch RUN_NAME`)

The remote function copies its store from the Volume to the container's local disk before
training (Volume reads are network reads; the sampler wants one sequential pass) and writes the run
directory straight to the Volume, so a killed container leaves its last checkpoint behind and
`--resume runs/<run_name> --remote modal` continues it. The image pins every dependency to the
version installed here (torch without its local `+cpu` tag, so the CUDA wheel is used remotely).

Trade-off: importing this module builds only the app's description (no network); anything that
talks to Modal first checks for credentials and fails with one line when there are none.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from mabe_train import MabeTrainError
from mabe_train.extras import require

modal = require("modal", "modal")

APP_NAME = "mabe-train"
VOLUME_NAME = "mabe-data"
VOLUME_ROOT = "/vol"
PINNED_DISTS = ("torch", "numpy", "zarr", "polars", "pyarrow", "pyyaml", "tqdm", "typer", "matplotlib")
HOURS = 3600


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


@app.function(volumes={VOLUME_ROOT: volume}, gpu="A10G", timeout=24 * HOURS)
def train_remote(cfg_dict: dict, resume: bool = False, volume_root: str = VOLUME_ROOT,
                 local_dir: str = "/tmp/mabe") -> str:
    """Stage the Volume's store to local disk, train, leave the run on the Volume; returns its name."""
    from mabe_train.config import load_config_dict
    from mabe_train.train import train

    cfg = load_config_dict(cfg_dict)
    root = Path(volume_root)
    store_name = Path(cfg.data.data_dir).name
    src = root / "stores" / store_name
    if not src.exists():
        raise ModalError(f"no store {store_name!r} on the Volume — run `mabe-train modal-upload "
                         f"--store {cfg.data.data_dir}` first")
    local_store = Path(local_dir) / store_name
    if not local_store.exists():
        shutil.copytree(src, local_store)
    cfg.data.data_dir = str(local_store)
    cfg.train.checkpoint_dir = str(root / "runs")
    run_dir = root / "runs" / cfg.train.run_name
    train(cfg, run_dir=run_dir if resume else None, resume=resume)
    if not modal.is_local():
        volume.commit()
    return cfg.train.run_name


def has_credentials() -> bool:
    return (Path.home() / ".modal.toml").exists() or bool(
        os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"))


def _require_credentials() -> None:
    if not has_credentials():
        raise ModalError("no Modal credentials (~/.modal.toml or MODAL_TOKEN_ID/MODAL_TOKEN_SECRET) — "
                         "run `modal setup` first")


def launch(cfg, *, remote: str = "modal", gpu: str = "A10G", detach: bool = False,
           resume: Path | None = None) -> str:
    """Start `train_remote` on Modal with `cfg`; returns a line saying where the run is."""
    if remote != "modal":
        raise ModalError(f"unknown --remote {remote!r}: only `modal` is supported")
    _require_credentials()
    if resume is not None:
        cfg.train.run_name = Path(resume).name
    elif not cfg.train.run_name:
        cfg.train.run_name = f"{cfg.name}-{datetime.now():%Y%m%d-%H%M%S}"
    with modal.enable_output(), app.run(detach=detach):
        fn = train_remote.with_options(gpu=gpu)  # inside the running app, so it hydrates with it
        if detach:
            call = fn.spawn(cfg.to_dict(), resume is not None)
            return (f"started {cfg.train.run_name} on a {gpu} (call {call.object_id}); when done: "
                    f"mabe-train modal-fetch {cfg.train.run_name}")
        name = fn.remote(cfg.to_dict(), resume is not None)
    return f"finished {name} on a {gpu}; fetch it with: mabe-train modal-fetch {name}"


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
    from modal.volume import FileEntryType
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
