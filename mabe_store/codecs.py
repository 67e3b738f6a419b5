"""The codecs of `features` and `actions`, all shipped with zarr (a plain `zarr` reads the store).

Default chain per inner chunk: `TransposeCodec((1, 0))` (each column's values become contiguous
along time) -> bytes -> `Shuffle(itemsize)` (byte planes: the sign/exponent bytes of nearby pixel
coordinates repeat) -> `ZstdCodec(1)`. Measured through zarr on 3-decimal coordinates with
realistic jitter (bench/bench_store.py --codecs): 0.81 x the bytes of zstd-1 alone at about
the same write speed; zstd-3/9 gain nothing, bitshuffle and lz4 are larger. Not offered:
`PCodec` after `TransposeCodec`, which with zarr 3.1.6 / numcodecs 0.16.6 silently returns wrong
values (tests/mabe_store/test_codecs.py round-trips every chain offered here).
"""

from __future__ import annotations

from zarr.codecs import BloscCodec, TransposeCodec, ZstdCodec

from mabe_store.build_config import BuildConfig
from mabe_store.errors import zarr_codec_notice_silenced


def _shuffle(itemsize: int):
    with zarr_codec_notice_silenced():
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
