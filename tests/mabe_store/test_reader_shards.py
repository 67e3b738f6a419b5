"""The reader's own shard decoding (reader.ShardRows) against zarr's read of the same files: every
codec chain it takes, rows across chunk and shard edges, absent mice, missing shard files,
a rewritten shard, staging into a memory map; and zarr still reading what it cannot."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from mabe_store import open_store
from mabe_store.build_config import make_config
from mabe_store.codecs import ShardLayout
from mabe_store.format import VideoData
from mabe_store.reader import ShardRows
from mabe_store.writer import write_store

SMALL = {"chunk_rows": 256, "shard_rows": 1024}


def _videos(rng, lengths, mice=(2, 2, 4, 1, 3)) -> list[VideoData]:
    out = []
    for i, (n, m) in enumerate(zip(lengths, mice, strict=False)):
        feats = np.full((n, 144), np.nan, dtype=np.float32)
        feats[:, :36 * m] = np.round(rng.normal(300, 40, (n, 36 * m)), 3)
        feats[rng.random((n, 144)) < 0.1] = np.nan
        out.append(VideoData(i, "LabA", feats, behaviors_labeled='["mouse1,mouse2,sniff"]',
                             annotations=[(1, 2, "sniff", n // 4, n // 2), (1, 1, "rear", n - 7, n + 3)]))
    return out


def _both(path):
    """The store read by ShardRows, and the same store read by zarr alone."""
    fast, slow = open_store(path), open_store(path)
    slow._fast = {"features": None, "actions": None}
    return fast, slow


@pytest.mark.parametrize("settings", [{}, {"shuffle": "noshuffle"}, {"transpose": False}, {"codec": "none"},
                                      {"transpose": False, "shuffle": "noshuffle"}])
def test_own_decoding_equals_zarr_on_every_range(tmp_path, settings):
    cfg = make_config(**SMALL, **settings)
    videos = _videos(np.random.default_rng(0), [300, 900, 40, 1500, 700])
    write_store(tmp_path / "s.zarr", videos, cfg=cfg)
    fast, slow = _both(tmp_path / "s.zarr")
    assert fast._fast["features"] is not None and fast._fast["actions"] is not None
    n = fast.n_frames
    for lo, hi in [(0, n), (0, 1), (255, 257), (1000, 1100), (1023, 2049), (n - 5, n), (3000, 3000), (n - 3, n + 50)]:
        np.testing.assert_array_equal(fast.feature_rows(lo, hi), slow.feature_array[lo:hi])
        np.testing.assert_array_equal(fast.action_rows(lo, hi), slow.action_array[lo:hi])
    for v in videos:
        np.testing.assert_array_equal(fast.features(v.video_id), v.features)
        np.testing.assert_array_equal(fast.actions(v.video_id), slow.actions(v.video_id))
    staged, reference = fast.load(), slow.load()
    np.testing.assert_array_equal(staged.features, reference.features)
    np.testing.assert_array_equal(staged.actions, reference.actions)
    mapped = fast.load([4, 1], out=tmp_path / "cache", max_ram_gb=1e-9)
    assert isinstance(mapped.features, np.memmap)
    np.testing.assert_array_equal(mapped.features, slow.load([4, 1]).features)


def test_absent_chunks_and_shard_files_read_as_fill(tmp_path):
    videos = _videos(np.random.default_rng(1), [1100, 1100], mice=(1, 1))  # mice 2-4 never stored
    write_store(tmp_path / "s.zarr", videos, cfg=make_config(**SMALL))
    gone = tmp_path / "s.zarr" / "features" / "c" / "1" / "0"
    gone.unlink()  # as if the shard held only fill
    fast, slow = _both(tmp_path / "s.zarr")
    rows = fast.feature_rows(0, 2200)
    np.testing.assert_array_equal(rows, slow.feature_array[:2200])
    assert np.isnan(rows[1024:2048]).all() and np.isnan(rows[:, 36:]).all()


def test_a_rewritten_shard_is_decoded_afresh(tmp_path):
    """The chunk cache is keyed by the shard file's identity: a build that rewrites the partial
    last shard (more rows committed) never serves stale chunks."""
    cfg = make_config(**SMALL)
    videos = _videos(np.random.default_rng(2), [300, 200])
    write_store(tmp_path / "s.zarr", videos[:1], cfg=cfg)
    s = open_store(tmp_path / "s.zarr")
    first = s.feature_rows(0, 300)
    other = _videos(np.random.default_rng(3), [300])
    write_store(tmp_path / "s.zarr", other, cfg=cfg)  # same rows, other values, new file
    reread = s._fast["features"].read(0, 300)
    np.testing.assert_array_equal(reread, other[0].features)
    assert not np.array_equal(first, reread, equal_nan=True)


def test_chains_it_cannot_decode_are_left_to_zarr(tmp_path):
    cfg = make_config(**SMALL, codec="blosc-zstd")
    videos = _videos(np.random.default_rng(4), [500])
    write_store(tmp_path / "s.zarr", videos, cfg=cfg)
    s = open_store(tmp_path / "s.zarr")
    assert s._fast["features"] is None
    np.testing.assert_array_equal(s.features(0), videos[0].features)
    np.testing.assert_array_equal(s.load().features, videos[0].features)


def test_layout_parses_exactly_the_chains_written_here(tmp_path):
    write_store(tmp_path / "s.zarr", _videos(np.random.default_rng(5), [10]), cfg=make_config(**SMALL))
    meta = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["features"].metadata.to_dict()
    layout = ShardLayout.of(meta)
    assert layout == ShardLayout((1024, 144), (256, 36), np.dtype("float32"), True, True, True)
    inner = meta["codecs"][0]["configuration"]["codecs"]
    for bad in ({"name": "gzip", "configuration": {"level": 1}}, {"name": "numcodecs.shuffle",
                                                                  "configuration": {"elementsize": 2}}):
        changed = {**meta, "codecs": [{**meta["codecs"][0], "configuration": {
            **meta["codecs"][0]["configuration"], "codecs": [*inner[:2], bad, inner[3]]}}]}
        assert ShardLayout.of(changed) is None
    assert ShardRows.of(zarr.open_array(zarr.storage.MemoryStore(), mode="w", shape=(4, 4), dtype="f4")) is None
