"""`mabe-train predict`: a trained pairs run -> a Kaggle submission CSV for one split of a store.

Thin Typer command over `mabe_train.predict.predict_run` (mabe_train/cli.py registers it, inside
the one error boundary of both CLIs, mabe_store.cli_base).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.location import parse_options
from mabe_train.cli_options import OptionsOpt, RunOpt, StoreOpt, split_list
from mabe_train.predict import predict_run


def predict(
    run: RunOpt,
    store: StoreOpt,
    out: Annotated[Path, typer.Option(help="where to write the submission CSV")] = Path("submission.csv"),
    split: Annotated[str, typer.Option(help="which videos: test (Kaggle), val (the run's validation "
                                            "videos), train (a held-out store) or all (e.g. your own "
                                            "imported store); labeled splits also print the official "
                                            "score")] = "test",
    actions: Annotated[str | None, typer.Option(help="comma-separated actions to predict where a video "
                                                     "labels none (default: every action the run knows)")] = None,
    solution_out: Annotated[Path | None, typer.Option(help="also write the solution CSV of a labeled "
                                                           "split, for `mabe-train score`")] = None,
    checkpoint: Annotated[str, typer.Option(help="best, last or a checkpoint file name of the run")] = "best",
    device: Annotated[str, typer.Option(help="cpu, cuda or mps")] = "cpu",
    storage_option: OptionsOpt = None,
) -> None:
    """Predict every labeled pair of every video of a split and write the Kaggle CSV (readable by `report`)."""
    p = predict_run(run, store, out, split=split, checkpoint=checkpoint, device=device,
                    solution_out=solution_out, storage_options=parse_options(storage_option),
                    actions=split_list(actions))
    typer.echo(f"wrote {p.n_rows} intervals for {p.n_scored_videos}/{p.n_videos} `{split}` videos to {p.path}")
    if p.score is not None:
        typer.echo(f"scored on: {p.scored}")
        typer.echo(f"score: {p.score}")
