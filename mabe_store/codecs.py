"""The codecs of `features` and `actions`, all shipped with zarr (a plain `zarr` reads the store).

Default chain per inner chunk: `TransposeCodec((1, 0))` (each column's values become contiguous
along time) -> bytes -> `Shuffle(itemsize)` (byte planes: the sign/exponent bytes of nearby pixel
coordinates repeat) -> `ZstdCodec(1)`. Measured by bench/bench_store.py on the kaggle-shaped
synthetic set (3-decimal coordinates, 2.24M frames): features 236.9 MB = 0.83 x plain zstd-1 on
the same rows (287.1 MB); on a 3-decimal random walk with 0.8 px jitter 0.88 x; blosc-zstd with
shuffle only 0.94 x, shuffle without transpose 0.91 x. Through zarr, decoding transpose +
shuffle makes per-video reads of `features` ~1.6 x slower than zstd-1 alone (5.2 vs 3.1 s for all
186 videos), so `ShardLayout` + `reader.ShardRows` decode these shards without zarr. Not offered:
`PCodec` after `TransposeCodec`, which with zarr 3.1.6 / numcodecs 0.16.6 silently returns wrong
values (tests/mabe_store/test_writer.py round-trips every chain offered here).
"""

from __future__ import annotations

from dataclasses import dataclass

import google_crc32c
import numcodecs
import numpy as np
from zarr.codecs import BloscCodec, TransposeCodec, ZstdCodec

from mabe_store.build_config import BuildConfig
from mabe_store.errors import zarr_codec_notice_silenced


def _shuffle(itemsize: int):
    with zarr_codec_notice_silenced():
        # imported here, not at the top: importing it warns, and only this block silences that
        from zarr.codecs.numcodecs import Shuffle

        return Shuffle(elementsize=itemsize)


def array_codecs(cfg: BuildConfig, itemsize: int) -> dict:
    """`filters` and `compressors` for `zarr.create_array` of a 2-D array of `itemsize`-byte values."""
    filters = [TransposeCodec(order=(1, 0))] if cfg.transpose else []
    if cfg.codec == "none":
        return {"filters": filters, "compressors": None}
    if cfg.codec == "zstd":
        shuffle = [_shuffle(itemsize)] if cfg.shuffle == "shuffle" and itemsize > 1 else []
        return {"filters": filters, "compressors": [*shuffle, ZstdCodec(level=cfg.clevel)]}
    return {"filters": filters, "compressors": [BloscCodec(cname=cfg.codec.split("-")[1], clevel=cfg.clevel,
                                                           shuffle=cfg.shuffle, typesize=itemsize)]}


_ZSTD = numcodecs.Zstd()  # decoding needs no level
MISSING = 2**64 - 1  # zarr's sharding index entry of an inner chunk that is not stored


def _encode_chunk(chunk_t: np.ndarray, cfg: BuildConfig, zstd) -> bytes:
    """Transpose -> bytes -> shuffle -> zstd, as zarr would, from a (cols, rows) view of the
    column-major shard buffer: the transpose is already done, and the byte shuffle is one copy
    whose inner loop reads with a 4-byte stride (byte plane b of element (c, r) is byte b of
    `chunk_t[c, r]`, numcodecs.Shuffle's layout): ~1 ms per (16,384 x 36) chunk, against
    ~2.5 ms for the same copy from a row-major buffer."""
    itemsize = chunk_t.dtype.itemsize
    if cfg.shuffle == "shuffle" and itemsize > 1 and cfg.codec != "none":
        planes = chunk_t.view(np.uint8).reshape(*chunk_t.shape, itemsize)  # (cols, rows, byte)
        data = planes.transpose((2, 0, 1) if cfg.transpose else (2, 1, 0))
    else:
        data = chunk_t if cfg.transpose else chunk_t.T
    data = np.ascontiguousarray(data)
    return data.tobytes() if zstd is None else zstd.encode(data)


def direct_shards(cfg: BuildConfig) -> bool:
    """Whether `encode_shard` can write this config's shards (zstd or none; blosc goes through zarr)."""
    return cfg.codec in ("zstd", "none")


def encode_shard(block_t: np.ndarray, chunks: tuple[int, int], cfg: BuildConfig,
                 written: np.ndarray | None = None) -> bytes | None:
    """One whole shard file of a 2-D array, byte for byte what zarr's ShardingCodec with
    `array_codecs(cfg)` reads, from the shard held column-major: `block_t` is (cols, shard_rows),
    the transpose of the shard. The file: the stored inner chunks, then the index ((offset,
    nbytes) uint64 little-endian per inner chunk, row-major; MISSING where a chunk is all fill
    and not stored) and its crc32c. None when every chunk is fill (no file). Encoding here rather
    than through `arr[...] = block` halves the CPU of a shard write (zarr's per-chunk machinery
    costs as much as the compression itself); tests/mabe_store/test_writer.py reads every shard
    back via zarr. `written` (grid-shaped bool), when given, names the inner chunks that may
    hold data: the others are known to be fill and are not even scanned."""
    rows, cols = chunks
    grid = (block_t.shape[1] // rows, block_t.shape[0] // cols)
    index = np.full((*grid, 2), MISSING, dtype="<u8")
    zstd = None if cfg.codec == "none" else numcodecs.Zstd(level=cfg.clevel)
    parts, pos = [], 0
    for i in range(grid[0]):
        for j in range(grid[1]):
            if written is not None and not written[i, j]:
                continue
            chunk_t = block_t[j * cols:(j + 1) * cols, i * rows:(i + 1) * rows]
            if written is None and (np.isnan(chunk_t).all() if chunk_t.dtype.kind == "f" else not chunk_t.any()):
                continue
            data = _encode_chunk(chunk_t, cfg, zstd)
            index[i, j] = (pos, len(data))
            parts.append(data)
            pos += len(data)
    if not parts:
        return None
    raw = index.tobytes()
    return b"".join([*parts, raw, np.uint32(google_crc32c.value(raw)).astype("<u4").tobytes()])


@dataclass(frozen=True)
class ShardLayout:
    """How an array that `encode_shard` (or zarr with `array_codecs`, zstd or none) wrote is laid
    out, parsed from its zarr.json: enough for `decode_rows` to read it without zarr. `of` gives
    None for any other codec chain (blosc, another index layout), which zarr then reads."""

    shard: tuple[int, int]
    chunk: tuple[int, int]
    dtype: np.dtype
    transpose: bool
    shuffle: bool
    zstd: bool

    @property
    def grid(self) -> tuple[int, int]:
        return self.shard[0] // self.chunk[0], self.shard[1] // self.chunk[1]

    @property
    def index_bytes(self) -> int:
        return self.grid[0] * self.grid[1] * 16 + 4

    @classmethod
    def of(cls, meta: dict) -> ShardLayout | None:
        try:
            (sharding,) = meta["codecs"]
            conf, dtype = sharding["configuration"], np.dtype(meta["data_type"])
            names = [c["name"] for c in conf["codecs"]]
            simple = (sharding["name"] == "sharding_indexed" and conf.get("index_location", "end") == "end"
                      and [c["name"] for c in conf["index_codecs"]] == ["bytes", "crc32c"]
                      and meta["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
                      and len(meta["shape"]) == 2 and dtype.byteorder in "=<|")
            transpose = names[:1] == ["transpose"]
            if transpose and conf["codecs"][0]["configuration"]["order"] not in ([1, 0], (1, 0)):
                return None
            rest = names[1:] if transpose else names
            shuffle = rest[1:2] == ["numcodecs.shuffle"]
            if shuffle and conf["codecs"][names.index("numcodecs.shuffle")]["configuration"].get(
                    "elementsize") != dtype.itemsize:
                return None
            zstd = rest[1 + shuffle:] == ["zstd"]
            if not simple or rest[:1] != ["bytes"] or len(rest) != 1 + shuffle + zstd:
                return None
            return cls(tuple(meta["chunk_grid"]["configuration"]["chunk_shape"]), tuple(conf["chunk_shape"]),
                       dtype, transpose, shuffle, zstd)
        except (KeyError, TypeError, ValueError):
            return None

    def index(self, tail: bytes) -> np.ndarray:
        """(grid rows, grid cols, 2) (offset, nbytes) from a shard file's last `index_bytes`;
        ValueError when its crc32c does not match (a torn or foreign file)."""
        raw, crc = tail[:-4], np.frombuffer(tail[-4:], dtype="<u4")[0]
        if google_crc32c.value(raw) != crc:
            raise ValueError("shard index checksum mismatch")
        return np.frombuffer(raw, dtype="<u8").reshape(*self.grid, 2)

    def decode(self, data: bytes) -> np.ndarray:
        """One stored inner chunk, decompressed: (itemsize, cols, rows) byte planes when shuffled,
        else the chunk as stored, (cols, rows) when transposed, (rows, cols) otherwise."""
        raw = np.frombuffer(_ZSTD.decode(data) if self.zstd else data, dtype=np.uint8)
        rows, cols = self.chunk
        shape = (cols, rows) if self.transpose else (rows, cols)
        if self.shuffle:
            return raw.reshape(self.dtype.itemsize, *shape)
        return raw.view(self.dtype).reshape(shape)

    def rows_into(self, stored: np.ndarray, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows [r0, r1) of a decoded chunk (`decode`) into `out` (r1 - r0, cols): the shuffle is
        undone for those rows only (a 100-frame window touches 100 of 16,384), then transposed."""
        if self.shuffle:
            sel = stored[:, :, r0:r1] if self.transpose else stored[:, r0:r1, :]
            plain = np.empty(sel.shape[1:], dtype=self.dtype)
            planes = plain.view(np.uint8).reshape(*sel.shape[1:], self.dtype.itemsize)
            for b in range(self.dtype.itemsize):
                planes[..., b] = sel[b]
        else:
            plain = stored[:, r0:r1] if self.transpose else stored[r0:r1]
        out[...] = plain.T if self.transpose else plain
