"""Read a store with numpy + zarr only (no Polars, no torch at import).

`open_store(path)` gives a `Store` (a local folder, or an `s3://`/`gs://`/`memory://` URL with
fsspec storage options: mabe_store/location.py): its video table in memory (V is small), per-video
views of features, frame labels and annotation intervals, row reads for random windows, and `load()`
to stage many videos into one contiguous block for training (one sequential read per video, no
per-window I/O), in RAM or, when it does not fit, memory-mapped from local .npy files.
On a local store written with zstd or no compression, `features` and `actions` are decoded by
`ShardRows` (this module) instead of zarr: zarr's per-chunk machinery and whole-chunk shuffle
decoding cost more than the decompression itself. Any other chain, or a store that is not a
local folder, is read through zarr; plain zarr + numpy read every store alike.
A store written by `mabe-store build` carries the attr `committed` (row counts of its arrays);
rows past those counts belong to an interrupted build and are ignored here.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from mabe_store.codecs import MISSING, ShardLayout
from mabe_store.constants import FORMAT_VERSION, GENERATION_FILE
from mabe_store.errors import MabeStoreError, zarr_codec_notice_silenced
from mabe_store.location import Location, locate
from mabe_store.log import progress_bar
from mabe_store.vocabulary import Vocabulary, VocabularyError


class StoreError(MabeStoreError):
    """The store is missing or does not follow the format; the message says what to do."""


@dataclass
class Staged:
    """Videos in one block: rows of video j are `features[starts[j]:starts[j]+lengths[j]]`.

    The blocks are numpy arrays in RAM, or `np.memmap` views of .npy files when they did not fit
    (see `Store.load`); callers index both alike.
    """

    video_index: np.ndarray  # (V',) rows of the store's video table
    starts: np.ndarray  # (V',) int64
    lengths: np.ndarray  # (V',) int64
    features: np.ndarray  # (n, 144) float32
    actions: np.ndarray  # (n, A) uint8

    @property
    def nbytes(self) -> int:
        return self.features.nbytes + self.actions.nbytes

    def rows(self, j: int) -> slice:
        """The block rows of staged video j."""
        return slice(int(self.starts[j]), int(self.starts[j] + self.lengths[j]))


def ram_limit(max_ram_gb: float = 0.0) -> int:
    """Bytes `Store.load` may stage in RAM: `max_ram_gb`, or half the machine's memory when 0."""
    if max_ram_gb > 0:
        return int(max_ram_gb * 2**30)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _alloc(shape, dtype, out: Path | None, name: str) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=dtype)
    out.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(out / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)


class ShardRows:
    """Rows of one sharded array of a local store, decoded here rather than by zarr: each shard
    file's index is read from its tail, each needed inner chunk is read with one `pread`, zstd-
    decompressed, and only the rows asked for are un-shuffled and un-transposed, straight into the
    caller's buffer. The last `cache` decoded chunks are kept, so a video that starts in the chunk
    the previous one ended in (staging reads videos in disk order) does not decode it again.
    On the kaggle-shaped set (2.24M frames) a whole `load()` took 5.6 CPU-s against 10.3 through
    zarr on the same store (one process; most of both is the kernel faulting in the fresh 1.3 GB
    block), and reading into already-touched buffers 1.5 CPU-s against 2.8-3.8 for format 1
    through zarr; tests/mabe_store/test_reader_shards.py checks it against zarr's read.
    `of` gives None where zarr must read (another codec chain, a store that is not local)."""

    def __init__(self, folder: Path, layout: ShardLayout, shape: tuple[int, int], fill, cache: int):
        self.folder, self.layout, self.shape, self.fill = folder, layout, shape, fill
        self._cache: OrderedDict = OrderedDict()
        self._size = cache

    @classmethod
    def of(cls, arr: zarr.Array) -> ShardRows | None:
        root = getattr(arr.store, "root", None)
        layout = ShardLayout.of(arr.metadata.to_dict())
        if not isinstance(arr.store, zarr.storage.LocalStore) or root is None or layout is None \
                or layout.shard[1] != arr.shape[1]:
            return None
        return cls(Path(root) / arr.path, layout, arr.shape, arr.fill_value, cache=2 * layout.grid[1])

    def read(self, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows [lo, hi) as an (hi - lo, cols) array, into `out` when given."""
        hi = min(hi, self.shape[0])
        out = np.empty((max(hi - lo, 0), self.shape[1]), dtype=self.layout.dtype) if out is None else out
        size = self.layout.shard[0]
        for s in range(lo // size, (hi - 1) // size + 1 if hi > lo else lo // size):
            a, b = max(lo, s * size), min(hi, (s + 1) * size)
            self._shard(s, a - s * size, b - s * size, out[a - lo:b - lo])
        return out

    def _shard(self, s: int, a: int, b: int, out: np.ndarray) -> None:
        """Shard-relative rows [a, b) of shard s into `out`."""
        try:
            fd = os.open(self.folder / "c" / str(s) / "0", os.O_RDONLY)
        except FileNotFoundError:
            out[...] = self.fill
            return
        try:
            st, n = os.fstat(fd), self.layout.index_bytes
            ident = (s, st.st_ino, st.st_mtime_ns, st.st_size)  # a rewritten shard is another file
            index = self.layout.index(os.pread(fd, n, st.st_size - n))
            rows, cols = self.layout.chunk
            for i in range(a // rows, (b - 1) // rows + 1):
                r0, r1 = max(a, i * rows) - i * rows, min(b, (i + 1) * rows) - i * rows
                dst = out[i * rows + r0 - a:i * rows + r1 - a]
                for j in range(self.layout.grid[1]):
                    target = dst[:, j * cols:(j + 1) * cols]
                    if index[i, j, 0] == MISSING:
                        target[...] = self.fill
                    else:
                        self.layout.rows_into(self._chunk(fd, ident, i, j, index[i, j]), r0, r1, target)
        finally:
            os.close(fd)

    def _chunk(self, fd: int, ident: tuple, i: int, j: int, where) -> np.ndarray:
        key = (*ident, i, j)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        stored = self.layout.decode(os.pread(fd, int(where[1]), int(where[0])))
        self._cache[key] = stored
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return stored


class Store:
    """A built store. `videos` maps column name -> (V,) numpy array (see mabe_store.format)."""

    def __init__(self, path: str | Path | Location, storage_options: dict | None = None):
        self.location = locate(path, storage_options)
        self.path = self.location.path  # a Path, or the URL of a store in object storage
        if not self.location.exists("zarr.json"):
            raise StoreError(f"no store at {self.path} — run `make build-store` "
                             f"(or `mabe-store build --raw data/raw --out {self.path}`)")
        self.root = self.location.open_group()
        self.attrs = dict(self.root.attrs)
        version = self.attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreError(f"{self.path}: format_version {version!r}, this reader knows "
                             f"{FORMAT_VERSION} — rebuild it with `mabe-store build`")
        self.generation: str | None = self.attrs.get("generation")
        self.keypoints: list[str] = list(self.attrs["keypoints"])
        self.action_names: list[str] = list(self.attrs["actions"])
        try:  # the behaviours the store has columns for, with their kinds: MABe's 37 or a lab's own
            self.vocabulary: Vocabulary = Vocabulary.from_attrs(self.attrs)
        except VocabularyError as e:
            raise StoreError(f"{self.path}: {e} — rebuild it with `mabe-store build`") from None
        # A store being built (or killed mid-build) may hold rows past its last commit: ignore them.
        self.committed: dict[str, int] = dict(self.attrs.get("committed") or {})
        vg = self.root["videos"]
        n = self.committed.get("videos")
        self.videos: dict[str, np.ndarray] = {name: vg[name][:n] for name in vg.array_keys()}
        self._index = {int(v): i for i, v in enumerate(self.videos["video_id"])}
        with zarr_codec_notice_silenced():  # open the two big arrays once, here
            self.feature_array: zarr.Array = self.root["features"]
            self.action_array: zarr.Array = self.root["actions"]
        self._features, self._actions = self.feature_array, self.action_array
        self._fast = {"features": ShardRows.of(self.feature_array), "actions": ShardRows.of(self.action_array)}
        self._tables: dict[str, dict[str, np.ndarray]] = {}

    # -- table -----------------------------------------------------------------------------
    @property
    def n_videos(self) -> int:
        return len(self.videos["video_id"])

    @property
    def n_frames(self) -> int:
        return int(self.videos["length"].sum())

    def check_generation(self) -> None:
        """StoreError when the store at `path` was rebuilt since this reader opened it: the offsets
        it holds would read other rows. A few bytes read per call (the GENERATION_FILE)."""
        if self.generation is None:
            return
        data = self.location.read_bytes(GENERATION_FILE)
        now = data.decode().strip() if data is not None else None
        if now != self.generation:
            raise StoreError(f"{self.path} was rebuilt while this process read it (generation "
                             f"{self.generation[:8]} -> {(now or 'none')[:8]}) — start again on the new store")

    def index(self, video_id) -> int:
        try:
            return self._index[int(video_id)]
        except (KeyError, ValueError):
            raise StoreError(f"video {video_id!r} is not in {self.path} "
                             f"({self.n_videos} videos; `mabe-store inspect` lists them)") from None

    def _rows(self, video_id) -> slice:
        self.check_generation()
        i = self.index(video_id)
        start = int(self.videos["offset"][i])
        return slice(start, start + int(self.videos["length"][i]))

    def _read(self, name: str, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        fast = self._fast[name]
        if fast is not None:
            return fast.read(lo, hi, out)
        rows = (self._features if name == "features" else self._actions)[lo:hi]
        if out is None:
            return rows
        out[...] = rows
        return out

    # -- per video ----------------------------------------------------------------------------
    def features(self, video_id) -> np.ndarray:
        """(T, 144) float32 raw pixel coordinates, NaN where not tracked."""
        rows = self._rows(video_id)
        return self._read("features", rows.start, rows.stop)

    def actions(self, video_id) -> np.ndarray:
        """(T, A) uint8 frame labels, columns in `action_names` order."""
        rows = self._rows(video_id)
        return self._read("actions", rows.start, rows.stop)

    def feature_rows(self, start: int, stop: int) -> np.ndarray:
        """Store rows [start, stop) of `features` (any videos): what a random window read needs."""
        return self._read("features", start, stop)

    def action_rows(self, start: int, stop: int) -> np.ndarray:
        """Store rows [start, stop) of `actions`."""
        return self._read("actions", start, stop)

    def table(self, name: str) -> dict[str, np.ndarray]:
        """A whole per-row group (`annotations` or `labeled`) as column -> array, cached."""
        if name not in self._tables:
            g, n = self.root[name], self.committed.get(name)
            self._tables[name] = {k: g[k][:n] for k in g.array_keys()}
        return self._tables[name]

    def _select(self, name: str, video_id) -> dict[str, np.ndarray]:
        t = self.table(name)
        keep = t["video_index"] == self.index(video_id)
        out = {k: v[keep] for k, v in t.items() if k != "video_index"}
        out["action"] = np.asarray(self.action_names, dtype=object)[out["action"].astype(int)]
        return out

    def annotations(self, video_id) -> dict[str, np.ndarray]:
        """Verbatim intervals: agent_id, target_id, action (names), start_frame, stop_frame."""
        return self._select("annotations", video_id)

    def labeled_triples(self, video_id) -> dict[str, np.ndarray]:
        """The video's clean behaviors_labeled entries: agent, target, action (names)."""
        return self._select("labeled", video_id)

    # -- bulk ---------------------------------------------------------------------------------
    def load(self, video_ids=None, *, out: str | Path | None = None, max_ram_gb: float = 0.0,
             progress: bool = False) -> Staged:
        """Copy the given videos (default: all) into one contiguous block, reading in disk order.

        RAM when the block fits `ram_limit(max_ram_gb)` (or when `out` is None); otherwise the
        block is written to `out/features.npy` and `out/actions.npy` and memory-mapped, so a
        training split larger than RAM (the full annotated set is ~12 GB of features) stages onto
        local disk and the OS pages windows in. Bytes: 144 x 4 + A per frame.
        """
        idx = (np.arange(self.n_videos) if video_ids is None
               else np.array([self.index(v) for v in video_ids], dtype=np.int64))
        lengths = self.videos["length"][idx].astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        n, width, n_act = int(lengths.sum()), self._features.shape[1], self._actions.shape[1]
        spill = out is not None and n * (width * 4 + n_act) > ram_limit(max_ram_gb)
        where = Path(out) if spill else None
        feats = _alloc((n, width), np.float32, where, "features")
        acts = _alloc((n, n_act), np.uint8, where, "actions")
        order = np.argsort(self.videos["offset"][idx], kind="stable")  # read in disk order
        it = progress_bar(order, desc=f"staging {len(idx)} videos" + (f" -> {where}" if where else ""),
                          unit="video", enabled=progress)
        for j in it:
            off = int(self.videos["offset"][idx[j]])
            s, ln = int(starts[j]), int(lengths[j])
            self._read("features", off, off + ln, feats[s:s + ln])
            self._read("actions", off, off + ln, acts[s:s + ln])
        self.check_generation()  # every row above came from the generation this reader opened
        return Staged(idx, starts, lengths, feats, acts)

def open_store(path: str | Path | Location, storage_options: dict | None = None) -> Store:
    """Open a built store (a folder or a URL) for reading; raises StoreError with the fix when there is none."""
    return Store(path, storage_options)
