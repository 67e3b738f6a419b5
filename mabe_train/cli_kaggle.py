"""`mabe-train kaggle bundle|submit`: the two commands of a Kaggle code-competition entry.

Thin Typer commands over `mabe_train.bundle.make_bundle` (here, with internet: wheels + runs +
notebook into a folder to upload as a Kaggle Dataset) and `mabe_train.submit.submit` (what the
notebook runs offline on the hidden test set). mabe_train/cli.py adds this sub-app as `kaggle`.
`--gpu-notebook` (not `--gpu`, which is a Modal GPU type everywhere else) asks for a GPU notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.cli_base import BoundaryTyper
from mabe_train import MabeTrainError
from mabe_train.bundle import make_bundle
from mabe_train.cli_options import OverwriteOpt
from mabe_train.submit import submit as run_submit

kaggle = BoundaryTyper(help="A Kaggle code-competition entry: bundle runs for offline use, submit from "
                            "the notebook.", domain=(MabeTrainError,))


@kaggle.command()
def bundle(
    run: Annotated[list[Path], typer.Option(help="a trained run directory; repeat for an ensemble "
                                                 "(their probabilities are averaged)")],
    out: Annotated[Path, typer.Option(help="the folder to write (upload it as a Kaggle Dataset)")],
    python: Annotated[str, typer.Option(help="the notebook's Python version (wheels are fetched for it)")] = "3.11",
    gpu_notebook: Annotated[bool, typer.Option(help="ask for a GPU notebook in kernel-metadata.json")] = False,
    image: Annotated[Path | None, typer.Option(help="the Kaggle image's package list (name==version "
                                                    "lines); default configs/kaggle_image.txt")] = None,
    wheels_from: Annotated[Path | None, typer.Option(help="take wheels from this folder only (offline; "
                                                          "default: PyPI)")] = None,
    store: Annotated[Path | None, typer.Option(help="a store to check that each run loads (default: "
                                                    "the run's own data.data_dir)")] = None,
    owner: Annotated[str, typer.Option(envvar="KAGGLE_USERNAME", help="your Kaggle user name, for the "
                                                                      "dataset and notebook ids")] = "YOUR-KAGGLE-USERNAME",
    slug: Annotated[str, typer.Option(help="dataset slug (the notebook's is <slug>-submit)")] = "mabe-bundle",
    overwrite: OverwriteOpt = False,
) -> None:
    """Write an offline Kaggle bundle: wheels, runs, dataset metadata and the submission notebook."""
    report = make_bundle(run, out, python=python, gpu=gpu_notebook, image=image, wheels_from=wheels_from,
                         store=store, owner=owner, slug=slug, overwrite=overwrite)
    for line in report.lines():
        typer.echo(line)


@kaggle.command()
def submit(
    bundle: Annotated[Path, typer.Option(help="the bundle folder (as written by `mabe-train kaggle bundle`)")],
    input: Annotated[Path, typer.Option("--input", help="where the competition is mounted: test.csv is "
                                                        "looked for here and one or two levels down")] = Path("/kaggle/input"),
    out: Annotated[Path, typer.Option(help="the submission CSV to write")] = Path("/kaggle/working/submission.csv"),
    time_budget: Annotated[float | None, typer.Option(help="seconds: no new model work once it would be "
                                                           "exceeded; the rest falls back")] = None,
    fallback: Annotated[str, typer.Option(help="rows for a video that cannot be predicted: baseline "
                                               "(no-learning rows; scored better on validation) or none")] = "baseline",
    scratch: Annotated[Path | None, typer.Option(help="folder for the test-only store (default: $TMPDIR)")] = None,
    device: Annotated[str, typer.Option(help="auto (cuda when there is one), cpu or cuda")] = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads for torch and GBDT models (0: their default, every core)")] = 0,
    jobs: Annotated[int, typer.Option(help="parallel videos while building the test store")] = 2,
) -> None:
    """Predict the competition's test videos with every bundled run; always writes a valid CSV."""
    run_submit(bundle, input, out, time_budget=time_budget, scratch=scratch, fallback=fallback,
               device=device, threads=threads, jobs=jobs)
