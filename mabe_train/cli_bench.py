"""`mabe-train bench`: training and inference throughput of a config on this machine (see bench.py).

Kept apart from cli.py so the command registers itself where the module exists; the work is in
`mabe_train.bench.run_bench`, which tests and the GPU check script call too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mabe_train.bench import format_table, run_bench
from mabe_train.cli_options import ConfigOpt, OverridesArg
from mabe_train.config import ConfigError, load_config
from mabe_train.prefetch import FEEDERS
from mabe_train.run import set_threads


def bench(
    overrides: OverridesArg = None,
    config: ConfigOpt = None,
    steps: Annotated[int, typer.Option(min=1, help="timed steps per phase (train, inference)")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="untimed steps first (allocator, autotune, compile)")] = 3,
    out_json: Annotated[Path | None, typer.Option("--json", help="also write the figures to this JSON file")] = None,
    store: Annotated[Path | None, typer.Option(
        help="store to read (default: the config's data_dir, or a synthetic one when that does not exist)")] = None,
    synthetic: Annotated[int, typer.Option(
        help="bench on a temporary synthetic store of about this many frames instead (0 = off)")] = 0,
    feeder: Annotated[str | None, typer.Option(
        help=f"batch feeder: {' | '.join(FEEDERS)} (default: the config's train.feeder; auto = device gather "
             "on CUDA when the data fits, the sampler itself on a CPU)")] = None,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model")] = False,
    cudnn_benchmark: Annotated[bool, typer.Option(help="CUDA: let cuDNN autotune its kernels")] = False,
    threads: Annotated[int, typer.Option(min=0, help="torch CPU threads (0 = torch's default); 1 is steadier "
                                                     "on a CPU shared with other jobs")] = 0,
) -> None:
    """Windows/s of training and inference steps, data vs compute time and peak memory."""
    if config is None:
        raise ConfigError("pass --config (e.g. --config configs/v6.yaml)")
    if store is not None and not store.exists():
        raise ConfigError(f"no store at {store} — build one with `mabe-store build`, or drop --store "
                          "to bench on a synthetic store")
    if threads:
        set_threads(threads)
    cfg = load_config(config, ["train.progress=false", *(overrides or [])])
    result = run_bench(cfg, steps=steps, warmup=warmup, store=store, feeder=feeder,
                       compile_model=compile_model, cudnn_benchmark=cudnn_benchmark,
                       synthetic_frames=synthetic)
    typer.echo(format_table(result))
    typer.echo(f"store: {result['store']}")
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(result, indent=1))
        typer.echo(f"figures: {out_json}")
