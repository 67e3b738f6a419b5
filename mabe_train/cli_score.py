"""`mabe-train score`: the official metric on two CSV files.

A thin Typer command over `mabe_train.metric`; mabe_train/cli.py registers it
(`app.command("score")(score)`). Both files go through `intervals.read_intervals_csv`: every
column as text and only the frame columns parsed as integers, because the metric compares ids as
text: "007" and "7" are different videos, exactly as in the competition's scorer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from mabe_train.intervals import read_intervals_csv
from mabe_train.metric import MetricError, ScoreDetails, score_details


def _refuse_swapped(solution: pl.DataFrame, submission: pl.DataFrame) -> None:
    """A solution without the solution-only columns while the submission has them: files swapped."""
    only = ("lab_id", "behaviors_labeled")
    if not set(only) <= set(solution.columns) and set(only) <= set(submission.columns):
        raise MetricError("the solution lacks lab_id/behaviors_labeled but the submission has them — "
                          "are --solution and --submission swapped?")


def _refuse_disjoint(solution: pl.DataFrame, submission: pl.DataFrame) -> None:
    """No submitted video is in the solution: the metric would say 0.0 for files that do not belong together."""
    if "video_id" not in solution.columns or "video_id" not in submission.columns:
        return  # the metric names the missing column
    sol_ids, sub_ids = set(solution["video_id"].to_list()), set(submission["video_id"].to_list())
    if sub_ids and not sol_ids & sub_ids:
        raise MetricError(f"none of the submission's {len(sub_ids)} videos is in the solution ({len(sol_ids)} "
                          f"videos, e.g. {min(sol_ids)}) — are they from the same split?")


def _print_details(d: ScoreDetails) -> None:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, float_precision=4, tbl_hide_dataframe_shape=True):
        typer.echo("per lab:")
        typer.echo(str(d.per_lab))
        typer.echo("per lab and action:")
        typer.echo(str(d.per_action))


def score(
    solution: Annotated[Path, typer.Option(help="solution CSV: video_id, agent_id, target_id, action, "
                                                "start_frame, stop_frame, lab_id, behaviors_labeled")],
    submission: Annotated[Path, typer.Option(help="submission CSV in the Kaggle format (row_id ignored)")],
    details: Annotated[bool, typer.Option("--details", help="also print per-lab and per-action tables")] = False,
    beta: Annotated[float, typer.Option(help="F-beta's beta (the competition uses 1)")] = 1.0,
) -> None:
    """Score a submission with the official MABe metric; the last line is `score: <value>`."""
    sol, sub = read_intervals_csv(solution, "solution"), read_intervals_csv(submission, "submission")
    _refuse_swapped(sol, sub)
    _refuse_disjoint(sol, sub)
    d = score_details(sol, sub, beta)
    if details:
        _print_details(d)
    typer.echo(f"labs: {d.per_lab.height}, lab-actions: {d.per_action.height}")
    typer.echo(f"score: {d.score!r}")
