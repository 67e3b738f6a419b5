"""`mabe-store`: the command line of the store — download, build, inspect, verify (and synth).

Commands stay thin: they parse options, call one library function and print its lines. Every
command registered on `app` runs inside the one error boundary of both CLIs
(`mabe_store.cli_base.one_line_errors`): any `MabeStoreError`, a missing optional dependency or an
unusable path (OSError) becomes one line `error: ...` and exit code 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mabe_store.build_config import load_config
from mabe_store.cli_base import BoundaryTyper, OptionsOpt, StoreOpt
from mabe_store.cli_base import fail as _fail
from mabe_store.cli_synth import synth
from mabe_store.constants import split_choice
from mabe_store.download import download as fetch
from mabe_store.export import export_notes, export_video
from mabe_store.importers import ImportOptions, import_files
from mabe_store.inspect import plot_video, summary_lines, video_lines
from mabe_store.location import parse_options
from mabe_store.reader import open_store

app = BoundaryTyper(help="MABe raw parquet -> one Zarr tensor store; inspect and verify it.")

app.command("synth")(synth)



@app.command()
def build(
    overrides: Annotated[list[str] | None, typer.Argument(
        help="key=value build settings over --config, e.g. chunk_rows=8192 codec=blosc-lz4")] = None,
    raw: Annotated[Path, typer.Option(help="raw Kaggle-layout directory (train.csv, *_tracking/, ...)")] = Path("data/raw"),
    out: Annotated[str, typer.Option(help="store to create or complete: a directory, or an s3://, gs:// or "
                                          "memory:// URL (built in --mirror, then uploaded)")] = "data/store.zarr",
    jobs: Annotated[int, typer.Option(min=1, help="threads pivoting videos in parallel (the main thread writes)")] = 2,
    config: Annotated[Path | None, typer.Option(help="build settings YAML (default: built-in, = configs/store.yaml)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    split: Annotated[str, typer.Option(help="which videos to read: train, test or all. `--split test` opens "
                                       "no train file (not even train.csv): the Kaggle notebook's build "
                                       "of the hidden test set beside ~10 GB of train tracking")] = "all",
    storage_option: OptionsOpt = None,
    mirror: Annotated[Path | None, typer.Option(help="local working copy of a URL --out (default "
                                                     "~/.cache/mabe-store/<scheme>/<bucket>/<path>)")] = None,
) -> None:
    """Pivot every raw video into the store; reruns skip videos already built from the same files."""
    from mabe_store.build import build_store  # heavy: pyarrow; keeps mabe-store --help fast

    report = build_store(raw, out, cfg=load_config(config, overrides), jobs=jobs, splits=split_choice(split),
                         progress=progress, log=typer.echo, storage_options=parse_options(storage_option),
                         mirror=mirror)
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        _fail(f"{len(report.skipped)} videos skipped — fix or remove them, then rerun the build")


@app.command()
def inspect(
    store: StoreOpt = "data/store.zarr",
    video_id: Annotated[str | None, typer.Argument(help="a video id; leave out for the store summary")] = None,
    plot: Annotated[Path | None, typer.Option(help="write trajectories + ethogram of VIDEO_ID to this PNG")] = None,
    storage_option: OptionsOpt = None,
) -> None:
    """Summarise the store, or one video (keypoints, missing fractions, behaviours)."""

    s = open_store(store, parse_options(storage_option))
    lines = summary_lines(s) if video_id is None else video_lines(s, video_id)
    if plot is not None:
        if video_id is None:
            _fail("--plot needs a VIDEO_ID (see the summary or `inspect` output for ids)")
        lines.append(f"plot written to {plot_video(s, video_id, plot)}")
    for line in lines:
        typer.echo(line)


@app.command()
def verify(
    store: StoreOpt = "data/store.zarr",
    raw: Annotated[Path | None, typer.Option(help="raw directory to spot-check the store against")] = None,
    sample: Annotated[int, typer.Option(min=0, help="videos to re-derive from raw (plus one per lab)")] = 8,
    storage_option: OptionsOpt = None,
) -> None:
    """Check the store against its contract (and the raw files); exit 1 on any mismatch."""
    from mabe_store.verify import check_contract, check_raw  # heavy: pyarrow; keeps mabe-store --help fast

    s = open_store(store, parse_options(storage_option))
    problems = check_contract(s)
    if raw is not None and not problems:
        problems += check_raw(s, raw, sample=sample)
    for p in problems:
        typer.echo(f"  MISMATCH {p}")
    if problems:
        _fail(f"{len(problems)} problems in {store}")
    checked = "contract and raw spot-check" if raw is not None else "contract"
    typer.echo(f"{store}: OK ({checked}; {s.n_videos} videos, {s.n_frames:,} frames)")


@app.command()
def download(
    out: Annotated[Path, typer.Option(help="where to unpack the competition files")] = Path("data/raw"),
) -> None:
    """Download the Kaggle competition data (needs Kaggle API credentials); skips what is there."""

    fetch(out, log=typer.echo)


@app.command("import")
def import_(
    files: Annotated[list[Path] | None, typer.Argument(help="tracking files, folders or globs: DeepLabCut .h5/.csv, "
                                                            "SLEAP analysis .h5, movement .nc")] = None,
    raw: Annotated[Path, typer.Option(help="raw folder to add the videos to (then `mabe-store build --raw` it)")] = Path("data/own"),
    manifest: Annotated[Path | None, typer.Option(help="CSV, one row per video: tracking, annotations, video_id, lab, fps, "
                                                       "pix_per_cm (or arena_cm, arena_pix), individuals, ...; "
                                                       "empty cells take the options below")] = None,
    annotations: Annotated[Path | None, typer.Option(help="the labels of the one tracking file given (BORIS, Caltech/Bento, "
                                                          "SimBA, frame or interval table); the video goes to train")] = None,
    annotation_format: Annotated[str, typer.Option(help="auto (by content), caltech, bento, boris, boris-aggregated, simba, "
                                                        "frame-table or interval-table")] = "auto",
    self_behaviors: Annotated[str | None, typer.Option(help="comma-separated behaviours of one animal (a label naming only "
                                                           "its actor is otherwise a pair behaviour with the other animal)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto (by content), dlc-h5, dlc-csv, sleap or movement")] = "auto",
    lab: Annotated[str, typer.Option(help="lab_id of these videos (models calibrate per lab)")] = "own",
    split: Annotated[str, typer.Option(help="test (to predict) or train; videos with annotations go to train")] = "test",
    fps: Annotated[float | None, typer.Option(help="frames per second (needed unless the file says it)")] = None,
    pix_per_cm: Annotated[float | None, typer.Option(help="pixels per cm of the arena")] = None,
    arena_cm: Annotated[float | None, typer.Option(help="arena width in cm (with --arena-pix, instead of --pix-per-cm)")] = None,
    arena_pix: Annotated[float | None, typer.Option(help="arena width in pixels")] = None,
    min_confidence: Annotated[float, typer.Option(help="drop points below this confidence (DeepLabCut's usual pcutoff: 0.6)")] = 0.0,
    individuals: Annotated[str | None, typer.Option(help="comma-separated individuals to keep, in mouse1.. order")] = None,
    keypoints: Annotated[Path | None, typer.Option(help="keypoint map YAML adding spellings to the built-in map "
                                                        "(= configs/keypoints.yaml)")] = None,
    behaviors: Annotated[str | None, typer.Option(help="triples to predict, as train.csv's behaviors_labeled: "
                                                       "'mouse1,mouse2,sniff;mouse2,self,rear'")] = None,
) -> None:
    """Import your own pose tracking (and labels) into a raw folder that `mabe-store build` reads; exit 1 if any file failed."""

    def names(text: str | None) -> tuple[str, ...]:
        return tuple(n.strip() for n in text.split(",") if n.strip()) if text else ()

    if not files and manifest is None:
        _fail("give tracking files, folders or globs, or --manifest M.csv")
    opts = ImportOptions(lab=lab, split=split, fps=fps, pix_per_cm=pix_per_cm, arena_cm=arena_cm,
                         arena_pix=arena_pix, min_confidence=min_confidence, keypoints=keypoints, fmt=fmt,
                         annotation_fmt=annotation_format, self_behaviors=names(self_behaviors),
                         individuals=names(individuals),
                         behaviors=tuple(b.strip().replace(" ", "") for b in behaviors.split(";") if b.strip()) if behaviors else ())
    report = import_files(list(files or []), raw, opts, log=typer.echo, manifest=manifest, annotations=annotations)
    total = len(report.imported) + len(report.failed)
    if not report.ok:
        _fail(f"{len(report.failed)} of {total} files not imported (above); the others are in {raw}")
    typer.echo(f"{len(report.imported)} videos in {raw} — next: mabe-store build --raw {raw} --out STORE")


@app.command()
def export(
    video_id: Annotated[str, typer.Argument(help="the video to write out")],
    store: StoreOpt = "data/store.zarr",
    fmt: Annotated[str, typer.Option("--format", help="movement (netCDF) or dlc (.h5 or .csv by --out's suffix)")] = "movement",
    out: Annotated[Path, typer.Option(help="file to write")] = Path("video.nc"),
    storage_option: OptionsOpt = None,
) -> None:
    """Write one store video as a movement netCDF or a DeepLabCut table (mice -> individuals)."""

    s = open_store(store, parse_options(storage_option))
    typer.echo(f"wrote {export_video(s, video_id, fmt, out)}")
    for line in export_notes(s, video_id):
        typer.echo(f"  {line}")


if __name__ == "__main__":
    app()
