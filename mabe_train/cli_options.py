"""The options of `mabe-train` declared once, so an option means one thing in every command.

`--gpu` is always a Modal GPU type (or a fallback list); the Kaggle bundle's yes/no for a GPU
notebook is `--gpu-notebook`. The store options (`--store`, `--storage-option`) are shared with
`mabe-store` (mabe_store.cli_base).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.cli_base import OptionsOpt, StoreOpt

__all__ = ["ConfigOpt", "GpuOpt", "OptionsOpt", "OverridesArg", "OverwriteOpt", "RemoteOpt", "RunOpt",
           "StoreOpt", "StorePathOpt", "VolumeRunArg", "CheckpointDirOpt", "split_list"]

OverridesArg = Annotated[list[str] | None, typer.Argument(
    help="key=value settings over the config file, e.g. train.epochs=1 data.data_dir=data/store.zarr")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (configs/v5.yaml, "
                                                "configs/pairs_demo.yaml, configs/gbdt.yaml, ...)")]
OverwriteOpt = Annotated[bool, typer.Option(help="replace what is already at the output instead of "
                                                 "refusing (cv: start again instead of resuming its folds)")]
GpuOpt = Annotated[str, typer.Option(help="Modal GPU type (A10G, L4, A100, H100), or a fallback list "
                                          "tried in order: H100,A100-80GB,L40S")]
RemoteOpt = Annotated[str | None, typer.Option(help="run on cloud GPUs instead: `modal`")]
RunOpt = Annotated[Path, typer.Option("--run", help="a trained run directory (any kind: sequence, "
                                                    "GBDT, cv, ensemble)")]
StorePathOpt = Annotated[Path, typer.Option("--store", help="a local Zarr store (`mabe-store build`)")]
VolumeRunArg = Annotated[str, typer.Argument(help="the run's name (its directory under runs/ on the Volume)")]
CheckpointDirOpt = Annotated[Path, typer.Option(help="where the launch recorded it (train.checkpoint_dir)")]


def split_list(text: str | None) -> list[str] | None:
    """`a, b,c` -> ["a", "b", "c"]; None -> None."""
    items = [x.strip() for x in (text or "").split(",") if x.strip()]
    return items if text else None
