"""Long tracking rows -> each row's destination column in the store, computed, never hashed.

The raw tracking is long: one row per (video_frame, mouse_id, bodypart) with x, y. A pivot table
would hash every row on three keys; here each row's destination is arithmetic instead:
`row = video_frame`, `column = ((mouse_id - 1) * K + slot) * 2 + c`. `bodypart` is read as
integer codes into a small table of names (the parquet dictionary, or a Polars Categorical on the
general path), so one int32 lookup table, indexed by `mouse_id * n_names + code`, gives every
row its x column in one gather; rows of parts that fit no slot get the "trash" column `width`
(and `width + 1` for y), so nothing is filtered or copied. The rows stay rows (`Pivoted.parts`,
one per parquet record batch, used in place): the writer scatters them straight into its
column-major shard buffer (`Pivoted.scatter`), so no per-video dense block is ever built — on
the kaggle-shaped set that, with the free transpose it gives the writer, took a build from 3.44 x (an
earlier run) to 2.68 x a bare pyarrow read (bench/bench_store.py).
The trade-off: duplicate rows for one (frame, mouse, part) are not merged — the last one wins —
whereas parts that share a slot on purpose (the `headpiece_*` points) are averaged explicitly by a
group-by over just their rows, scattered after the others.

Bad rows are repaired, not fatal, and never silently: rows whose mouse id is outside 1..4, whose
frame is missing or negative, or (given the video's duration) far past its last frame are dropped;
coordinates that do not parse, are not finite or lie beyond MAX_COORD pixels are stored as
untracked; each kind is counted in `notes`. Body parts that fit no slot are counted per name in
`unmapped`. Anything that makes the whole file unusable raises `InputError` with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from mabe_store.build_config import BuildConfig
from mabe_store.constants import ACTION_INDEX, FRAME_SLACK, N_MICE
from mabe_store.errors import MabeStoreError

TRACKING_COLUMNS = ("video_frame", "mouse_id", "bodypart", "x", "y")
ANNOTATION_COLUMNS = ("agent_id", "target_id", "action", "start_frame", "stop_frame")
MAX_FRAMES = 5_000_000  # ~46 h at 30 fps: a larger video_frame is corrupt data, not a video
MAX_COORD = 1e5  # pixels: a coordinate beyond it (e.g. 1e38) is corrupt, stored as untracked
POOL = pa.system_memory_pool()  # see _read_arrow

Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (frame, mouse, code, x, y)
Part = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (frame, x column, x, y)


class InputError(MabeStoreError):
    """One raw file cannot be used; the message is the one-line reason shown in the report."""


@dataclass
class Pivoted:
    """A video's keypoints as rows with computed destinations: each part of `parts` is (frame,
    col, x, y) arrays, `col` int32 the x column of the row (y goes to col + 1), `width` for rows
    that are not stored. `columns` (C,) int64 lists the store columns that hold any row (ascending
    x/y pairs; a 2-mouse, 7-part lab fills 28 of 144). `features` lays them out densely."""

    parts: list[Part]
    columns: np.ndarray
    length: int
    width: int
    max_mouse: int
    unmapped: dict[str, int] = field(default_factory=dict)  # body part -> rows not stored
    notes: list[str] = field(default_factory=list)  # repairs made, one line each

    def scatter(self, flat: np.ndarray, stride: int, base: int, lo: int = 0, hi: int | None = None) -> None:
        """Rows with lo <= frame < hi into a column-major buffer of `stride` rows and >= width + 2
        columns, given flat: x at `flat[col * stride + frame + base]`, y one column on. Later parts
        overwrite earlier ones (the averaged rows come last)."""
        hi = self.length if hi is None else hi
        dtype = np.int32 if flat.size < 2**31 else np.int64
        for frame, col, x, y in self.parts:
            if lo > 0 or hi < self.length:
                keep = (frame >= lo) & (frame < hi)
                frame, col, x, y = frame[keep], col[keep], x[keep], y[keep]
            pos = col.astype(dtype, copy=False) * dtype(stride)
            pos += frame
            pos += base
            flat[pos] = x
            pos += stride
            flat[pos] = y

    @property
    def features(self) -> np.ndarray:
        """(length, width) float32, NaN where untracked."""
        out = np.full((self.width + 2, self.length), np.nan, dtype=np.float32)
        self.scatter(out.reshape(-1), self.length, 0)
        return np.ascontiguousarray(out[:self.width].T)


def _scan(path: Path, required: tuple[str, ...]) -> pl.LazyFrame:
    try:
        lf = pl.scan_parquet(path)
        names = lf.collect_schema().names()
    except Exception as e:  # polars raises several types for unreadable files
        raise InputError(f"{path.name}: unreadable parquet ({type(e).__name__})") from None
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(f"{path.name}: missing column(s) {', '.join(missing)}")
    return lf


def _collect(lf: pl.LazyFrame, path: Path) -> pl.DataFrame:
    try:
        return lf.collect()
    except Exception as e:
        raise InputError(f"{path.name}: cannot read ({type(e).__name__}: {str(e)[:80]})") from None


def tracking_query(lf: pl.LazyFrame) -> pl.LazyFrame:
    """The projection + casts of a tracking scan; unparseable values become null (dropped later).
    `bodypart` becomes Categorical: each row's name is hashed once, here, and the slot lookup
    then runs on the integer codes."""
    return lf.select(
        pl.col("video_frame").cast(pl.Int64, strict=False),
        pl.col("mouse_id").cast(pl.Int64, strict=False),
        pl.col("bodypart").cast(pl.String).cast(pl.Categorical),
        pl.col("x").cast(pl.Float32, strict=False),
        pl.col("y").cast(pl.Float32, strict=False),
    )


def _drop_bad_rows(df: pl.DataFrame, notes: list[str]) -> pl.DataFrame:
    bad_frame = pl.col("video_frame").is_null() | (pl.col("video_frame") < 0)
    bad_mouse = pl.col("mouse_id").is_null() | ~pl.col("mouse_id").is_between(1, N_MICE)
    counts = df.select(bad_frame.sum().alias("f"), (bad_mouse & ~bad_frame).sum().alias("m"),
                       pl.col("bodypart").is_null().sum().alias("p")).row(0)
    if counts[0]:
        notes.append(f"dropped {counts[0]} rows with a missing or negative video_frame")
    if counts[1]:
        seen = df.filter(bad_mouse & ~bad_frame)["mouse_id"].unique().head(5).to_list()
        notes.append(f"dropped {counts[1]} rows with mouse_id outside 1..{N_MICE} (e.g. {seen})")
    if counts[2]:
        notes.append(f"dropped {counts[2]} rows with no bodypart name")
    if not any(counts):
        return df  # the common case: no copy
    return df.filter(~bad_frame & ~bad_mouse & pl.col("bodypart").is_not_null())


def _slot_table(names: list[str], cfg: BuildConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per body-part name (dictionary code) its slot (-1: fits none) and whether it is averaged:
    each distinct name is matched once, never per row."""
    slot = np.full(len(names), -1, dtype=np.int32)
    averaged = np.zeros(len(names), dtype=bool)
    for i, name in enumerate(names):
        s = cfg.slot_of(name)
        if s is not None:
            slot[i], averaged[i] = s
    return slot, averaged


def _averaged_part(batches: list[Rows], averaged: np.ndarray, slot: np.ndarray, k: int) -> Part:
    """(frame, x column, x, y) of the per-(frame, mouse, slot) means of the averaged parts' rows
    (NaN ignored)."""
    rows = []
    for b in batches:
        mask = averaged[b[2]]
        rows.append(tuple(a[mask] for a in b))
    frame, mouse, code, x, y = (np.concatenate([r[i] for r in rows]) for i in range(5))
    df = pl.DataFrame({"video_frame": frame, "mouse_id": mouse, "slot": slot[code], "x": x, "y": y})
    mean = (df.with_columns(pl.col("x", "y").fill_nan(None))
            .group_by("video_frame", "mouse_id", "slot").agg(pl.col("x", "y").cast(pl.Float64).mean()))
    pair = (mean["mouse_id"].to_numpy().astype(np.int32) - 1) * k + mean["slot"].to_numpy().astype(np.int32)
    return (mean["video_frame"].to_numpy(), 2 * pair, mean["x"].cast(pl.Float32).to_numpy(),
            mean["y"].cast(pl.Float32).to_numpy())


def pivot_frame(df: pl.DataFrame, cfg: BuildConfig, *, notes: list[str] | None = None,
                max_frame: int | None = None) -> Pivoted:
    """Rows from an already-cast long frame (see `tracking_query`): the general path, for
    files with nulls or unexpected dtypes."""
    notes = [] if notes is None else notes
    unparsed = int(df.select((pl.col("x").is_null() | pl.col("y").is_null()).sum()).item())
    if unparsed:
        notes.append(f"{unparsed} rows with a missing or unparseable x/y stored as untracked")
    df = _drop_bad_rows(df, notes)
    if df.height == 0:
        raise InputError("no usable tracking rows")
    part = df["bodypart"]
    distinct = part.unique()
    ids = distinct.to_physical().to_numpy()
    remap = np.zeros(int(ids.max()) + 1, dtype=np.int32)
    remap[ids] = np.arange(len(ids))
    codes = remap[part.to_physical().to_numpy()]
    batch = (df["video_frame"].to_numpy(), df["mouse_id"].to_numpy(), codes,
             df["x"].fill_null(np.nan).to_numpy(), df["y"].fill_null(np.nan).to_numpy())
    return pivot_arrays([batch], distinct.to_list(), cfg, notes, max_frame=max_frame)


def _out_of_range(v: np.ndarray) -> bool:
    """Whether any |value| > MAX_COORD or is NaN (then the exact mask decides): two reductions, no copy."""
    return len(v) > 0 and not (v.max() <= MAX_COORD and v.min() >= -MAX_COORD)


def _impossible(batches: list[Rows], notes: list[str], max_frame: int | None) -> list[Rows]:
    """Rows past `max_frame` dropped; an infinite or huge x or y set to NaN (NaN itself is an
    untracked coordinate, kept as it is)."""
    out, n_bad, n_past, last = [], 0, 0, 0
    for frame, mouse, code, x, y in batches:
        if _out_of_range(x) or _out_of_range(y):
            bad_x, bad_y = np.abs(x) > MAX_COORD, np.abs(y) > MAX_COORD  # inf included; NaN compares False
            n_bad += int((bad_x | bad_y).sum())
            x, y = np.where(bad_x, np.nan, x).astype(np.float32), np.where(bad_y, np.nan, y).astype(np.float32)
        if max_frame is not None and len(frame) and (top := int(frame.max())) > max_frame:
            past = frame > max_frame
            n_past, last = n_past + int(past.sum()), max(last, top)
            frame, mouse, code, x, y = (a[~past] for a in (frame, mouse, code, x, y))
        out.append((frame, mouse, code, x, y))
    if n_bad:
        notes.append(f"{n_bad} rows with an infinite or impossible (|value| > {MAX_COORD:.0e} px) x/y: stored "
                     "as untracked")
    if n_past:
        notes.append(f"dropped {n_past} rows with video_frame past {max_frame} (the metadata's "
                     f"duration x {FRAME_SLACK} + 10 s; largest {last})")
    return out


def _column_table(slot: np.ndarray, averaged: np.ndarray, k: int, width: int) -> np.ndarray:
    """int32 x column per key `mouse_id * n + code` (mouse 0..N_MICE): `width` (the trash column)
    for mouse 0, unmapped and averaged parts."""
    n = len(slot)
    mouse = np.arange((N_MICE + 1) * n, dtype=np.int32) // n
    slots = np.tile(slot, N_MICE + 1)
    direct = (slots >= 0) & ~np.tile(averaged, N_MICE + 1) & (mouse >= 1)
    return np.where(direct, ((mouse - 1) * k + slots) * 2, width).astype(np.int32)


def pivot_arrays(batches: list[Rows], names: list[str], cfg: BuildConfig, notes: list[str],
                 max_frame: int | None = None) -> Pivoted:
    """The pivot proper, on batches of rows with frame >= 0 and mouse in 1..4, codes indexing `names`."""
    batches = [b for b in _impossible(batches, notes, max_frame) if len(b[0])]
    if not batches:
        raise InputError("no usable tracking rows")
    length = max(int(b[0].max()) for b in batches) + 1
    if length > MAX_FRAMES:
        raise InputError(f"video_frame reaches {length - 1}, beyond {MAX_FRAMES:,} — corrupt frame numbers")
    k, n = len(cfg.keypoints), len(names)
    width = N_MICE * k * 2
    slot, averaged = _slot_table(names, cfg)
    table = _column_table(slot, averaged, k, width)
    counts = np.zeros((N_MICE + 1) * n, dtype=np.int64)
    parts = []
    for frame, mouse, code, x, y in batches:
        key = mouse.astype(np.int32)
        key *= n
        key += code
        counts += np.bincount(key, minlength=len(counts))
        parts.append((frame, table[key], x, y))
    per_name, per_mouse = counts.reshape(N_MICE + 1, n).sum(axis=0), counts.reshape(N_MICE + 1, n).sum(axis=1)
    unmapped = {names[i]: int(per_name[i]) for i in np.flatnonzero((slot < 0) & (per_name > 0))}
    used = set(table[(counts > 0) & (table < width)].tolist())
    if averaged[per_name > 0].any():
        parts.append(_averaged_part(batches, averaged, slot, k))
        used |= set(parts[-1][1].tolist())
    cols = np.array(sorted(used), dtype=np.int64)
    columns = np.stack([cols, cols + 1], axis=1).ravel()
    return Pivoted(parts, columns, length, width, int(np.flatnonzero(per_mouse)[-1]), unmapped, notes)


def _read_arrow(path: Path) -> pa.Table:
    """The five columns, `bodypart` as its parquet dictionary, in Arrow's system (malloc) memory
    pool: with the default mimalloc pool, freed pages went back to the OS between files and every
    read faulted them in again, ~2 of ~7 CPU-s of a kaggle-shaped build (min of 3 alternating
    builds: 5.2 vs 7.2; a bare read alone is the same with either pool). Per call, not
    `pa.set_memory_pool`: no process-wide state changes under the caller."""
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns={"bodypart"}))
    return ds.dataset(path, format=fmt).to_table(columns=list(TRACKING_COLUMNS), memory_pool=POOL)


def _fast_batches(table: pa.Table) -> tuple[list[Rows], list[str]] | None:
    """Record batches of (frame, mouse, codes, x, y) arrays, used in place, and the body part names,
    when the file is as Kaggle writes it (integer ids, float coordinates, no nulls), else None
    (the general Polars path casts)."""
    t = {c: table.column(c) for c in TRACKING_COLUMNS}
    kinds = (pa.types.is_integer(t["video_frame"].type) and pa.types.is_integer(t["mouse_id"].type)
             and pa.types.is_dictionary(t["bodypart"].type) and pa.types.is_floating(t["x"].type)
             and pa.types.is_floating(t["y"].type))
    if not kinds or any(col.null_count for col in t.values()) or table.num_rows == 0:
        return None
    table = table.select(list(TRACKING_COLUMNS)).unify_dictionaries(POOL)
    names = table.column("bodypart").chunk(0).dictionary.to_pylist()
    batches = []
    for b in table.to_batches():
        if b.num_rows:
            frame, mouse, part, x, y = b.columns
            batches.append((frame.to_numpy(), mouse.to_numpy(), part.indices.to_numpy(),
                            x.to_numpy().astype(np.float32, copy=False), y.to_numpy().astype(np.float32, copy=False)))
    return batches, names


def _drop_bad_numeric(batches: list[Rows], notes: list[str]) -> list[Rows]:
    """The rows `_drop_bad_rows` drops, for null-free arrays, with the same notes."""
    out, n_frame, n_mouse, seen = [], 0, 0, []
    for b in batches:
        frame, mouse = b[0], b[1]
        if frame.min() >= 0 and mouse.min() >= 1 and mouse.max() <= N_MICE:
            out.append(b)
            continue
        bad_frame = frame < 0
        bad_mouse = ((mouse < 1) | (mouse > N_MICE)) & ~bad_frame
        n_frame, n_mouse = n_frame + int(bad_frame.sum()), n_mouse + int(bad_mouse.sum())
        seen += pl.Series(mouse[bad_mouse]).unique(maintain_order=True).head(5).to_list()
        keep = ~(bad_frame | bad_mouse)
        out.append(tuple(a[keep] for a in b))
    if n_frame:
        notes.append(f"dropped {n_frame} rows with a missing or negative video_frame")
    if n_mouse:
        notes.append(f"dropped {n_mouse} rows with mouse_id outside 1..{N_MICE} (e.g. {list(dict.fromkeys(seen))[:5]})")
    return out


def pivot_tracking(path: str | Path, cfg: BuildConfig, max_frame: int | None = None) -> Pivoted:
    """Read one tracking parquet (the five columns only) and pivot it.

    Files as Kaggle writes them take the Arrow path: `bodypart` is read as the parquet
    dictionary's codes (no string is materialised or hashed per row) and each record batch's
    numeric columns are used in place; anything else (nulls, text ids, a missing column, an
    unreadable file) takes the general Polars path, which also names what is wrong."""
    path = Path(path)
    try:
        fast = _fast_batches(_read_arrow(path))
    except (pa.ArrowException, ValueError, OSError, KeyError):
        fast = None
    if fast is None:
        return pivot_frame(_collect(tracking_query(_scan(path, TRACKING_COLUMNS)), path), cfg, max_frame=max_frame)
    notes: list[str] = []
    return pivot_arrays(_drop_bad_numeric(fast[0], notes), fast[1], cfg, notes, max_frame=max_frame)


def read_annotations(path: str | Path, length: int, actions=ACTION_INDEX) -> tuple[list[tuple[int, int, str, int, int]], list[str]]:
    """Intervals (agent, target, action, start, stop) verbatim, and notes on rows dropped or clipped.

    Rows with an action outside `actions` (the store's vocabulary), ids outside 1..4, missing values or start > stop are dropped;
    intervals running past `length` are kept verbatim (the frame labels clip them).
    """
    path = Path(path)
    lf = _scan(path, ANNOTATION_COLUMNS).select(
        pl.col("agent_id", "target_id", "start_frame", "stop_frame").cast(pl.Int64, strict=False),
        pl.col("action").cast(pl.String))
    df = _collect(lf, path)
    ok_ids = pl.col("agent_id").is_between(1, N_MICE) & pl.col("target_id").is_between(1, N_MICE)
    checks = {
        "missing values": pl.any_horizontal(pl.all().is_null()),
        "an unknown action": ~pl.col("action").is_in(list(actions)),
        f"agent/target outside 1..{N_MICE}": ~ok_ids,
        "start_frame > stop_frame": pl.col("start_frame") > pl.col("stop_frame"),
    }
    notes, bad = [], pl.lit(False)
    for reason, expr in checks.items():
        n = int(df.select((expr.fill_null(True) & ~bad).sum()).item())
        if n:
            notes.append(f"dropped {n} annotation rows with {reason}")
        bad = bad | expr.fill_null(True)
    df = df.filter(~bad)
    past = int(df.select((pl.col("stop_frame") > length).sum()).item())
    if past:
        notes.append(f"{past} intervals run past the last tracked frame {length - 1} (clipped in actions)")
    rows = [(int(a), int(t), str(act), int(s), int(e)) for a, t, act, s, e in
            df.select(ANNOTATION_COLUMNS).iter_rows()]
    return rows, notes
