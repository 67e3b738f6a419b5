"""`mabe-store synth`: the thin command over `mabe_store.synth.synthesize`.

Why a separate module: the store's CLI (`cli.py`) registers it with `app.command("synth")(synth)`,
which also puts it inside the CLI's one error boundary (a SynthError is one line, exit 1). It refuses to overwrite a dataset (an
existing non-empty train.csv) unless `--force`, because regenerating silently would invalidate a
store built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.synth import SynthError, synthesize


def synth(
    out: Annotated[Path, typer.Option(help="Folder to write the raw dataset into (Kaggle layout).")] = Path("data/raw"),
    profile: Annotated[str, typer.Option(help="'small' (6 labs, ~150k frames, the demo) or 'kaggle' (the full set's shape).")] = "small",
    videos: Annotated[int | None, typer.Option(help="Cap on the number of train videos (labs taken in turn).")] = None,
    scale: Annotated[float, typer.Option(help="Fraction of the frames: kaggle scales the number of videos per lab, small and --from-real the video lengths.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same data.")] = 0,
    from_real: Annotated[Path | None, typer.Option(help="Folder with a real train.csv + train_annotation/: keep its labels, synthesise tracking (semi-real).")] = None,
    labs: Annotated[str | None, typer.Option(help="Comma-separated lab ids to keep, e.g. CalMS21_task1,AdaptableSnail.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing dataset in OUT.")] = False,
) -> None:
    """Write a synthetic MABe raw dataset: csv files, tracking and annotation parquet."""
    train_csv = out / "train.csv"
    if train_csv.is_file() and train_csv.stat().st_size > 0 and not force:
        raise SynthError(f"{train_csv} exists; pass --force to overwrite or choose another --out")
    lab_ids = tuple(x.strip() for x in labs.split(",") if x.strip()) if labs else None
    summary = synthesize(out, profile=profile, videos=videos, scale=scale, seed=seed,
                         from_real=from_real, labs=lab_ids)
    typer.echo(summary.line())
