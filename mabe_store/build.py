"""`mabe-store build`: every raw video pivoted once, in parallel, into one append-only Zarr store.

Worker threads (`--jobs`) read and pivot whole videos into compact blocks (only the feature
columns a video uses, pivot.Pivoted); the main thread alone writes, in video order, so the store's
layout is deterministic and no two writers ever touch one Zarr chunk. A rerun skips videos whose
fingerprint (files' size+mtime, metadata row) and build config match; any changed or vanished
source rebuilds the store afresh, since the store never rewrites rows in place (see writer.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mabe_store.build_config import BuildConfig
from mabe_store.constants import SPLITS
from mabe_store.errors import MabeStoreError
from mabe_store.pivot import pivot_tracking, read_annotations
from mabe_store.report import BuildReport
from mabe_store.sources import VideoTask, discover, max_frame, meta_notes
from mabe_store.writer import StoreWriter, VideoRows


class BuildError(MabeStoreError):
    """The build cannot start (no metadata, bad config); the message says what to do."""


@dataclass
class Skipped:
    task: VideoTask
    reason: str


def build_video(task: VideoTask, cfg: BuildConfig) -> VideoRows | Skipped:
    """Pivot one video and read its intervals; never raises (problems become Skipped/notes)."""
    try:
        if not task.tracking.is_file():
            return Skipped(task, f"no tracking file {task.split}_tracking/{task.lab_id}/{task.video_id}.parquet")
        piv = pivot_tracking(task.tracking, cfg, max_frame=max_frame(task.meta))
        annotations, notes = [], meta_notes(task.meta) + list(piv.notes)
        if task.annotation is not None and task.annotation.is_file():
            annotations, ann_notes = read_annotations(task.annotation, piv.length)
            notes += ann_notes
        ids = [piv.max_mouse, task.meta["n_mice"]] + [max(a, t) for a, t, *_ in annotations]
        return VideoRows(task.video_id, task.lab_id, task.split, piv.values, piv.columns, annotations,
                         task.meta, max(ids), task.fingerprint, notes, piv.unmapped)
    except MabeStoreError as e:
        return Skipped(task, str(e))
    except Exception as e:  # never let one video take the build down; say what happened
        return Skipped(task, f"unexpected {type(e).__name__}: {str(e)[:100]}")


def _results(tasks: list[VideoTask], cfg: BuildConfig, jobs: int) -> Iterator[VideoRows | Skipped]:
    """Built videos in task order: `jobs` threads pivot ahead (bounded look-ahead) while the caller
    writes. Threads, not processes: the pivot's work runs in Polars and numpy with the GIL released,
    and a worker process cost ~0.4 CPU-s of imports plus pickling every block back and page-faulting
    it in again — +26% CPU and a slower wall time than --jobs 1 on 2 cores."""
    if jobs <= 1:
        for t in tasks:
            yield build_video(t, cfg)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: deque = deque()
        for t in tasks:
            pending.append(pool.submit(build_video, t, cfg))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _where(task: VideoTask) -> str:
    return f"video {task.video_id} ({task.lab_id}, {task.split})"


def _orphans(raw: Path, tasks: list[VideoTask], splits: tuple[str, ...]) -> list[str]:
    listed = {(t.split, t.tracking.name) for t in tasks}
    return [f"{p.relative_to(raw)}: not listed in {split}.csv — not built"
            for split in splits for p in sorted((raw / f"{split}_tracking").glob("*/*.parquet"))
            if (split, p.name) not in listed]


def _open(out: Path, cfg: BuildConfig, raw: Path, tasks: list[VideoTask], splits: tuple[str, ...], log,
          flush: dict) -> StoreWriter:
    if out.exists() and not (out / "zarr.json").exists() and (not out.is_dir() or any(out.iterdir())):
        raise BuildError(f"{out} exists and is not a Zarr store — pass another --out, or delete it yourself")
    source = {"raw": str(raw.resolve()), "builder": "mabe-store build", "splits": list(splits)}
    writer = StoreWriter(out, cfg, source, **flush)
    wanted = {t.video_id: t.fingerprint for t in tasks}
    stale = [v for v, fp in writer.built.items() if wanted.get(v) != fp]
    if stale:
        log(f"{len(stale)} built videos changed or left the raw data or --split {'/'.join(splits)} "
            f"(e.g. {stale[0]}) — rebuilding afresh")
        writer = StoreWriter(out, cfg, source, fresh=True, **flush)
    return writer


def _consume(results, writer: StoreWriter, report: BuildReport, bar, t0: float) -> None:
    """Append built videos in order (the writer commits by rows or time); note the skipped."""
    for res in results:
        bar.update(1)
        if isinstance(res, Skipped):
            report.skipped.append(f"{_where(res.task)}: {res.reason}")
            continue
        writer.append(res)
        report.built += 1
        report.frames += len(res)
        bar.set_postfix_str(f"{report.frames / (time.perf_counter() - t0):,.0f} frames/s")


def build_store(raw: str | Path, out: str | Path, *, cfg: BuildConfig | None = None, jobs: int = 1,
                splits: tuple[str, ...] = SPLITS, progress: bool = True, log: Callable[[str], None] = print,
                flush_rows: int | None = None, flush_seconds: float = 30.0) -> BuildReport:
    """Build or complete the store at `out` from the raw Kaggle layout at `raw`.

    `splits` selects what is read: ("test",) opens no train file at all (not even train.csv), which
    a Kaggle notebook needs when the hidden test set is rerun beside ~10 GB of train tracking.
    The store holds exactly the selected splits; videos of others in an existing store rebuild it."""
    cfg, raw, out, t0 = cfg or BuildConfig(), Path(raw), Path(out), time.perf_counter()
    tasks, rejected = discover(raw, splits)
    try:
        writer = _open(out, cfg, raw, tasks, splits, log, {"flush_rows": flush_rows, "flush_seconds": flush_seconds})
    except OSError as e:
        raise BuildError(f"cannot create the store at {out} ({e.strerror}) — pass --out a path in a "
                         "writable folder") from None
    todo = [t for t in tasks if t.video_id not in writer.built]
    report = BuildReport(already_built=len(tasks) - len(todo), fresh=writer.fresh)
    report.skipped += [f"{w}: {r}" for w, r in rejected] + _orphans(raw, tasks, splits)
    with tqdm(total=len(todo), unit="video", desc="build", disable=not progress, smoothing=0.1) as bar:
        _consume(_results(todo, cfg, jobs), writer, report, bar, t0)
    writer.commit()
    report.seconds = time.perf_counter() - t0
    report.repaired = [f"video {v}: {n}" for v, notes in writer.notes.items() for n in notes]
    report.unmapped = writer.unmapped
    writer.finish(report.to_dict())
    return report
