"""`mabe-train modal upload|fetch|status|logs|cancel`: the store and the runs on Modal's side.

Thin commands over mabe_train.modal_app. Each imports modal_app inside the command, so inside the
error boundary: without the `modal` extra every one of them is one line naming it, not a traceback.
(`run --remote modal` and `cv --remote modal` launch; these look after what they launched.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.cli_base import BoundaryTyper
from mabe_train import MabeTrainError
from mabe_train.cli_options import CheckpointDirOpt, VolumeRunArg

modal = BoundaryTyper(help="The store and runs on Modal: upload a store, then follow, fetch or cancel "
                           "a run started with `mabe-train run|cv --remote modal`.", domain=(MabeTrainError,))


@modal.command()
def upload(
    store: Annotated[Path, typer.Option(help="local store to upload")] = Path("data/store.zarr"),
    name: Annotated[str, typer.Option(help="name of the store on the Volume")] = "store.zarr",
) -> None:
    """Upload a local store to the project's Modal Volume (needs Modal credentials)."""
    from mabe_train.modal_app import upload_store  # optional extra [modal]
    typer.echo(upload_store(store, name))


@modal.command()
def fetch(
    run_name: VolumeRunArg,
    out: Annotated[Path, typer.Option(help="local folder to put the run directory in")] = Path("runs"),
) -> None:
    """Download a remote run's checkpoints and metrics from the Modal Volume."""
    from mabe_train.modal_app import fetch_run  # optional extra [modal]
    typer.echo(f"fetched into {fetch_run(run_name, out)}")


@modal.command()
def status(run_name: VolumeRunArg, checkpoint_dir: CheckpointDirOpt = Path("runs")) -> None:
    """Is a detached Modal run still running, finished or failed?"""
    from mabe_train.modal_app import call_status  # optional extra [modal]
    typer.echo(call_status(run_name, checkpoint_dir))


@modal.command()
def logs(
    run_name: VolumeRunArg,
    entries: Annotated[int, typer.Option(min=1, help="how many of the latest log lines")] = 100,
    checkpoint_dir: CheckpointDirOpt = Path("runs"),
) -> None:
    """The latest log lines of a detached Modal run."""
    from mabe_train.modal_app import call_logs  # optional extra [modal]
    for line in call_logs(run_name, checkpoint_dir, entries):
        typer.echo(line)


@modal.command()
def cancel(run_name: VolumeRunArg, checkpoint_dir: CheckpointDirOpt = Path("runs")) -> None:
    """Stop a detached Modal run (its last checkpoint stays on the Volume)."""
    from mabe_train.modal_app import call_cancel  # optional extra [modal]
    typer.echo(call_cancel(run_name, checkpoint_dir))
