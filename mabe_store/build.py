"""`mabe-store build`: every raw video pivoted once, in parallel, into one append-only Zarr store.

Worker threads (`--jobs`) read and pivot whole videos into compact blocks (only the feature
columns a video uses, pivot.Pivoted); the main thread alone writes, in video order, so the store's
layout is deterministic and no two writers ever touch one Zarr chunk. A rerun skips videos whose
fingerprint (files' size+mtime, metadata row) and build config match; any changed or vanished
source rebuilds the store afresh, since the store never rewrites rows in place (see writer.py).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mabe_store.behaviors import BehaviorsParseError, parse_entry
from mabe_store.build_config import BuildConfig
from mabe_store.constants import ACTION_INDEX, ACTIONS, SPLITS
from mabe_store.format import rasterise
from mabe_store.pivot import InputError, pivot_tracking, read_annotations
from mabe_store.report import BuildReport
from mabe_store.sources import SourceError, VideoTask, discover
from mabe_store.writer import StoreWriter


class BuildError(Exception):
    """The build cannot start (no metadata, bad config); the message says what to do."""


@dataclass
class BuiltVideo:
    task: VideoTask
    values: np.ndarray  # (T, C) float32, the used feature columns only (see pivot.Pivoted)
    columns: np.ndarray  # (C,) store columns of `values`
    actions: np.ndarray  # (T, A) uint8
    annotations: list[tuple[int, int, str, int, int]]
    labeled: list[tuple[int, int, int]]  # clean (agent, target, action index)
    labeled_mask: np.ndarray  # (A,) uint8
    n_mice: int
    notes: list[str] = field(default_factory=list)
    unmapped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)

    def annotation_rows(self) -> list[tuple[int, int, int, int, int]]:
        return [(a, t, ACTION_INDEX[act], s, e) for a, t, act, s, e in self.annotations]

    def table_row(self) -> dict:
        m = self.task.meta
        return {"video_id": self.task.video_id, "lab_id": self.task.lab_id, "split": self.task.split,
                "fps": m["fps"], "pix_per_cm": m["pix_per_cm"], "n_mice": self.n_mice,
                "width_pix": m["width_pix"], "height_pix": m["height_pix"],
                "behaviors_labeled": m["behaviors_labeled"], "source": self.task.fingerprint}


@dataclass
class Skipped:
    task: VideoTask
    reason: str


def parse_labeled(text: str) -> tuple[list[tuple[int, int, int]], list[str]]:
    """Clean (agent, target, action index) entries, deduplicated, and notes on unreadable ones."""
    text = (text or "").strip()
    if text in ("", "[]", "nan", "None"):
        return [], []
    try:
        entries = json.loads(text)
    except json.JSONDecodeError:
        return [], [f"behaviors_labeled is not a JSON list ({text[:40]!r}…): no labeled actions kept"]
    if not isinstance(entries, list):
        return [], ["behaviors_labeled is not a list: no labeled actions kept"]
    out, bad = {}, []
    for entry in entries:
        try:
            t = parse_entry(str(entry))
        except BehaviorsParseError:
            bad.append(str(entry))
            continue
        if t.clean:
            out.setdefault((t.agent, t.target, ACTION_INDEX[t.action]), None)
    notes = [f"behaviors_labeled: ignored {len(bad)} unreadable entries (e.g. {bad[0]!r})"] if bad else []
    return list(out), notes


def build_video(task: VideoTask, cfg: BuildConfig) -> BuiltVideo | Skipped:
    """Pivot one video and rasterise its labels; never raises (problems become Skipped/notes)."""
    try:
        if not task.tracking.is_file():
            return Skipped(task, f"no tracking file {task.split}_tracking/{task.lab_id}/{task.video_id}.parquet")
        piv = pivot_tracking(task.tracking, cfg)
        annotations, notes = [], list(piv.notes)
        if task.annotation is not None and task.annotation.is_file():
            annotations, ann_notes = read_annotations(task.annotation, piv.length)
            notes += ann_notes
        labeled, lab_notes = parse_labeled(task.meta["behaviors_labeled"])
        mask = np.zeros(len(ACTIONS), dtype=np.uint8)
        mask[[a for _, _, a in labeled]] = 1
        ids = [piv.max_mouse, task.meta["n_mice"]] + [max(a, t) for a, t, *_ in annotations]
        return BuiltVideo(task, piv.values, piv.columns, rasterise(annotations, piv.length), annotations, labeled,
                          mask, max(ids), notes + lab_notes, piv.unmapped)
    except InputError as e:
        return Skipped(task, str(e))
    except Exception as e:  # never let one video take the build down; say what happened
        return Skipped(task, f"unexpected {type(e).__name__}: {str(e)[:100]}")


def _results(tasks: list[VideoTask], cfg: BuildConfig, jobs: int) -> Iterator[BuiltVideo | Skipped]:
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


def _orphans(raw: Path, tasks: list[VideoTask]) -> list[str]:
    listed = {(t.split, t.tracking.name) for t in tasks}
    return [f"{p.relative_to(raw)}: not listed in {split}.csv — not built"
            for split in SPLITS for p in sorted((raw / f"{split}_tracking").glob("*/*.parquet"))
            if (split, p.name) not in listed]


def _open(out: Path, cfg: BuildConfig, raw: Path, tasks: list[VideoTask], log) -> StoreWriter:
    if out.exists() and not (out / "zarr.json").exists() and (not out.is_dir() or any(out.iterdir())):
        raise BuildError(f"{out} exists and is not a Zarr store — pass another --out, or delete it yourself")
    source = {"raw": str(raw.resolve()), "builder": "mabe-store build"}
    writer = StoreWriter(out, cfg, source)
    wanted = {t.video_id: t.fingerprint for t in tasks}
    stale = [v for v, fp in writer.built.items() if wanted.get(v) != fp]
    if stale:
        log(f"{len(stale)} built videos changed or left the raw data (e.g. {stale[0]}) — rebuilding afresh")
        writer = StoreWriter(out, cfg, source, fresh=True)
    return writer


def _consume(results, writer: StoreWriter, report: BuildReport, bar, flush_rows: int, flush_seconds: float,
             t0: float) -> None:
    """Append built videos in batches (by rows or time since the last commit); note the skipped."""
    batch, last = [], time.perf_counter()
    for res in results:
        bar.update(1)
        if isinstance(res, Skipped):
            report.skipped.append(f"{_where(res.task)}: {res.reason}")
            continue
        batch.append(res)
        report.built += 1
        report.frames += len(res)
        bar.set_postfix_str(f"{report.frames / (time.perf_counter() - t0):,.0f} frames/s")
        if sum(map(len, batch)) >= flush_rows or time.perf_counter() - last > flush_seconds:
            writer.append(batch)
            batch, last = [], time.perf_counter()
    writer.append(batch)


def build_store(raw: str | Path, out: str | Path, *, cfg: BuildConfig | None = None, jobs: int = 1,
                progress: bool = True, log: Callable[[str], None] = print,
                flush_rows: int | None = None, flush_seconds: float = 5.0) -> BuildReport:
    """Build or complete the store at `out` from the raw Kaggle layout at `raw`."""
    cfg, raw, out, t0 = cfg or BuildConfig(), Path(raw), Path(out), time.perf_counter()
    try:
        tasks, rejected = discover(raw)
    except SourceError as e:
        raise BuildError(str(e)) from None
    try:
        writer = _open(out, cfg, raw, tasks, log)
    except OSError as e:
        raise BuildError(f"cannot create the store at {out} ({e.strerror}) — pass --out a path in a "
                         "writable folder") from None
    todo = [t for t in tasks if t.video_id not in writer.built]
    report = BuildReport(already_built=len(tasks) - len(todo), fresh=writer.fresh)
    report.skipped += [f"{w}: {r}" for w, r in rejected] + _orphans(raw, tasks)
    flush_rows = flush_rows or 16 * cfg.chunk_rows  # ~150 MB dense: few commits, bounded memory
    with tqdm(total=len(todo), unit="video", desc="build", disable=not progress, smoothing=0.1) as bar:
        _consume(_results(todo, cfg, jobs), writer, report, bar, flush_rows, flush_seconds, t0)
    report.seconds = time.perf_counter() - t0
    report.repaired = [f"video {v}: {n}" for v, notes in writer.notes.items() for n in notes]
    report.unmapped = writer.unmapped
    writer.finish(report.to_dict())
    return report
