"""`mabe-train`: thin Typer commands over train(), evaluate() and the Modal launcher.

Every command runs inside `cli_errors.one_line_errors` (domain errors: one line, exit 1). `score`, `predict` and `bench` live in their own modules (cli_score.py,
cli_predict.py, cli_bench.py) and are registered here with plain imports. Trade-off: every command,
`--help` included, pays torch's import (~1 s; cli_bench needs prefetch's FEEDERS for its help text)
and Polars'; all commands but `score` need torch anyway, so lazy registration would save little.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_train.cli_bench import bench
from mabe_train.cli_errors import one_line_errors
from mabe_train.cli_kaggle import bundle, submit
from mabe_train.cli_predict import predict
from mabe_train.cli_score import score

app = typer.Typer(help="Train, evaluate and launch MABe sequence models from the Zarr store.",
                  no_args_is_help=True, add_completion=False)


@app.command()
def run(
    overrides: Annotated[list[str] | None, typer.Argument(
        help="key=value settings over the config file, e.g. train.epochs=1 data.data_dir=data/store.zarr")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (configs/v5.yaml, ...)")] = None,
    resume: Annotated[Path | None, typer.Option(help="continue this run directory from its last.pt")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run directory of the same name")] = False,
    remote: Annotated[str | None, typer.Option(help="run on a cloud GPU instead: `modal`")] = None,
    gpu: Annotated[str, typer.Option(help="Modal GPU type (A10G, L4, A100, H100), or a fallback list "
                                          "tried in order: H100,A100-80GB,L40S")] = "A10G",
    detach: Annotated[bool, typer.Option(help="Modal: return at once, the run keeps going")] = False,
) -> None:
    """Train a model; prints the run directory."""
    from mabe_train.config import ConfigError, load_config
    from mabe_train.run import require_run
    with one_line_errors():
        if resume is not None:
            config = config or require_run(resume) / "config.yaml"
        elif config is None:
            raise ConfigError("pass --config (e.g. --config configs/v5.yaml) or --resume RUN_DIR")
        cfg = load_config(config, overrides or [])
        if cfg.model.name == "gbdt" and (remote is not None or resume is not None):
            raise ConfigError("a GBDT run trains locally in one pass: no --remote, nothing to --resume "
                              "(`mabe-train cv` resumes its folds)")
        if remote is not None:
            from mabe_train.modal_app import launch
            typer.echo(launch(cfg, remote=remote, gpu=gpu, detach=detach, resume=resume))
            return
        if cfg.model.name == "gbdt":  # not a torch model: mabe_train.gbdt fits it in one pass
            from mabe_train.gbdt.train import train_gbdt
            run_dir = train_gbdt(cfg, overwrite=overwrite, log=typer.echo)
            typer.echo(f"run directory: {run_dir}")
            return
        from mabe_train.train import train
        run_dir = train(cfg, run_dir=resume, resume=resume is not None, overwrite=overwrite)
        typer.echo(f"run directory: {run_dir}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `mabe-train run`")],
    checkpoint: Annotated[str, typer.Option(help="which checkpoint: best, last or a file name")] = "best",
    data_dir: Annotated[str | None, typer.Option(help="store to evaluate on (default: the run's)")] = None,
) -> None:
    """Per-class and per-lab report, confusion matrix and training curves (PNG + JSON)."""
    from mabe_train.evaluate import evaluate_run
    with one_line_errors():
        out = evaluate_run(run_dir, checkpoint=checkpoint, data_dir=data_dir)
        typer.echo(out.summary)
        typer.echo(f"figures: {', '.join(str(p) for p in out.files)}")


@app.command("modal-upload")
def modal_upload(
    store: Annotated[Path, typer.Option(help="local store to upload")] = Path("data/store.zarr"),
    name: Annotated[str, typer.Option(help="name of the store on the Volume")] = "store.zarr",
) -> None:
    """Upload a local store to the project's Modal Volume (needs Modal credentials)."""
    with one_line_errors():
        from mabe_train.modal_app import upload_store
        typer.echo(upload_store(store, name))


@app.command("modal-fetch")
def modal_fetch(
    run_name: Annotated[str, typer.Argument(help="the run's name (directory under runs/ on the Volume)")],
    out: Annotated[Path, typer.Option(help="local folder to put the run directory in")] = Path("runs"),
) -> None:
    """Download a remote run's checkpoints and metrics from the Modal Volume."""
    with one_line_errors():
        from mabe_train.modal_app import fetch_run
        typer.echo(f"fetched into {fetch_run(run_name, out)}")


@app.command("modal-status")
def modal_status(
    run_name: Annotated[str, typer.Argument(help="a run started with `run --remote modal --detach`")],
    checkpoint_dir: Annotated[Path, typer.Option(help="where the launch recorded it (train.checkpoint_dir)")] = Path("runs"),
) -> None:
    """Is a detached Modal run still running, finished or failed?"""
    from mabe_train.modal_app import call_status
    with one_line_errors():
        typer.echo(call_status(run_name, checkpoint_dir))


@app.command("modal-logs")
def modal_logs(
    run_name: Annotated[str, typer.Argument(help="a run started with `run --remote modal --detach`")],
    entries: Annotated[int, typer.Option(min=1, help="how many of the latest log lines")] = 100,
    checkpoint_dir: Annotated[Path, typer.Option(help="where the launch recorded it (train.checkpoint_dir)")] = Path("runs"),
) -> None:
    """The latest log lines of a detached Modal run."""
    from mabe_train.modal_app import call_logs
    with one_line_errors():
        for line in call_logs(run_name, checkpoint_dir, entries):
            typer.echo(line)


@app.command("modal-cancel")
def modal_cancel(
    run_name: Annotated[str, typer.Argument(help="a run started with `run --remote modal --detach`")],
    checkpoint_dir: Annotated[Path, typer.Option(help="where the launch recorded it (train.checkpoint_dir)")] = Path("runs"),
) -> None:
    """Stop a detached Modal run (its last checkpoint stays on the Volume)."""
    from mabe_train.modal_app import call_cancel
    with one_line_errors():
        typer.echo(call_cancel(run_name, checkpoint_dir))


@app.command()
def cv(
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value settings over the config file")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="a `task: pairs` config (configs/pairs_demo.yaml) "
                                                "or a `model.name: gbdt` one (configs/gbdt.yaml)")] = None,
    folds: Annotated[int, typer.Option(help="number of video-level folds, stratified by lab")] = 4,
    labs: Annotated[str | None, typer.Option(help="validate only these labs (comma-separated)")] = None,
    refit: Annotated[bool, typer.Option(help="GBDT: refit on every video after the folds (default: the folds' "
                                             "mean; a sequence cv is always the folds' ensemble)")] = False,
    overwrite: Annotated[bool, typer.Option(help="start again instead of resuming the run's finished folds")] = False,
    remote: Annotated[str | None, typer.Option(help="run the folds in parallel on cloud GPUs: `modal` "
                                                    "(sequence models; the run stays on the Volume)")] = None,
    gpu: Annotated[str, typer.Option(help="Modal GPU type per fold, or a fallback list H100,A100-80GB,L40S")] = "A10G",
) -> None:
    """Cross-validate: K folds, OOF probabilities, thresholds per (lab, action) tuned on all of them."""
    from mabe_train.config import ConfigError, load_config
    from mabe_train.cv import run_cv
    with one_line_errors():
        if config is None:
            raise ConfigError("pass --config (e.g. --config configs/pairs_demo.yaml or configs/gbdt.yaml)")
        cfg = load_config(config, overrides or [])
        chosen = [x.strip() for x in labs.split(",") if x.strip()] if labs else None
        if remote is not None:
            from mabe_train.modal_app import ModalError, launch_cv
            if remote != "modal" or refit:
                raise ModalError(f"--remote {remote}{' --refit' if refit else ''}: only `--remote modal`, "
                                 "without --refit, is supported")
            typer.echo(launch_cv(cfg, folds, labs=chosen, overwrite=overwrite, gpu=gpu))
            return
        run_dir = run_cv(cfg, folds, labs=chosen, refit=refit, overwrite=overwrite, log=typer.echo)
        typer.echo(f"run directory: {run_dir}")


@app.command()
def ensemble(
    runs: Annotated[list[Path], typer.Argument(help="run directories to blend (any kind: gbdt, cv, sequence)")],
    out: Annotated[Path, typer.Option(help="the ensemble's run directory")],
    weights: Annotated[str | None, typer.Option(help="fixed blend weights, comma-separated (default: tuned "
                                                     "on out-of-fold or shared validation videos)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing ensemble at --out")] = False,
) -> None:
    """Blend runs' calibrated probabilities into an ensemble run directory (predict/evaluate take it)."""
    from mabe_train.ensemble import EnsembleError, make_ensemble
    with one_line_errors():
        try:
            w = [float(x) for x in weights.split(",")] if weights else None
        except ValueError:
            raise EnsembleError(f"--weights {weights!r}: expected numbers separated by commas") from None
        typer.echo(f"run directory: {make_ensemble(runs, out, weights=w, overwrite=overwrite, log=typer.echo)}")


app.command("score")(score)
app.command("predict")(predict)
app.command("bench")(bench)
app.command("bundle")(bundle)
app.command("submit")(submit)


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
    from mabe_train.config import ConfigError
    from mabe_train.report import write_report
    with one_line_errors():
        if (predictions is None) == (run is None):
            raise ConfigError("pass --predictions CSV, or --run RUN to predict the store first (not both)")
        wanted = [a.strip() for a in actions.split(",") if a.strip()] if actions else None
        if run is not None:
            from mabe_train.predict import predict_run
            predictions = out / "predictions.csv"
            p = predict_run(run, store, predictions, split="all", actions=wanted)
            typer.echo(f"predicted {p.n_rows} intervals for {p.n_scored_videos}/{p.n_videos} videos: {predictions}")
        ids = [v.strip() for v in videos.split(",") if v.strip()] if videos else None
        if run is not None and ids is None:  # every video was predicted, those with no interval too
            from mabe_store.reader import open_store
            ids = [str(v) for v in open_store(store).videos["video_id"]]
        r = write_report(predictions, store, out, ids, wanted)
        typer.echo(f"reports of {len(r.videos)} videos in {r.out}; summary across videos: {r.summary}")


if __name__ == "__main__":
    app()
