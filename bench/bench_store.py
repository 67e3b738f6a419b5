"""Benchmark of the store (not a test; `make bench`): build cost, size, objects, reads.

On one synthetic set written the way Kaggle's files are (`synth --profile kaggle --scale S`:
Polars defaults/zstd, int32/int8/string/float32/float32, 3-decimal coordinates), each figure is
the minimum over `--repeats` fresh processes run in alternating order, so imports, page cache
and other work on the machine skew no one method:

- `pyarrow_read`: a bare `pyarrow.parquet.read_table` of every tracking file (the floor);
- `build`: `mabe-store build --jobs 1` into a fresh store;
- `baseline_build` (with `--baseline DIR`, a folder holding another `mabe_store`, e.g. an older
  commit's via `git archive <commit> mabe_store | tar -x -C DIR`): the same build by that code.
Each child times its own work in CPU-seconds of the process (all threads; imports excluded) and
wall seconds. Then, on the built store(s): bytes per keypoint row and per frame vs the raw files,
the features array vs what plain zstd-1 (format 1's codec) gives on the same rows, the number of
objects (files) and their extrapolation to the full set (72M frames), staging (`Store.load`) and
random 100-frame window reads through the reader (`Store.feature_rows`; format 1, which has none,
and the same store once more through plain zarr), again min of fresh processes.

    python bench/bench_store.py [--scale 0.02] [--repeats 3] [--baseline DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import zarr
from zarr.codecs import ZstdCodec

FULL_SET = {"frames": 72_000_000, "videos": 8_789, "annotations": 83_620}
REPO = Path(__file__).resolve().parents[1]


# -- children: one measurement each, in a fresh process ----------------------------------------------
def _child(kind: str, raw: Path, store: Path) -> dict:
    if kind == "pyarrow_read":
        files = sorted(raw.glob("*_tracking/*/*.parquet"))
        t, c = time.perf_counter(), time.process_time()
        for f in files:
            pq.read_table(f)
    elif kind.endswith("build"):
        # the mabe_store under test: this child's PYTHONPATH picks it (a baseline's may differ)
        from mabe_store.build import build_store

        shutil.rmtree(store, ignore_errors=True)
        t, c = time.perf_counter(), time.process_time()
        build_store(raw, store, jobs=1, progress=False, log=lambda _: None)
    elif kind.endswith("load"):
        # the mabe_store under test: this child's PYTHONPATH picks it (a baseline's may differ)
        from mabe_store import open_store

        t, c = time.perf_counter(), time.process_time()
        open_store(store).load()
    else:  # windows: random 100-frame reads of features + actions, through the reader's row API
        # the mabe_store under test: this child's PYTHONPATH picks it (a baseline's may differ)
        from mabe_store import open_store

        s = open_store(store)
        rng = np.random.default_rng(0)
        lengths = s.videos["length"]
        ok = np.flatnonzero(lengths > 100)
        picks = rng.choice(ok, 300)
        if kind.startswith("zarr_") or not hasattr(s, "feature_rows"):  # format 1 has no row API
            feats, acts = s.root["features"], s.root["actions"]
            read = lambda lo, hi: (feats[lo:hi], acts[lo:hi])  # noqa: E731
        else:
            read = lambda lo, hi: (s.feature_rows(lo, hi), s.action_rows(lo, hi))  # noqa: E731
        t, c = time.perf_counter(), time.process_time()
        for i in picks:
            start = int(s.videos["offset"][i] + rng.integers(0, lengths[i] - 100))
            read(start, start + 100)
        return {"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "windows": len(picks)}
    return {"wall": time.perf_counter() - t, "cpu": time.process_time() - c}


def _run_child(kind: str, raw: Path, store: Path, pythonpath: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(raw), str(store)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternating(kinds: dict[str, tuple[Path, Path]], raw: Path, repeats: int) -> dict[str, dict]:
    """{kind: {wall, cpu}} minimum over `repeats` rounds; round r runs the kinds rotated by r."""
    names, best = list(kinds), {}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            store, path = kinds[name]
            got = _run_child(name, raw, store, path)
            got["load1"] = os.getloadavg()[0]
            prev = best.get(name)
            best[name] = got if prev is None else {k: min(v, prev[k]) if k in ("wall", "cpu") else v
                                                   for k, v in got.items()}
    return best


# -- sizes and objects -------------------------------------------------------------------------------
def dir_bytes(path: Path, sub: str = "") -> int:
    return sum(p.stat().st_size for p in (path / sub).rglob("*") if p.is_file())


def raw_figures(raw: Path) -> dict:
    files = sorted(raw.glob("*_tracking/*/*.parquet"))
    rows = sum(pq.read_metadata(f).num_rows for f in files)
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files), "keypoint_rows": rows,
            "created_by": pq.read_metadata(files[0]).created_by,
            "codec": pq.read_metadata(files[0]).row_group(0).column(3).compression}


def store_figures(store: Path) -> dict:
    """Sizes and object counts, read from the files (any format version)."""
    attrs = json.loads((store / "zarr.json").read_text())["attributes"]
    meta = json.loads((store / "videos" / "video_id" / "zarr.json").read_text())
    frames = json.loads((store / "features" / "zarr.json").read_text())["shape"][0]
    n_files = sum(1 for p in store.rglob("*") if p.is_file())
    cfg = attrs["build_config"]
    shard = cfg.get("shard_rows") or cfg["chunk_rows"]
    big = sum(1 for p in store.glob("features/c/**/*") if p.is_file()) + \
        sum(1 for p in store.glob("actions/c/**/*") if p.is_file())
    small = n_files - big
    # at full size: feature/label files grow with frames, table chunk files with rows (few), the
    # rest (metadata) stays; objects per shard-row of features as measured (absent mice skipped)
    per_row_block = big / max(1, -(-frames // shard))
    full_blocks = -(-FULL_SET["frames"] // shard)
    return {"frames": frames, "videos": meta["shape"][0], "bytes": dir_bytes(store),
            "features_bytes": dir_bytes(store, "features"), "actions_bytes": dir_bytes(store, "actions"),
            "objects": n_files, "objects_full_set": round(small + per_row_block * full_blocks),
            "shard_rows": shard, "codec": {k: cfg.get(k) for k in ("codec", "clevel", "shuffle", "transpose")}}


def zstd1_features_bytes(store: Path) -> int:
    """Bytes of the same committed feature rows encoded as format 1 did: (16384, 36) chunks, zstd-1."""
    from mabe_store import open_store  # the repo's, put on sys.path by main()

    s = open_store(store)
    mem = zarr.storage.MemoryStore()
    arr = zarr.create_array(mem, shape=(s.n_frames, s.feature_array.shape[1]), dtype="float32",
                            chunks=(16384, 36), fill_value=np.nan, compressors=ZstdCodec(level=1))
    for lo in range(0, s.n_frames, 262144):
        arr[lo:lo + 262144] = s.feature_array[lo:min(lo + 262144, s.n_frames)]
    return sum(len(v) for k, v in mem._store_dict.items() if not k.endswith("zarr.json"))


# -- main --------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.02, help="kaggle-profile scale (0.02: ~2.2M frames)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", type=Path, default=None, help="folder with another mabe_store to compare")
    ap.add_argument("--raw", type=Path, default=None, help="reuse this synthetic raw folder")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results_store.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        work = Path(tmp)
        raw = args.raw or work / "raw"
        if args.raw is None:
            sys.path.insert(0, str(REPO))
            from mabe_store.synth import synthesize  # only now on sys.path

            synthesize(raw, profile="kaggle", scale=args.scale, seed=0, progress=False)
        result = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg(), "scale": args.scale,
                  "repeats": args.repeats, "raw": raw_figures(raw)}
        kinds = {"pyarrow_read": (work / "none", REPO), "build": (work / "store.zarr", REPO)}
        if args.baseline:
            kinds["baseline_build"] = (work / "baseline.zarr", args.baseline)
        result["runs"] = alternating(kinds, raw, args.repeats)
        print(json.dumps(result["runs"]), flush=True)
        stores = {"store": (work / "store.zarr", REPO)}
        if args.baseline:
            stores["baseline"] = (work / "baseline.zarr", args.baseline)
        reads = {f"{n}_{k}": (p, path) for n, (p, path) in stores.items() for k in ("load", "windows")}
        reads["zarr_store_windows"] = (work / "store.zarr", REPO)  # the same store through plain zarr
        result["reads"] = alternating(reads, raw, args.repeats)
        result["stores"] = {n: store_figures(p) for n, (p, _) in stores.items()}
        result["stores"]["store"]["features_bytes_zstd1"] = zstd1_features_bytes(work / "store.zarr")
    result["loadavg_after"] = os.getloadavg()
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        report(result)
    print(text.getvalue(), end="")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    args.json.with_suffix(".txt").write_text(text.getvalue().lstrip("\n"))
    print(f"wrote {args.json} and {args.json.with_suffix('.txt').name}")


def report(r: dict) -> None:
    raw, runs, reads = r["raw"], r["runs"], r["reads"]
    floor = runs["pyarrow_read"]
    print(f"\nstore benchmark: kaggle profile x{r['scale']}, raw written by {raw['created_by']} ({raw['codec']}), "
          f"{raw['keypoint_rows']:,} keypoint rows in {raw['files']} files; min of {r['repeats']} fresh processes")
    print(f"  {'method':<34}{'wall s':>8}{'CPU s':>8}{'CPU x read':>12}")
    for name, v in runs.items():
        print(f"  {name:<34}{v['wall']:>8.2f}{v['cpu']:>8.2f}{v['cpu'] / floor['cpu']:>11.2f}x")
    print(f"  {'store':<10}{'frames':>12}{'B/frame':>9}{'B/kp row':>10}{'x raw':>7}{'features MB':>13}"
          f"{'objects':>9}{'full set':>10}{'load s':>8}{'load CPU':>9}{'windows/s':>11}")
    print(f"  {'raw':<10}{'':>12}{raw['bytes'] / r['stores']['store']['frames']:>9.1f}"
          f"{raw['bytes'] / raw['keypoint_rows']:>10.2f}{1:>7.2f}")
    for name, s in r["stores"].items():
        w = reads[f"{name}_windows"]
        print(f"  {name:<10}{s['frames']:>12,}{s['bytes'] / s['frames']:>9.1f}{s['bytes'] / raw['keypoint_rows']:>10.2f}"
              f"{s['bytes'] / raw['bytes']:>7.2f}{s['features_bytes'] / 1e6:>13.1f}{s['objects']:>9}"
              f"{s['objects_full_set']:>10,}{reads[f'{name}_load']['wall']:>8.2f}{reads[f'{name}_load']['cpu']:>9.2f}"
              f"{w['windows'] / w['wall']:>11,.0f}")
    if "zarr_store_windows" in reads:
        w = reads["zarr_store_windows"]
        print(f"  the store's windows through plain zarr instead of the reader: {w['windows'] / w['wall']:,.0f}/s")
    s = r["stores"]["store"]
    print(f"  features: {s['features_bytes'] / 1e6:.1f} MB = {s['features_bytes'] / s['features_bytes_zstd1']:.2f} x "
          f"plain zstd-1 on the same rows ({s['features_bytes_zstd1'] / 1e6:.1f} MB)")
    print(f"  load average before/after: {r['loadavg_before'][0]:.1f} / {r['loadavg_after'][0]:.1f} on {r['cpus']} cores")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        main()
