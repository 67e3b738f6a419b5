"""`synthesize`: write a whole raw dataset in the Kaggle layout (csv files + parquet per video).

Why: the store, the trainer and the metric must be exercised on data shaped exactly like the
competition's without the 2.6 GB download. Videos are generated in a process pool (one task per
video, seeded by (seed, video_id), so output bytes do not depend on the number of workers); the
csv files are written afterwards, because the quirky labs' `behaviors_labeled` lists the triples
that actually occur in each video. Workers are spawned, not forked (see `synthesize`). Measured:
2.24M frames (`--profile kaggle --scale 0.02`, files written by Polars with 3-decimal
coordinates) in 34.8 s with one worker at load ~4 on 2 cores (64k frames/s).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from mabe_store.constants import entry_text, mouse_name
from mabe_store.log import progress_bar
from mabe_store.synth.profiles import QUIRKY_LABS, SynthError, VideoSpec, lab_table, plan
from mabe_store.synth.semireal import copy_annotations, plan_from_real
from mabe_store.synth.video import make_video

COLUMNS = (
    ["lab_id", "video_id"]
    + [f"{mouse_name(m)}_{k}" for m in range(1, 5) for k in ("strain", "color", "sex", "id", "age", "condition")]
    + ["frames_per_second", "video_duration_sec", "pix_per_cm_approx", "video_width_pix",
       "video_height_pix", "arena_width_cm", "arena_height_cm", "arena_shape", "arena_type",
       "body_parts_tracked", "behaviors_labeled", "tracking_method"]
)
PROFILES = ("small", "kaggle")


@dataclass(frozen=True)
class SynthSummary:
    n_videos: int
    n_frames: int
    n_labs: int
    seconds: float
    out: Path
    n_test: int = 0

    def line(self) -> str:
        return (f"wrote {self.n_videos} videos ({self.n_test} test) from {self.n_labs} labs, "
                f"{self.n_frames:,} frames to {self.out} in {self.seconds:.1f}s "
                f"({self.n_frames / max(self.seconds, 1e-9):,.0f} frames/s)")


def _check(out: Path, profile: str, videos, scale: float, from_real: Path | None, labs) -> None:
    problems = []
    if out.exists() and not out.is_dir():
        problems.append(f"--out {out} is a file; choose a folder")
    unknown = sorted(set(labs or ()) - set(lab_table()))
    if unknown:
        problems.append(f"unknown labs {', '.join(unknown)} (known: {', '.join(lab_table())})")
    if profile not in PROFILES:
        problems.append(f"unknown profile {profile!r} (choose one of {', '.join(PROFILES)})")
    if videos is not None and videos < 1:
        problems.append(f"--videos must be >= 1, got {videos}")
    if not 0 < scale <= 1:
        problems.append(f"--scale must be in (0, 1], got {scale}")
    if from_real is not None and not (Path(from_real) / "train.csv").is_file():
        problems.append(f"--from-real {from_real} has no train.csv (point it at an unpacked "
                        "competition folder such as ../shared/mabe-real)")
    if problems:
        raise SynthError("; ".join(problems))


def synthesize(out: Path, *, profile: str = "small", videos: int | None = None, scale: float = 1.0,
               seed: int = 0, from_real: Path | None = None, progress: bool = True,
               labs: tuple[str, ...] | None = None, workers: int | None = None) -> SynthSummary:
    """Write a synthetic (or, with `from_real`, semi-real) raw dataset into `out`.

    profile: "small" (6 labs x 5 videos of 3,000-6,000 frames, 3 MABe22 videos, 4 test videos) or
    "kaggle" (the full set's 8,789 videos). videos: cap on train videos, labs taken in turn.
    scale: fraction of the frames (kaggle: of the videos per lab; small/from_real: of each
    video's length). from_real: a folder with a real train.csv + train_annotation/ whose labels
    are kept (semi-real). labs: keep only these lab ids. workers: processes (default: all cores).
    Files of an earlier dataset in `out` (the Kaggle-layout names only) are replaced.
    Raises SynthError listing every bad argument.
    """
    out = Path(out)
    _check(out, profile, videos, scale, from_real, labs)
    t0 = time.perf_counter()
    if from_real is not None:
        specs = plan_from_real(Path(from_real), videos=videos, scale=scale, labs=labs)
    else:
        specs = plan(profile, videos=videos, scale=scale, seed=seed, labs=labs)
    if not specs:
        raise SynthError(f"no videos selected (labs={labs}); check --labs against the lab names")
    _clear(out)
    occurring = _generate(specs, seed, out, progress, workers)
    _write_csvs(specs, occurring, out, from_real, seed)
    n_test = sum(s.split == "test" for s in specs)
    return SynthSummary(len(specs), sum(s.n_frames for s in specs), len({s.lab_id for s in specs}),
                        time.perf_counter() - t0, out, n_test)


def _clear(out: Path) -> None:
    """Remove a previous dataset's files (only the Kaggle-layout names) so runs never mix."""
    for name in ("train_tracking", "train_annotation", "test_tracking"):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _one(args) -> tuple[int, list]:
    spec, seed, out = args
    return make_video(spec, lab_table()[spec.lab_id], seed, out)


def _generate(specs: list[VideoSpec], seed: int, out: Path, progress: bool, workers) -> list[list]:
    workers = workers or min(len(specs), os.cpu_count() or 1)
    tasks = [(s, seed, out) for s in specs]
    bar = progress_bar(total=sum(s.n_frames for s in specs), unit="frame", unit_scale=True,
                       desc="synth", enabled=progress)
    results: list = [None] * len(tasks)
    with bar:
        if workers <= 1:
            for i, t in enumerate(tasks):
                results[i] = _one(t)
                bar.update(results[i][0])
        else:
            # spawn, not fork: the workers write with Polars, whose thread pool a forked child of
            # a process that already used Polars (a test session, a notebook) inherits locked
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(_one, t): i for i, t in enumerate(tasks)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(results[futures[fut]][0])
    return [occ for _, occ in results]


def _entry(a: int, g: int, act: str) -> str:
    return entry_text(a, g, act)


def behaviors_labeled(spec: VideoSpec, occurring: list[tuple]) -> str:
    """The JSON list; quirky labs: quoted copies of the pair whitelist, then what occurred."""
    if not spec.triples:
        return ""
    if spec.lab_id not in QUIRKY_LABS:
        return json.dumps([_entry(*t) for t in spec.triples])
    pair_acts = list(dict.fromkeys(act for a, g, act in spec.triples if a != g))
    pair_acts.sort(key=lambda act: act != "sniff")  # the real files list 'sniff' first
    quoted = [f"{q}mouse1','mouse2','{act}'" for q, act in
              zip(["'"] + [""] * len(pair_acts), pair_acts, strict=False)]
    return json.dumps(quoted + [_entry(*t) for t in occurring])


def _row(spec: VideoSpec, occurring: list[tuple], seed: int) -> dict:
    if spec.csv_row is not None:
        return spec.csv_row
    p = lab_table()[spec.lab_id]
    m = p.meta
    row = {"lab_id": spec.lab_id, "video_id": spec.video_id}
    for i in range(1, 5):
        here = i <= spec.n_mice
        for k in ("strain", "color", "sex", "age", "condition"):
            row[f"{mouse_name(i)}_{k}"] = m["mouse"][k] if here and m["mouse"][k] is not None else ""
        row[f"{mouse_name(i)}_id"] = float((spec.video_id * 7 + i * 13 + seed) % 97) if here else ""
    row.update(
        frames_per_second=spec.fps, video_duration_sec=round(spec.n_frames / spec.fps, 2),
        pix_per_cm_approx=float(m["pix_per_cm_approx"]), video_width_pix=m["video_width_pix"],
        video_height_pix=m["video_height_pix"], arena_width_cm=float(m["arena_width_cm"]),
        arena_height_cm=float(m["arena_height_cm"]), arena_shape=m["arena_shape"],
        arena_type=m["arena_type"] or "", body_parts_tracked=json.dumps(sorted(spec.body_parts)),
        behaviors_labeled=behaviors_labeled(spec, occurring), tracking_method=m["tracking_method"])
    return row


def _write_csvs(specs, occurring, out: Path, from_real: Path | None, seed: int) -> None:
    rows = {"train": [], "test": []}
    for spec, occ in zip(specs, occurring, strict=True):
        rows[spec.split].append(_row(spec, occ, seed))
        if spec.real_annotations and spec.split == "train":
            copy_annotations(spec, out)
    for split, rs in rows.items():
        with open(out / f"{split}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rs)
    test_ids = {str(s.video_id) for s in specs if s.split == "test"}
    real_sub = Path(from_real) / "sample_submission.csv" if from_real else None
    if real_sub is not None and real_sub.is_file():
        with open(real_sub, newline="") as f:
            kept = [r for r in csv.reader(f)]
        kept = kept[:1] + [r for r in kept[1:] if r[1] in test_ids]
        if len(kept) > 1:
            with open(out / "sample_submission.csv", "w", newline="") as f:
                csv.writer(f).writerows(kept)
            return
    _write_sample_submission(specs, out)


def _write_sample_submission(specs: list[VideoSpec], out: Path) -> None:
    """One placeholder row per test video, in the real file's columns and id forms."""
    with open(out / "sample_submission.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "video_id", "agent_id", "target_id", "action", "start_frame",
                    "stop_frame"])
        for i, spec in enumerate(s for s in specs if s.split == "test"):
            pair = next(((a, g, act) for a, g, act in spec.triples if a != g), (1, 2, "sniff"))
            w.writerow([i, spec.video_id, mouse_name(pair[0]), mouse_name(pair[1]), pair[2], 0, 1])
