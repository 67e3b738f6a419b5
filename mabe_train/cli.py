"""`mabe-train`: thin Typer commands over the library's train, cv, ensemble, evaluate and report.

The shape a user sees: `mabe-train run|cv|ensemble|evaluate|predict|score|report|bench` for the
work on a store, `mabe-train kaggle bundle|submit` for a competition entry (cli_kaggle.py) and
`mabe-train modal upload|fetch|status|logs|cancel` for cloud runs (cli_modal.py). Options are
declared once (cli_options.py). Every command, sub-apps included, runs inside the one error
boundary of both CLIs (mabe_store.cli_base): a domain error or a missing extra is one line, exit 1.
Trade-off: every command, `--help` included, pays torch's import (~1 s; cli_bench needs prefetch's
FEEDERS for its help text) and Polars'; all commands but `score` need torch anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.cli_base import BoundaryTyper
from mabe_store.reader import open_store
from mabe_train import MabeTrainError
from mabe_train.cli_bench import bench
from mabe_train.cli_kaggle import kaggle
from mabe_train.cli_modal import modal
from mabe_train.cli_options import ConfigOpt, GpuOpt, OverridesArg, OverwriteOpt, RemoteOpt, split_list
from mabe_train.cli_predict import predict
from mabe_train.cli_score import score
from mabe_train.config import ConfigError, load_config
from mabe_train.cv import run_cv
from mabe_train.ensemble import EnsembleError, make_ensemble
from mabe_train.predict import predict_run
from mabe_train.runs.files import CONFIG_FILE
from mabe_train.runs.registry import config_kind, require_run, run_kind, train_run

app = BoundaryTyper(help="Train, evaluate and launch MABe sequence models from the Zarr store.",
                    domain=(MabeTrainError,))
app.add_typer(kaggle, name="kaggle")
app.add_typer(modal, name="modal")


@app.command()
def run(
    overrides: OverridesArg = None,
    config: ConfigOpt = None,
    resume: Annotated[Path | None, typer.Option(help="continue this run directory from its last.pt")] = None,
    overwrite: OverwriteOpt = False,
    remote: RemoteOpt = None,
    gpu: GpuOpt = "A10G",
    detach: Annotated[bool, typer.Option(help="Modal: return at once, the run keeps going")] = False,
) -> None:
    """Train a model; prints the run directory."""
    if resume is not None:
        config = config or require_run(resume) / CONFIG_FILE
    elif config is None:
        raise ConfigError("pass --config (e.g. --config configs/v5.yaml) or --resume RUN_DIR")
    cfg = load_config(config, overrides or [])
    if remote is not None:
        (run_kind(resume) if resume is not None else config_kind(cfg)).require_remote()
        from mabe_train.modal_app import launch  # optional extra [modal]
        typer.echo(launch(cfg, remote=remote, gpu=gpu, detach=detach, resume=resume))
        return
    run_dir = train_run(cfg, resume=resume, overwrite=overwrite)
    typer.echo(f"run directory: {run_dir}")


@app.command()
def cv(
    overrides: OverridesArg = None,
    config: ConfigOpt = None,
    folds: Annotated[int, typer.Option(help="number of video-level folds, stratified by lab")] = 4,
    labs: Annotated[str | None, typer.Option(help="validate only these labs (comma-separated)")] = None,
    refit: Annotated[bool, typer.Option(help="GBDT: refit on every video after the folds (default: the folds' "
                                             "mean; a sequence cv is always the folds' ensemble)")] = False,
    overwrite: OverwriteOpt = False,
    remote: RemoteOpt = None,
    gpu: GpuOpt = "A10G",
) -> None:
    """Cross-validate: K folds, OOF probabilities, thresholds per (lab, action) tuned on all of them."""
    if config is None:
        raise ConfigError("pass --config (e.g. --config configs/pairs_demo.yaml or configs/gbdt.yaml)")
    cfg = load_config(config, overrides or [])
    chosen = split_list(labs)
    if remote is not None:
        from mabe_train.modal_app import ModalError, launch_cv  # optional extra [modal]
        if remote != "modal" or refit:
            raise ModalError(f"--remote {remote}{' --refit' if refit else ''}: only `--remote modal`, "
                             "without --refit, is supported")
        typer.echo(launch_cv(cfg, folds, labs=chosen, overwrite=overwrite, gpu=gpu))
        return
    run_dir = run_cv(cfg, folds, labs=chosen, refit=refit, overwrite=overwrite)
    typer.echo(f"run directory: {run_dir}")


@app.command()
def ensemble(
    runs: Annotated[list[Path], typer.Argument(help="run directories to blend (any kind: gbdt, cv, sequence)")],
    out: Annotated[Path, typer.Option(help="the ensemble's run directory")],
    weights: Annotated[str | None, typer.Option(help="fixed blend weights, comma-separated (default: tuned "
                                                     "on out-of-fold or shared validation videos)")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Blend runs' calibrated probabilities into an ensemble run directory (predict/evaluate take it)."""
    try:
        w = [float(x) for x in weights.split(",")] if weights else None
    except ValueError:
        raise EnsembleError(f"--weights {weights!r}: expected numbers separated by commas") from None
    typer.echo(f"run directory: {make_ensemble(runs, out, weights=w, overwrite=overwrite)}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `mabe-train run`")],
    checkpoint: Annotated[str, typer.Option(help="which checkpoint: best, last or a file name")] = "best",
    data_dir: Annotated[str | None, typer.Option(help="store to evaluate on (default: the run's)")] = None,
) -> None:
    """Per-class and per-lab report, confusion matrix and training curves (PNG + JSON)."""
    from mabe_train.evaluate import evaluate_run  # heavy: matplotlib; keeps mabe-train --help fast
    out = evaluate_run(run_dir, checkpoint=checkpoint, data_dir=data_dir)
    typer.echo(out.summary)
    typer.echo(f"figures: {', '.join(str(p) for p in out.files)}")


app.command("predict")(predict)
app.command("score")(score)


@app.command()
def report(
    store: Annotated[Path, typer.Option(help="the store the predictions are of (fps, length, lab per video)")],
    predictions: Annotated[Path | None, typer.Option(help="predictions CSV (Kaggle submission columns), e.g. from `mabe-train predict`")] = None,
    run: Annotated[Path | None, typer.Option(help="or: a trained pairs run — predict every video of --store first "
                                                  "(as `predict --split all`), into OUT/predictions.csv")] = None,
    actions: Annotated[str | None, typer.Option(help="comma-separated actions reported for every pair of each "
                                                     "video's mice, zeros included; with --run also the actions "
                                                     "predicted where a video labels none (default: every action "
                                                     "the run knows)")] = None,
    out: Annotated[Path, typer.Option(help="folder for <video_id>/{ethogram.png,time_budget.csv,bouts.csv,boris_events.csv} and summary.csv")] = Path("report"),
    videos: Annotated[str | None, typer.Option(help="comma-separated video ids (default: every video of the store's "
                                                    "splits that the predictions cover)")] = None,
) -> None:
    """Per-video ethograms, time budgets, bout lists and BORIS events from predicted intervals."""
    from mabe_train.report import write_report  # heavy: matplotlib; keeps mabe-train --help fast
    if (predictions is None) == (run is None):
        raise ConfigError("pass --predictions CSV, or --run RUN to predict the store first (not both)")
    wanted = split_list(actions)
    if run is not None:
        predictions = out / "predictions.csv"
        p = predict_run(run, store, predictions, split="all", actions=wanted)
        typer.echo(f"predicted {p.n_rows} intervals for {p.n_scored_videos}/{p.n_videos} videos: {predictions}")
    ids = split_list(videos)
    if run is not None and ids is None:  # every video was predicted, those with no interval too
        ids = [str(v) for v in open_store(store).videos["video_id"]]
    r = write_report(predictions, store, out, ids, wanted)
    typer.echo(f"reports of {len(r.videos)} videos in {r.out}; summary across videos: {r.summary}")


app.command("bench")(bench)


if __name__ == "__main__":
    app()
