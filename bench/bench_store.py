"""Benchmark of `mabe-store build` (not a test; `make bench`).

On one synthetic dataset (`synth --profile kaggle --scale 0.005`, 1.33M frames), in one run: the store build vs the original design's pandas
`pivot_table` vs a bare pyarrow read of the same files (the floor no pivot can beat), as frames/s
and ratios (a bare Polars read too, for context); the store's size vs the raw tracking parquet; and the build time at 1x and 4x data (4 hard-linked copies
under new ids; cost should grow linearly). `--codecs` adds the compression sweep that chose configs/store.yaml;
`--kaggle SCALE` times a build of `synth --profile kaggle --scale SCALE` and extrapolates it to
the full set (72M frames). Prints a table and writes JSON (`--json`).

    python bench/bench_store.py [--scale 0.005] [--jobs 2] [--codecs] [--kaggle 0.1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from mabe_store import open_store
from mabe_store.build import build_store
from mabe_store.build_config import make_config
from mabe_store.pivot import pivot_tracking
from mabe_store.synth import synthesize

FULL_SET_FRAMES = 72_000_000


def tracking_files(raw: Path) -> list[Path]:
    return sorted(raw.glob("*_tracking/*/*.parquet"))


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(fn) -> float:
    return measured(fn)[0]


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


LOADS: dict[str, float] = {}  # 1-min load average at the end of each measurement, by label


def measured(fn, label: str | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children). CPU time is the
    figure to trust on a shared machine; wall time is what a user waits."""
    t, c = time.perf_counter(), _cpu()
    fn()
    out = time.perf_counter() - t, _cpu() - c
    if label:
        LOADS[label] = os.getloadavg()[0]
    return out


def replicate(raw: Path, out: Path, times: int) -> None:
    """`times` copies of a raw dataset under new video ids (hard links): exactly `times` x the data."""
    import polars as pl

    for split in ("train", "test"):
        meta = pl.read_csv(raw / f"{split}.csv", infer_schema=False)
        copies = []
        for k in range(times):
            copy = meta.with_columns((pl.col("video_id").cast(pl.Int64) + k * 10**10).cast(pl.String))
            for (lab, old), new in zip(meta.select("lab_id", "video_id").iter_rows(), copy["video_id"], strict=True):
                kinds = [f"{split}_tracking"] + (["train_annotation"] if split == "train" else [])
                for kind in kinds:
                    src = raw / kind / lab / f"{old}.parquet"
                    if src.exists():
                        (out / kind / lab).mkdir(parents=True, exist_ok=True)
                        (out / kind / lab / f"{new}.parquet").hardlink_to(src)
            copies.append(copy)
        pl.concat(copies).write_csv(out / f"{split}.csv")


def bare_read(raw: Path) -> None:
    for f in tracking_files(raw):
        pq.read_table(f)


def bare_polars_read(raw: Path) -> None:
    """Context, not the floor: Polars decodes these files ~3x cheaper (CPU) than pyarrow here."""
    import polars as pl

    for f in tracking_files(raw):
        pl.read_parquet(f)


def pandas_pivot(raw: Path) -> None:
    """The original design: per video, pandas pivot_table, reindexed to the same dense
    (frames, 4 mice x 18 slots x {x, y}) block the store holds (no writing: favours pandas)."""
    import pandas as pd

    slots = make_config().keypoints
    full = pd.MultiIndex.from_product([range(1, 5), slots, ["x", "y"]])
    for f in tracking_files(raw):
        df = pd.read_parquet(f)
        wide = df.pivot_table(index="video_frame", columns=["mouse_id", "bodypart"], values=["x", "y"])
        wide.columns = wide.columns.reorder_levels([1, 2, 0])
        wide.reindex(index=range(int(df["video_frame"].max()) + 1), columns=full).to_numpy(dtype=np.float32)


def polars_pivot(raw: Path) -> None:
    """The store's pivot alone (same output as `pandas_pivot`, no labels, no writing)."""
    cfg = make_config()
    for f in tracking_files(raw):
        _ = pivot_tracking(f, cfg).features


def build(raw: Path, out: Path, jobs: int, label: str | None = None, **cfg) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    return measured(lambda: build_store(raw, out, cfg=make_config(**cfg), jobs=jobs, progress=False,
                                        log=lambda _: None), label)


def main_bench(work: Path, scale: float, jobs: int) -> dict:
    raw1, raw4 = work / "raw1", work / "raw4"
    synthesize(raw1, profile="kaggle", scale=scale, seed=0, progress=False)
    replicate(raw1, raw4, 4)
    runs = {"build": build(raw1, work / "store.zarr", jobs, "build")}
    frames1 = open_store(work / "store.zarr").n_frames
    size_store, size_raw = dir_bytes(work / "store.zarr"), sum(f.stat().st_size for f in tracking_files(raw1))
    runs["build_jobs1"] = build(raw1, work / "store1.zarr", 1, "build_jobs1")
    runs["pyarrow_read"] = measured(lambda: bare_read(raw1), "pyarrow_read")
    runs["polars_read"] = measured(lambda: bare_polars_read(raw1), "polars_read")
    runs["pandas_pivot_table"] = measured(lambda: pandas_pivot(raw1), "pandas_pivot_table")
    runs["pivot_only"] = measured(lambda: polars_pivot(raw1), "pivot_only")
    build4 = build(raw4, work / "store4.zarr", jobs, "build_4x")
    build4_1 = build(raw4, work / "store4.zarr", 1, "build_4x_jobs1")  # back to back: --jobs on more data
    frames4 = open_store(work / "store4.zarr").n_frames
    fps = {k: frames1 / wall for k, (wall, _) in runs.items()}
    fpc = {k: frames1 / cpu for k, (_, cpu) in runs.items()}
    return {
        "frames_1x": frames1, "frames_4x": frames4, "jobs": jobs, "frames_per_s": fps, "frames_per_cpu_s": fpc,
        "wall_seconds": {k: w for k, (w, _) in runs.items()} | {"build_4x": build4[0], "build_4x_jobs1": build4_1[0]},
        "cpu_seconds": {k: c for k, (_, c) in runs.items()} | {"build_4x": build4[1], "build_4x_jobs1": build4_1[1]},
        "load_after": dict(LOADS),
        "build_vs_pandas": fps["build"] / fps["pandas_pivot_table"],
        "build_vs_pandas_cpu": fpc["build_jobs1"] / fpc["pandas_pivot_table"],
        "build_slowdown_vs_floor": fps["pyarrow_read"] / fps["build"],
        "build_slowdown_vs_floor_cpu": fpc["pyarrow_read"] / fpc["build_jobs1"],
        "time_ratio_4x_over_1x": build4[0] / runs["build"][0], "cpu_ratio_4x_over_1x": build4[1] / runs["build"][1],
        "frames_ratio_4x_over_1x": frames4 / frames1,
        "store_bytes": size_store, "raw_parquet_bytes": size_raw, "store_over_raw": size_store / size_raw,
    }


def codec_sweep(raw: Path, work: Path) -> list[dict]:
    rows = []
    for codec, clevel, shuffle in [("zstd", 1, "shuffle"), ("blosc-zstd", 1, "shuffle"), ("blosc-zstd", 3, "shuffle"),
                                   ("blosc-zstd", 3, "bitshuffle"), ("blosc-lz4", 5, "shuffle"),
                                   ("zstd", 3, "shuffle"), ("none", 0, "shuffle")]:
        for chunk_rows in (4096, 16384, 65536):
            out = work / "codec.zarr"
            t, _ = build(raw, out, 1, None, codec=codec, clevel=clevel, shuffle=shuffle, chunk_rows=chunk_rows)
            s = open_store(out)
            t_read = timed(lambda s=s: s.load())
            rows.append({"codec": codec, "clevel": clevel, "shuffle": shuffle, "chunk_rows": chunk_rows,
                         "build_s": t, "load_s": t_read, "store_bytes": dir_bytes(out),
                         "frames": s.n_frames})
    return rows


def kaggle_extrapolation(work: Path, scale: float, jobs: int) -> dict:
    raw = work / "kaggle"
    t_synth = timed(lambda: synthesize(raw, profile="kaggle", scale=scale, seed=0, progress=False))
    t, cpu = build(raw, work / "kaggle.zarr", jobs, "kaggle")
    frames = open_store(work / "kaggle.zarr").n_frames
    return {"scale": scale, "frames": frames, "synth_s": t_synth, "build_s": t, "build_cpu_s": cpu, "jobs": jobs,
            "frames_per_s": frames / t, "full_set_minutes": FULL_SET_FRAMES / (frames / t) / 60,
            "full_set_cpu_minutes": FULL_SET_FRAMES / (frames / cpu) / 60,
            "store_bytes": dir_bytes(work / "kaggle.zarr"),
            "raw_parquet_bytes": sum(f.stat().st_size for f in tracking_files(raw))}


def print_table(r: dict) -> None:
    fps, fpc = r["frames_per_s"], r["frames_per_cpu_s"]
    print(f"\nstore build benchmark — {r['frames_1x']:,} frames (1x), jobs={r['jobs']}")
    print(f"  {'method':<36}{'frames/s':>11}{'vs pandas':>10}{'frames/CPU-s':>14}{'vs pandas':>10}")
    for name, label in (("pyarrow_read", "bare pyarrow read (floor)"), ("polars_read", "bare polars read (context)"), ("build", f"mabe-store build (jobs={r['jobs']})"),
                        ("build_jobs1", "mabe-store build (jobs=1)"), ("pivot_only", "store pivot only (jobs=1)"),
                        ("pandas_pivot_table", "pandas pivot_table (same output)")):
        pd_w, pd_c = fps["pandas_pivot_table"], fpc["pandas_pivot_table"]
        print(f"  {label:<36}{fps[name]:>11,.0f}{fps[name] / pd_w:>9.1f}x{fpc[name]:>14,.0f}{fpc[name] / pd_c:>9.1f}x")
    print(f"  build is {r['build_vs_pandas']:.1f}x pandas and {r['build_slowdown_vs_floor']:.2f}x slower than the floor "
          f"(wall); per CPU-second {r['build_vs_pandas_cpu']:.1f}x and {r['build_slowdown_vs_floor_cpu']:.2f}x")
    print(f"  store {r['store_bytes'] / 1e6:.1f} MB vs raw parquet {r['raw_parquet_bytes'] / 1e6:.1f} MB "
          f"({r['store_over_raw']:.2f}x)")
    w, c = r["wall_seconds"], r["cpu_seconds"]
    print(f"  1x {w['build']:.2f} s ({c['build']:.2f} CPU-s), 4x {w['build_4x']:.2f} s ({c['build_4x']:.2f} CPU-s): "
          f"wall x{r['time_ratio_4x_over_1x']:.2f}, CPU x{r['cpu_ratio_4x_over_1x']:.2f} for frames x{r['frames_ratio_4x_over_1x']:.2f}")
    print(f"  4x back to back: jobs={r['jobs']} {w['build_4x']:.2f} s ({c['build_4x']:.2f} CPU-s), "
          f"jobs=1 {w['build_4x_jobs1']:.2f} s ({c['build_4x_jobs1']:.2f} CPU-s)")
    print("  1-min load average after each run: " + ", ".join(f"{k} {v:.1f}" for k, v in r["load_after"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.005, help="kaggle-profile scale of the 1x dataset")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--codecs", action="store_true", help="also sweep codecs and chunk sizes")
    ap.add_argument("--kaggle", type=float, default=None, help="also time a kaggle-profile build at this scale")
    ap.add_argument("--json", type=Path, default=Path("bench/results_store.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        work = Path(tmp)
        result = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()}
        result |= main_bench(work, args.scale, args.jobs)
        print_table(result)
        if args.codecs:
            result["codecs"] = codec_sweep(work / "raw1", work)
            print("\n  codec       clevel shuffle     chunk  build s  load s   MB")
            for c in result["codecs"]:
                print(f"  {c['codec']:<12}{c['clevel']:>6} {c['shuffle']:<11}{c['chunk_rows']:>6}"
                      f"{c['build_s']:>9.2f}{c['load_s']:>8.2f}{c['store_bytes'] / 1e6:>6.1f}")
        if args.kaggle:
            k = result["kaggle"] = kaggle_extrapolation(work, args.kaggle, args.jobs)
            print(f"\n  kaggle profile x{k['scale']}: {k['frames']:,} frames built in {k['build_s']:.1f} s "
                  f"({k['frames_per_s']:,.0f} frames/s, jobs={k['jobs']}) -> full set ~{k['full_set_minutes']:.1f} min "
                  f"({k['full_set_cpu_minutes']:.1f} CPU-min); "
                  f"store {k['store_bytes'] / 1e6:.0f} MB vs raw {k['raw_parquet_bytes'] / 1e6:.0f} MB")
    result["loadavg_after"] = os.getloadavg()  # other work on the machine skews every figure
    print(f"load average before/after: {result['loadavg_before'][0]:.1f} / {result['loadavg_after'][0]:.1f} "
          f"on {result['cpus']} cores")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
