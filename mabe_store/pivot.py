"""Long tracking rows -> one dense (frames, 4 * K * 2) block per video, through a computed index.

The raw tracking is long: one row per (video_frame, mouse_id, bodypart) with x, y. A pivot table
would hash every row on three keys; here each row's destination is arithmetic instead:
`row = video_frame`, `column = ((mouse_id - 1) * K + slot) * 2 + c`. `bodypart` is read as
integer codes into a small table of names (the parquet dictionary, or a Polars Categorical on the
general path), so `slot` is looked up once per distinct name (a few dozen) and gathered per row by
its int32 code, in numpy. The values are then scattered into a NaN-filled numpy block with one
fancy-indexed assignment per coordinate. The trade-off: duplicate rows for one (frame, mouse, part)
are not merged — the last one wins — whereas parts that share a slot on purpose (the
`headpiece_*` points) are averaged explicitly by a group-by over just their rows.

Bad rows are repaired, not fatal: rows whose mouse id is outside 1..4 or whose frame is missing or
negative are dropped and counted in `notes`; body parts that fit no slot are counted per name in
`unmapped`. Anything that makes the whole file unusable raises `InputError` with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from mabe_store.build_config import BuildConfig
from mabe_store.constants import ACTION_INDEX, N_MICE
from mabe_store.errors import MabeStoreError

TRACKING_COLUMNS = ("video_frame", "mouse_id", "bodypart", "x", "y")
ANNOTATION_COLUMNS = ("agent_id", "target_id", "action", "start_frame", "stop_frame")
MAX_FRAMES = 5_000_000  # ~46 h at 30 fps: a larger video_frame is corrupt data, not a video


class InputError(MabeStoreError):
    """One raw file cannot be used; the message is the one-line reason shown in the report."""


@dataclass
class Pivoted:
    """A video's keypoints, compact: `values` (length, C) float32 holds only the C feature columns
    `columns` that have any row (a 2-mouse, 7-part lab fills 28 of 144), NaN where untracked.
    `features` expands it to the store's (length, width) layout."""

    values: np.ndarray
    columns: np.ndarray  # (C,) int64, ascending x/y pairs
    width: int
    max_mouse: int
    unmapped: dict[str, int] = field(default_factory=dict)  # body part -> rows not stored
    notes: list[str] = field(default_factory=list)  # repairs made, one line each

    @property
    def length(self) -> int:
        return int(self.values.shape[0])

    @property
    def features(self) -> np.ndarray:
        out = np.full((self.length, self.width), np.nan, dtype=np.float32)
        out[:, self.columns] = self.values
        return out


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


def _averaged_pairs(frame, mouse, x, y, slot: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """(frame, pair, x, y) of the per-(frame, mouse, slot) means of the averaged parts' rows
    (NaN ignored), where pair = (mouse_id - 1) * k + slot."""
    df = pl.DataFrame({"video_frame": frame, "mouse_id": mouse, "slot": slot, "x": x, "y": y})
    mean = (df.with_columns(pl.col("x", "y").fill_nan(None))
            .group_by("video_frame", "mouse_id", "slot").agg(pl.col("x", "y").cast(pl.Float64).mean()))
    pair = (mean["mouse_id"].to_numpy().astype(np.int64) - 1) * k + mean["slot"].to_numpy()
    return (mean["video_frame"].to_numpy(), pair, mean["x"].cast(pl.Float32).to_numpy(),
            mean["y"].cast(pl.Float32).to_numpy())


def pivot_frame(df: pl.DataFrame, cfg: BuildConfig, *, notes: list[str] | None = None) -> Pivoted:
    """Dense block from an already-cast long frame (see `tracking_query`): the general path, for
    files with nulls or unexpected dtypes."""
    notes = [] if notes is None else notes
    df = _drop_bad_rows(df, notes)
    if df.height == 0:
        raise InputError("no usable tracking rows")
    part = df["bodypart"]
    distinct = part.unique()
    ids = distinct.to_physical().to_numpy()
    remap = np.zeros(int(ids.max()) + 1, dtype=np.int32)
    remap[ids] = np.arange(len(ids))
    codes = remap[part.to_physical().to_numpy()]
    return pivot_arrays(df["video_frame"].to_numpy(), df["mouse_id"].to_numpy(), codes, distinct.to_list(),
                        df["x"].to_numpy(), df["y"].to_numpy(), cfg, notes)


def pivot_arrays(frame, mouse, codes, names: list[str], x, y, cfg: BuildConfig, notes: list[str]) -> Pivoted:
    """The pivot proper, on clean rows: frame >= 0, mouse in 1..4, `codes` indexing `names`."""
    if len(frame) == 0:
        raise InputError("no usable tracking rows")
    length = int(frame.max()) + 1
    if length > MAX_FRAMES:
        raise InputError(f"video_frame reaches {length - 1}, beyond {MAX_FRAMES:,} — corrupt frame numbers")
    k, n = len(cfg.keypoints), len(names)
    slot, averaged = _slot_table(names, cfg)
    counts = np.bincount(codes, minlength=n)
    unmapped = {names[i]: int(counts[i]) for i in np.flatnonzero((slot < 0) & (counts > 0))}
    key = mouse.astype(np.int32) * n + codes  # one small integer per (mouse, body part name)
    direct = (slot >= 0) & ~averaged
    key_pair = np.where(np.tile(direct, N_MICE + 1), (np.arange((N_MICE + 1) * n, dtype=np.int32) // n - 1) * k
                        + np.tile(slot, N_MICE + 1), -1).astype(np.int32)
    extra = None
    if averaged[counts > 0].any():
        rows = averaged[codes]
        extra = _averaged_pairs(frame[rows], mouse[rows], x[rows], y[rows], slot[codes[rows]], k)
    values, columns = _compact(frame, key, key_pair, x, y, extra, length, N_MICE * k)
    return Pivoted(values, columns, N_MICE * k * 2, int(mouse.max()), unmapped, notes)


def _compact(frame, key, key_pair, x, y, extra, length: int, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """(length, C) values over only the x/y column pairs that occur, and their store columns.
    Row i goes to pair `key_pair[key[i]]` (skipped when -1); `extra` holds (frame, pair, x, y) rows."""
    seen = np.bincount(key, minlength=len(key_pair)) > 0
    used = np.zeros(n_pairs, dtype=bool)
    used[key_pair[seen & (key_pair >= 0)]] = True
    if extra is not None:
        used[extra[1]] = True
    pairs = np.flatnonzero(used)
    lut = np.full(n_pairs + 1, -1, dtype=np.int32)  # lut[-1] = -1: pair -1 stays skipped
    lut[pairs] = 2 * np.arange(len(pairs))
    values = np.full((length, 2 * len(pairs)), np.nan, dtype=np.float32)
    col = lut[key_pair][key]
    if (col < 0).any():
        keep = col >= 0
        frame, col, x, y = frame[keep], col[keep], x[keep], y[keep]
    _scatter(values, frame, col, x, y)
    if extra is not None and len(extra[0]):
        _scatter(values, extra[0], lut[extra[1]], extra[2], extra[3])
    return values, np.stack([2 * pairs, 2 * pairs + 1], axis=1).ravel()


def _scatter(out: np.ndarray, frame: np.ndarray, col: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    flat = out.reshape(-1)
    idx = frame.astype(np.int64) * out.shape[1]
    idx += col
    flat[idx] = x
    idx += 1
    flat[idx] = y


def _fast_arrays(table: pa.Table):
    """(frame, mouse, codes, names, x, y) straight from Arrow when the file is as Kaggle writes it
    (integer ids, float coordinates, no nulls), else None (the general Polars path casts)."""
    t = {c: table.column(c) for c in TRACKING_COLUMNS}
    kinds = (pa.types.is_integer(t["video_frame"].type) and pa.types.is_integer(t["mouse_id"].type)
             and pa.types.is_dictionary(t["bodypart"].type) and pa.types.is_floating(t["x"].type)
             and pa.types.is_floating(t["y"].type))
    if not kinds or any(col.null_count for col in t.values()) or table.num_rows == 0:
        return None
    part = t["bodypart"].unify_dictionaries()
    names = part.chunk(0).dictionary.to_pylist()
    codes = np.concatenate([c.indices.to_numpy() for c in part.chunks]).astype(np.int32, copy=False)
    return (t["video_frame"].to_numpy(), t["mouse_id"].to_numpy(), codes, names,
            t["x"].to_numpy().astype(np.float32, copy=False), t["y"].to_numpy().astype(np.float32, copy=False))


def _drop_bad_numeric(frame, mouse, notes: list[str]):
    """The rows `_drop_bad_rows` drops, for null-free arrays, with the same notes: a mask or None."""
    bad_frame = frame < 0
    bad_mouse = ((mouse < 1) | (mouse > N_MICE)) & ~bad_frame
    n_frame, n_mouse = int(bad_frame.sum()), int(bad_mouse.sum())
    if n_frame:
        notes.append(f"dropped {n_frame} rows with a missing or negative video_frame")
    if n_mouse:
        seen = pl.Series(mouse[bad_mouse]).unique(maintain_order=True).head(5).to_list()
        notes.append(f"dropped {n_mouse} rows with mouse_id outside 1..{N_MICE} (e.g. {seen})")
    return ~(bad_frame | bad_mouse) if n_frame or n_mouse else None


def pivot_tracking(path: str | Path, cfg: BuildConfig) -> Pivoted:
    """Read one tracking parquet (the five columns only) and pivot it.

    Files as Kaggle writes them take the Arrow path: `bodypart` is read as the parquet
    dictionary's codes (no string is materialised or hashed per row) and the numeric columns
    are used in place; anything else (nulls, text ids) takes the general Polars path."""
    path = Path(path)
    lf = _scan(path, TRACKING_COLUMNS)
    try:
        table = pq.read_table(path, columns=list(TRACKING_COLUMNS), read_dictionary=["bodypart"])
        arrays = _fast_arrays(table)
    except (pa.ArrowException, ValueError):
        arrays = None
    if arrays is None:
        return pivot_frame(_collect(tracking_query(lf), path), cfg)
    notes: list[str] = []
    keep = _drop_bad_numeric(arrays[0], arrays[1], notes)
    if keep is not None:
        arrays = tuple(a if isinstance(a, list) else a[keep] for a in arrays)
    return pivot_arrays(*arrays, cfg, notes)


def read_annotations(path: str | Path, length: int) -> tuple[list[tuple[int, int, str, int, int]], list[str]]:
    """Intervals (agent, target, action, start, stop) verbatim, and notes on rows dropped or clipped.

    Rows with an unknown action, ids outside 1..4, missing values or start > stop are dropped;
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
        "an unknown action": ~pl.col("action").is_in(list(ACTION_INDEX)),
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
