"""The one writer of the store (the layout is in mabe_store/format.py): append-only and crash-safe.

Every store — `mabe-store build`, `write_store` (below) for tests and benchmarks — goes through
`StoreWriter`, so every store has the same attrs, chunking, codecs and commit protocol, and its
frame labels and labeled triples are derived here from the intervals and the `behaviors_labeled`
text (never handed in separately, so they cannot disagree with them).

Rows are laid into one in-memory shard held column-major, (width + 2, shard_rows) float32 and
(A, shard_rows) uint8, so zarr's transpose codec costs nothing at encoding time: a built video's
keypoint rows are scattered straight into it (`pivot.Pivoted.scatter`; two trash columns take
the rows of unmapped parts), and a full shard is compressed and written once, as a whole, at its
aligned place. A commit (every `flush_rows` rows, 4 shards by default, or `flush_seconds`, always
at a video boundary) also writes the partly filled last shard, then appends the small tables
(once per commit: ~25 zarr appends, ~0.1 CPU-s, which is why commits are not per shard), then
sets the root attribute `committed` (row counts of every array). Zarr's local store replaces each file atomically
(temporary file + rename), so a kill -9 at any moment leaves either the old or the new copy of
every shard, and both hold the committed rows: readers (`open_store`) honour `committed` and
ignore any tail beyond it; the next build truncates that tail, reloads the partial shard and
appends. The trade-off: a video is never rewritten in place, so a changed source rebuilds afresh.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

from mabe_store.behaviors import labeled_triples
from mabe_store.build_config import BuildConfig
from mabe_store.codecs import array_codecs, direct_shards, encode_shard
from mabe_store.constants import FORMAT_VERSION, GENERATION_FILE, N_MICE
from mabe_store.errors import zarr_codec_notice_silenced
from mabe_store.format import ANNOTATION_COLUMNS, LABELED_COLUMNS, VIDEO_COLUMNS, VideoData
from mabe_store.vocabulary import MABE, Vocabulary

STORE_VIDEO_COLUMNS = {**VIDEO_COLUMNS, "source": "str"}  # + the fingerprint the rerun compares
TABLES = {"videos": STORE_VIDEO_COLUMNS, "annotations": ANNOTATION_COLUMNS, "labeled": LABELED_COLUMNS}
TABLE_CHUNKS = {"videos": 16384, "annotations": 131072, "labeled": 131072}
FLUSH_SHARDS = 4  # commit every 4 shards' rows (~1M: ~4 s of a build) unless flush_seconds come first
EMPTY_COMMIT = {"videos": 0, "rows": 0, "annotations": 0, "labeled": 0}


@dataclass
class VideoRows:
    """One video as the writer receives it: keypoints compactly, intervals verbatim, metadata.

    `values` (T, C) float32 holds the store columns `columns` (C,) only (NaN where untracked), or
    is None when `rows` (a `pivot.Pivoted`: keypoint rows with their computed columns) is given,
    whose rows are scattered into the shard without a dense block in between. The frame labels
    and labeled triples are derived by the writer."""

    video_id: int
    lab_id: str
    split: str
    values: np.ndarray | None
    columns: np.ndarray
    annotations: list[tuple[int, int, str, int, int]]  # (agent, target, action, start, stop)
    meta: dict  # fps, pix_per_cm, width_pix, height_pix, behaviors_labeled
    n_mice: int
    source: str = ""
    notes: list[str] = field(default_factory=list)
    unmapped: dict[str, int] = field(default_factory=dict)
    rows: object | None = None  # pivot.Pivoted, in place of `values`

    def __len__(self) -> int:
        return self.rows.length if self.values is None else len(self.values)

    def lay(self, buf_t: np.ndarray, at: int, lo: int, n: int) -> None:
        """Frames [lo, lo + n) into rows [at, at + n) of the column-major buffer `buf_t`."""
        if self.values is None:
            self.rows.scatter(buf_t.reshape(-1), buf_t.shape[1], at - lo, lo, lo + n)
        else:
            buf_t[self.columns, at:at + n] = self.values[lo:lo + n].T


def _np_dtype(dtype: str):
    return str if dtype == "str" else dtype


def rasterise_into(out_t: np.ndarray, annotations, video_start: int, length: int, out_start: int,
                   index: dict[str, int] = MABE.index) -> None:
    """Set the frame labels of one video's intervals in `out_t` (A, rows), whose column 0 is store
    row `out_start`; intervals are clipped to the video [0, length) and to `out_t`'s rows; `index`
    gives each action's row (the store's vocabulary)."""
    for _, _, action, start, stop in annotations:
        lo = max(video_start + max(int(start), 0), out_start)
        hi = min(video_start + min(int(stop), length), out_start + out_t.shape[1])
        if hi > lo:
            out_t[index[action], lo - out_start:hi - out_start] = 1


def store_attrs(path: Path) -> dict | None:
    """The root attrs of the Zarr group at `path`, or None when there is none (or it is unreadable)."""
    if not (Path(path) / "zarr.json").exists():
        return None
    try:
        return dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:
        return None


def written_by_us(attrs: dict | None) -> bool:
    """A store `StoreWriter` created (whatever its format version): it may be replaced by a rebuild."""
    return attrs is not None and "build_config" in attrs and "keypoints" in attrs and "actions" in attrs


def compatible(path: Path, cfg: BuildConfig, vocabulary: Vocabulary = MABE) -> bool:
    """The store at `path` is complete enough to resume with `cfg` (same format, build config and
    action vocabulary)."""
    attrs = store_attrs(path)
    return (attrs is not None and attrs.get("format_version") == FORMAT_VERSION and "committed" in attrs
            and attrs.get("build_config", {}).get("hash") == cfg.config_hash
            and Vocabulary.from_attrs(attrs) == vocabulary)


class StoreWriter:
    """Opens (resuming) or creates the store at `path` for config `cfg`.

    `built` maps video_id -> source fingerprint of the committed videos; `fresh` says whether the
    store was (re)created because it was missing, incomplete, or built with another config.
    """

    def __init__(self, path: str | Path, cfg: BuildConfig, source: dict, *, fresh: bool = False,
                 flush_rows: int | None = None, flush_seconds: float = 30.0, vocabulary: Vocabulary | None = None):
        self.path, self.cfg, self.vocabulary = Path(path), cfg, vocabulary or MABE
        self.flush_rows, self.flush_seconds = flush_rows or FLUSH_SHARDS * cfg.shard_rows, flush_seconds
        self.fresh = fresh or not self._compatible()
        with zarr_codec_notice_silenced():
            if self.fresh:
                self._create(source)
            self.root = zarr.open_group(str(self.path), mode="r+")
            self.features, self.actions = self.root["features"], self.root["actions"]
        self.committed: dict[str, int] = dict(self.root.attrs["committed"])
        self.notes: dict[str, list[str]] = dict(self.root.attrs.get("video_notes", {}))
        self.unmapped: dict[str, dict[str, int]] = dict(self.root.attrs.get("unmapped_bodyparts", {}))
        self._truncate()
        vg, n = self.root["videos"], self.committed["videos"]
        self.built = dict(zip(vg["video_id"][:n].tolist(), vg["source"][:n].tolist(), strict=True))
        self._load_tail()
        self._pending: list[VideoRows] = []
        self._tables: dict[str, list[tuple]] = {name: [] for name in TABLES}
        self._masks: list[np.ndarray] = []
        self._last_commit = time.perf_counter()

    # -- opening ------------------------------------------------------------------------------
    def _compatible(self) -> bool:
        return compatible(self.path, self.cfg, self.vocabulary)

    def _create(self, source: dict) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        root = zarr.open_group(str(self.path), mode="w", zarr_format=3)
        cfg, a = self.cfg, len(self.vocabulary.actions)
        root.create_array("features", shape=(0, cfg.n_features), dtype="float32", fill_value=np.nan,
                          chunks=(cfg.chunk_rows, cfg.feature_chunk_cols), shards=(cfg.shard_rows, cfg.n_features),
                          **array_codecs(cfg, 4))
        root.create_array("actions", shape=(0, a), dtype="uint8", fill_value=0, chunks=(cfg.chunk_rows, a),
                          shards=(cfg.shard_rows, a), **array_codecs(cfg, 1))
        for name, columns in TABLES.items():
            g = root.require_group(name)
            for col, dtype in columns.items():
                g.create_array(col, shape=(0,), dtype=_np_dtype(dtype), chunks=(TABLE_CHUNKS[name],))
        root["videos"].create_array("labeled_actions", shape=(0, a), dtype="uint8",
                                    chunks=(TABLE_CHUNKS["videos"], a))
        generation = uuid.uuid4().hex
        (self.path / GENERATION_FILE).write_text(generation)
        attrs = {"format_version": FORMAT_VERSION, "n_mice": N_MICE, "keypoints": list(cfg.keypoints),
                 "actions": list(self.vocabulary.actions), "build_config": {**cfg.to_dict(), "hash": cfg.config_hash},
                 "source": source, "committed": dict(EMPTY_COMMIT), "generation": generation}
        if self.vocabulary.to_attrs() is not None:  # a MABe store's attrs stay as they always were
            attrs["vocabulary"] = self.vocabulary.to_attrs()
        root.attrs.update(attrs)  # last: a store without `committed` is incomplete and gets recreated

    def _arrays(self):
        """(array, committed-count key) for every array of the store."""
        yield self.features, "rows"
        yield self.actions, "rows"
        for name in TABLES:
            key = "videos" if name == "videos" else name
            for _, arr in self.root[name].arrays():
                yield arr, key

    def _truncate(self) -> None:
        for arr, key in self._arrays():
            n = self.committed[key]
            if arr.shape[0] != n:
                arr.resize((n, *arr.shape[1:]))

    def _load_tail(self) -> None:
        """The shard buffers, column-major, holding the committed rows of the last, partly filled
        shard; `_feats` has two trash columns past the store's (see `pivot.Pivoted`)."""
        s, rows, width = self.cfg.shard_rows, self.committed["rows"], self.cfg.n_features
        self._shard_start = rows // s * s
        self._feats = np.full((width + 2, s), np.nan, dtype=np.float32)
        self._acts = np.zeros((len(self.vocabulary.actions), s), dtype=np.uint8)
        grid = (s // self.cfg.chunk_rows, width // self.cfg.feature_chunk_cols)
        self._written = np.zeros(grid, dtype=bool)  # inner feature chunks holding any value
        if rows > self._shard_start:
            self._feats[:width, :rows - self._shard_start] = self.features[self._shard_start:rows].T
            self._acts[:, :rows - self._shard_start] = self.actions[self._shard_start:rows].T
            blocks = self._feats[:width].reshape(grid[1], self.cfg.feature_chunk_cols, grid[0], self.cfg.chunk_rows)
            self._written[:] = ~np.isnan(blocks).all(axis=(1, 3)).T
        self.rows = rows

    # -- appending ----------------------------------------------------------------------------
    def append(self, video: VideoRows) -> None:
        """Lay one video's rows into the shard buffers (writing every shard it fills), queue its
        table rows, and commit when `flush_rows` rows or `flush_seconds` have passed."""
        start, length, done = self.rows, len(video), 0
        while done < length:
            at = start + done - self._shard_start
            n = min(length - done, self.cfg.shard_rows - at)
            video.lay(self._feats, at, done, n)
            chunk_rows = slice(at // self.cfg.chunk_rows, (at + n - 1) // self.cfg.chunk_rows + 1)
            self._written[chunk_rows, np.unique(video.columns // self.cfg.feature_chunk_cols)] = True
            rasterise_into(self._acts[:, at:at + n], video.annotations, start, length, start + done,
                           self.vocabulary.index)
            done += n
            if at + n == self.cfg.shard_rows:
                self._write_shard(self.cfg.shard_rows)
                self._shard_start += self.cfg.shard_rows
                self._clear()
        self.rows += length
        self._queue(video, start)
        since = self.rows - self.committed["rows"]
        if since >= self.flush_rows or time.perf_counter() - self._last_commit >= self.flush_seconds:
            self.commit()

    def _clear(self) -> None:
        """Fill the buffers again, touching only the feature chunks that were written (and the
        trash columns are never read)."""
        r, c = self.cfg.chunk_rows, self.cfg.feature_chunk_cols
        for i, j in np.argwhere(self._written):
            self._feats[j * c:(j + 1) * c, i * r:(i + 1) * r] = np.nan
        self._acts.fill(0)
        self._written[:] = False

    def _write_shard(self, n: int) -> None:
        """Write buffer rows [0, n) as the buffer's shard, replacing the file whole (the rows past
        n are fill, so nothing is read back first)."""
        lo, hi = self._shard_start, self._shard_start + n
        for arr, buf in ((self.features, self._feats[:self.cfg.n_features]), (self.actions, self._acts)):
            if arr.shape[0] < hi:
                arr.resize((hi, arr.shape[1]))
            if not direct_shards(self.cfg):
                arr[lo:hi] = buf[:, :n].T
                continue
            data = encode_shard(buf, arr.chunks, self.cfg, self._written if arr is self.features else None)
            path = self.path / arr.basename / "c" / str(lo // self.cfg.shard_rows) / "0"
            if data is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".partial")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a kill leaves the old shard or the new one

    def _queue(self, v: VideoRows, offset: int) -> None:
        i = self.committed["videos"] + len(self._pending)
        index = self.vocabulary.index
        triples, notes = labeled_triples(v.meta.get("behaviors_labeled", ""), index)
        mask = np.zeros(len(index), dtype=np.uint8)
        for t in triples:
            mask[index[t.action]] = 1
            self._tables["labeled"].append((i, t.agent, t.target, index[t.action]))
        self._tables["annotations"] += [(i, a, t, index[act], s, e) for a, t, act, s, e in v.annotations]
        row = {"video_id": v.video_id, "lab_id": v.lab_id, "split": v.split, "offset": offset, "length": len(v),
               "n_mice": v.n_mice, "source": v.source, "behaviors_labeled": v.meta.get("behaviors_labeled") or "",
               **{k: v.meta.get(k, np.nan) for k in ("fps", "pix_per_cm", "width_pix", "height_pix")}}
        self._tables["videos"].append(tuple(row[k] for k in STORE_VIDEO_COLUMNS))
        self._masks.append(mask)
        v.notes = v.notes + notes
        self._pending.append(v)

    # -- committing ---------------------------------------------------------------------------
    def commit(self) -> None:
        """Make every appended video durable: partial shard, small tables, then `committed`."""
        if not self._pending:
            return
        if self.rows > self._shard_start:
            self._write_shard(self.rows - self._shard_start)
        c = dict(self.committed)
        for name, rows in self._tables.items():
            self._append_table(name, rows, c[name])
        self._append(self.root["videos"]["labeled_actions"], np.stack(self._masks), c["videos"])
        c.update(rows=self.rows, videos=c["videos"] + len(self._pending),
                 annotations=c["annotations"] + len(self._tables["annotations"]),
                 labeled=c["labeled"] + len(self._tables["labeled"]))
        for v in self._pending:
            if v.notes:
                self.notes[str(v.video_id)] = v.notes
            lab = self.unmapped.setdefault(v.lab_id, {})
            for part, n in v.unmapped.items():
                lab[part] = lab.get(part, 0) + n
            self.built[v.video_id] = v.source
        self.root.attrs.update({"committed": c, "video_notes": self.notes, "unmapped_bodyparts": self.unmapped})
        self.committed = c
        self._pending, self._masks = [], []
        self._tables = {name: [] for name in TABLES}
        self._last_commit = time.perf_counter()

    @staticmethod
    def _append(arr, values: np.ndarray, start: int) -> None:
        arr.resize((start + len(values), *arr.shape[1:]))
        if len(values):
            arr[start:start + len(values)] = values

    def _append_table(self, name: str, rows: list[tuple], start: int) -> None:
        g, columns = self.root[name], TABLES[name]
        for i, (col, dtype) in enumerate(columns.items()):
            self._append(g[col], np.array([r[i] for r in rows], dtype=_np_dtype(dtype)), start)

    def finish(self, report: dict | None = None) -> None:
        """Commit what is pending and record the build report."""
        self.commit()
        if report is not None:
            self.root.attrs.update({"build_report": report})


def write_store(path: str | Path, videos: list[VideoData], *, cfg=None, source: dict | None = None,
                vocabulary: Vocabulary | None = None) -> Path:
    """Write a complete store of in-memory videos (tests, benchmarks) through the builder's writer,
    so it carries the same attrs, chunks, codecs and derived labels as a built one (MABe's 37
    actions, or `vocabulary`). Overwrites `path`."""
    cfg = cfg or BuildConfig()
    writer = StoreWriter(path, cfg, source or {"builder": "mabe_store.writer.write_store"}, fresh=True,
                         vocabulary=vocabulary)
    for v in videos:
        feats = np.asarray(v.features, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != cfg.n_features:
            raise ValueError(f"video {v.video_id}: features {feats.shape}, expected (T, {cfg.n_features})")
        meta = {"fps": v.fps, "pix_per_cm": v.pix_per_cm, "width_pix": v.width_pix, "height_pix": v.height_pix,
                "behaviors_labeled": v.behaviors_labeled}
        used = np.flatnonzero(~np.isnan(feats).all(axis=0))  # as the builder: untracked columns not stored
        writer.append(VideoRows(v.video_id, v.lab_id, v.split, feats[:, used], used, list(v.annotations), meta,
                                v.n_mice, source="memory"))
    writer.finish()
    return Path(path)
