"""Append-only, crash-safe writer of the store (the layout is in mabe_store/format.py).

Every array only grows. A batch of videos is written in this order: feature and label rows, the
annotation and labeled-triple rows, the video-table rows, and last the root attribute `committed`
(row counts of every array). Zarr's local store replaces each file atomically, so a kill -9 at any
moment leaves the committed prefix intact: readers (`open_store`) honour `committed` and ignore
any tail beyond it, and the next build truncates that tail before appending. The trade-off is that
a video is never rewritten in place: when a source file changes, the builder starts afresh.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from mabe_store.build_config import BuildConfig
from mabe_store.constants import ACTIONS, FORMAT_VERSION, N_MICE
from mabe_store.format import ANNOTATION_COLUMNS, LABELED_COLUMNS, VIDEO_COLUMNS

STORE_VIDEO_COLUMNS = {**VIDEO_COLUMNS, "source": "str"}  # + the fingerprint the rerun compares
TABLES = {"videos": STORE_VIDEO_COLUMNS, "annotations": ANNOTATION_COLUMNS, "labeled": LABELED_COLUMNS}
TABLE_CHUNKS = {"videos": 4096, "annotations": 65536, "labeled": 65536}


def compressors(cfg: BuildConfig):
    if cfg.codec == "none":
        return None
    if cfg.codec == "zstd":
        return ZstdCodec(level=cfg.clevel)
    return BloscCodec(cname=cfg.codec.split("-")[1], clevel=cfg.clevel, shuffle=cfg.shuffle)


def _np_dtype(dtype: str):
    return str if dtype == "str" else dtype


class StoreWriter:
    """Opens (resuming) or creates the store at `path` for config `cfg`.

    `built` maps video_id -> source fingerprint of the committed videos; `fresh` says whether the
    store was (re)created because it was missing, incomplete, or built with another config.
    """

    def __init__(self, path: str | Path, cfg: BuildConfig, source: dict, *, fresh: bool = False):
        self.path, self.cfg = Path(path), cfg
        self.fresh = fresh or not self._compatible()
        self._buf: np.ndarray | None = None
        if self.fresh:
            self._create(source)
        self.root = zarr.open_group(str(self.path), mode="r+")
        self.committed: dict[str, int] = dict(self.root.attrs["committed"])
        self.notes: dict[str, list[str]] = dict(self.root.attrs.get("video_notes", {}))
        self.unmapped: dict[str, dict[str, int]] = dict(self.root.attrs.get("unmapped_bodyparts", {}))
        self._truncate()
        vg = self.root["videos"]
        n = self.committed["videos"]
        self.built = dict(zip(vg["video_id"][:n].tolist(), vg["source"][:n].tolist(), strict=True))

    def _compatible(self) -> bool:
        try:
            attrs = zarr.open_group(str(self.path), mode="r").attrs
        except Exception:  # absent or unreadable: start afresh
            return False
        return (attrs.get("format_version") == FORMAT_VERSION and "committed" in attrs
                and attrs.get("build_config", {}).get("hash") == self.cfg.config_hash)

    def _create(self, source: dict) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)
        root = zarr.open_group(str(self.path), mode="w", zarr_format=3)
        cfg, a = self.cfg, len(ACTIONS)
        root.create_array("features", shape=(0, cfg.n_features), dtype="float32", fill_value=np.nan,
                          chunks=(cfg.chunk_rows, min(cfg.chunk_cols, cfg.n_features)), compressors=compressors(cfg))
        root.create_array("actions", shape=(0, a), dtype="uint8", fill_value=0,
                          chunks=(cfg.chunk_rows, a), compressors=compressors(cfg))
        for name, columns in TABLES.items():
            g = root.require_group(name)
            for col, dtype in columns.items():
                g.create_array(col, shape=(0,), dtype=_np_dtype(dtype), chunks=(TABLE_CHUNKS[name],))
        root["videos"].create_array("labeled_actions", shape=(0, a), dtype="uint8", chunks=(4096, a))
        root.attrs.update({  # last: a store without `committed` is incomplete and gets recreated
            "format_version": FORMAT_VERSION, "n_mice": N_MICE, "keypoints": list(cfg.keypoints),
            "actions": list(ACTIONS), "build_config": {**cfg.to_dict(), "hash": cfg.config_hash},
            "source": source, "committed": {"videos": 0, "rows": 0, "annotations": 0, "labeled": 0},
        })

    def _arrays(self):
        """(array, committed-count key) for every array of the store."""
        yield self.root["features"], "rows"
        yield self.root["actions"], "rows"
        for name in TABLES:
            key = "videos" if name == "videos" else name
            for arr in self.root[name].arrays():
                yield arr[1], key

    def _truncate(self) -> None:
        for arr, key in self._arrays():
            n = self.committed[key]
            if arr.shape[0] != n:
                arr.resize((n, *arr.shape[1:]))

    @staticmethod
    def _append(arr, values: np.ndarray, start: int) -> None:
        arr.resize((start + len(values), *arr.shape[1:]))
        if len(values):
            arr[start:start + len(values)] = values

    def append(self, batch: list) -> None:
        """Write a batch of `BuiltVideo`s and commit it (see the module docstring for the order)."""
        if not batch:
            return
        c = dict(self.committed)
        lengths = np.array([len(b) for b in batch], dtype=np.int64)
        offsets = c["rows"] + np.concatenate([[0], np.cumsum(lengths)[:-1]])
        feats = self._buffer(int(lengths.sum()))
        for b, off in zip(batch, offsets - c["rows"], strict=True):
            feats[off:off + len(b), b.columns] = b.values
        self._append(self.root["features"], feats, c["rows"])
        self._append(self.root["actions"], np.concatenate([b.actions for b in batch]), c["rows"])
        rows = {"annotations": [], "labeled": []}
        for j, b in enumerate(batch):
            vi = c["videos"] + j
            rows["annotations"] += [(vi, *r) for r in b.annotation_rows()]
            rows["labeled"] += [(vi, *r) for r in b.labeled]
        for name in rows:
            self._append_table(name, rows[name], c[name])
        table = [b.table_row() for b in batch]
        for j, (off, ln) in enumerate(zip(offsets, lengths, strict=True)):
            table[j].update(offset=int(off), length=int(ln))
        self._append(self.root["videos"]["labeled_actions"], np.stack([b.labeled_mask for b in batch]),
                     c["videos"])
        self._append_table("videos", [tuple(r[k] for k in STORE_VIDEO_COLUMNS) for r in table], c["videos"])
        self._commit(batch, c, len(feats))

    def _buffer(self, rows: int) -> np.ndarray:
        """A NaN-filled (rows, width) block, reusing one allocation: first-touch page faults of a
        fresh 150 MB array cost more CPU than compressing it."""
        have = 0 if self._buf is None else len(self._buf)
        if have < rows:
            self._buf = np.empty((max(rows, have * 5 // 4), self.cfg.n_features), dtype=np.float32)
        out = self._buf[:rows]
        out.fill(np.nan)
        return out

    def _append_table(self, name: str, rows: list[tuple], start: int) -> None:
        g, columns = self.root[name], TABLES[name]
        for i, (col, dtype) in enumerate(columns.items()):
            values = np.array([r[i] for r in rows], dtype=_np_dtype(dtype))
            self._append(g[col], values, start)

    def _commit(self, batch: list, c: dict, n_rows: int) -> None:
        c["rows"] += n_rows
        c["videos"] += len(batch)
        c["annotations"] = self.root["annotations"]["video_index"].shape[0]
        c["labeled"] = self.root["labeled"]["video_index"].shape[0]
        for b in batch:
            if b.notes:
                self.notes[str(b.task.video_id)] = b.notes
            lab = self.unmapped.setdefault(b.task.lab_id, {})
            for part, n in b.unmapped.items():
                lab[part] = lab.get(part, 0) + n
            self.built[b.task.video_id] = b.task.fingerprint
        self.root.attrs.update({"committed": c, "video_notes": self.notes, "unmapped_bodyparts": self.unmapped})
        self.committed = c

    def finish(self, report: dict) -> None:
        self.root.attrs.update({"build_report": report})
