"""The one writer: exact round trips through every codec chain offered, shards written across
video boundaries, resuming a partly filled shard, and a test-only build that reads no train file."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from mabe_store import open_store
from mabe_store.build import build_store
from mabe_store.build_config import make_config
from mabe_store.codecs import array_codecs
from mabe_store.errors import zarr_codec_notice_silenced
from mabe_store.format import VideoData, rasterise
from mabe_store.verify import check_contract, check_raw
from mabe_store.writer import write_store

QUIET = {"progress": False, "log": lambda _: None}
SMALL = {"chunk_rows": 256, "shard_rows": 512}  # several shards even for the tiny fixtures


def coordinates(rng, n: int) -> np.ndarray:
    """(n, 144) pixels with 3 decimals and tracking jitter, two mice, 10% of points untracked."""
    walk = np.cumsum(rng.normal(0, 1.5, (n, 2, 1, 2)), axis=0) + rng.uniform(100, 500, (1, 2, 1, 2))
    pts = np.full((n, 4, 18, 2), np.nan)
    pts[:, :2] = walk + rng.normal(0, 20, (1, 2, 18, 2)) + rng.normal(0, 0.8, (n, 2, 18, 2))
    pts[:, :2][rng.random((n, 2, 18)) < 0.1] = np.nan
    return np.round(pts, 3).astype(np.float32).reshape(n, 144)


@pytest.mark.parametrize("settings", [
    {}, {"shuffle": "noshuffle"}, {"transpose": False}, {"clevel": 9}, {"codec": "none"},
    {"codec": "blosc-zstd"}, {"codec": "blosc-lz4", "shuffle": "bitshuffle"}, {"codec": "blosc-zstd", "transpose": False},
])
def test_every_codec_chain_round_trips_exactly(tmp_path, settings):
    cfg = make_config(**SMALL, **settings)
    values = coordinates(np.random.default_rng(0), 1300)
    labels = (np.random.default_rng(1).random((1300, 37)) < 0.05).astype(np.uint8)
    with zarr_codec_notice_silenced():
        root = zarr.open_group(str(tmp_path / "c.zarr"), mode="w")
        for name, data, size in (("f", values, 4), ("a", labels, 1)):
            arr = root.create_array(name, shape=data.shape, dtype=data.dtype, chunks=(256, 36 if size == 4 else 37),
                                    shards=(512, data.shape[1]), fill_value=np.nan if size == 4 else 0,
                                    **array_codecs(cfg, size))
            arr[...] = data
        reopened = zarr.open_group(str(tmp_path / "c.zarr"), mode="r")
        np.testing.assert_array_equal(reopened["f"][...], values)
        np.testing.assert_array_equal(reopened["a"][...], labels)
        np.testing.assert_array_equal(reopened["f"][700:900, 30:40], values[700:900, 30:40])


def _videos(rng, lengths) -> list[VideoData]:
    return [VideoData(video_id=i, lab_id=f"Lab{i % 2}", features=coordinates(rng, n), behaviors_labeled=
                      '["mouse1,mouse2,sniff"]', annotations=[(1, 2, "sniff", n // 3, n // 2), (1, 2, "sniff", n - 5, n + 9)])
            for i, n in enumerate(lengths)]


@pytest.mark.parametrize(("flush_rows", "settings"), [
    (1, {}), (700, {}), (None, {}), (700, {"shuffle": "noshuffle", "transpose": False}), (700, {"codec": "none"}),
    (700, {"codec": "blosc-zstd"}),  # through zarr's own shard writer
])
def test_rows_cross_shards_and_commits_exactly(tmp_path, flush_rows, settings):
    """The writer encodes shards itself (codecs.encode_shard); zarr must read them back exactly."""
    from mabe_store.writer import StoreWriter, VideoRows

    videos = _videos(np.random.default_rng(2), [300, 700, 20, 1100, 64])
    cfg = make_config(**SMALL, **settings)
    w = StoreWriter(tmp_path / "s.zarr", cfg, {"builder": "test"}, fresh=True, flush_rows=flush_rows)
    for v in videos:
        w.append(VideoRows(v.video_id, v.lab_id, "train", v.features, np.arange(144), v.annotations,
                           {"behaviors_labeled": v.behaviors_labeled}, 2))
    w.finish()
    s = open_store(tmp_path / "s.zarr")
    assert check_contract(s) == []
    for v in videos:
        np.testing.assert_array_equal(s.features(v.video_id), v.features)
        np.testing.assert_array_equal(s.actions(v.video_id), rasterise(v.annotations, len(v.features)))


def test_a_resumed_writer_reloads_the_partial_shard(tmp_path):
    videos = _videos(np.random.default_rng(3), [300, 400, 350])
    cfg = make_config(**SMALL)
    write_store(tmp_path / "s.zarr", videos[:2], cfg=cfg)  # 700 rows: shard 1 is partly filled
    from mabe_store.writer import StoreWriter, VideoRows

    w = StoreWriter(tmp_path / "s.zarr", cfg, {})
    assert not w.fresh and w.committed["rows"] == 700
    v = videos[2]
    w.append(VideoRows(v.video_id, v.lab_id, "train", v.features, np.arange(144), v.annotations,
                       {"behaviors_labeled": v.behaviors_labeled}, 2))
    w.finish()
    s = open_store(tmp_path / "s.zarr")
    assert check_contract(s) == [] and s.n_videos == 3
    for v in videos:
        np.testing.assert_array_equal(s.features(v.video_id), v.features)


def test_small_shards_build_reruns_and_verify_raw_exactly(handmade_raw, tmp_path):
    cfg = make_config(**SMALL)
    out = tmp_path / "s.zarr"
    build_store(handmade_raw, out, cfg=cfg, flush_rows=1, **QUIET)
    s = open_store(out)
    assert check_contract(s) == [] and check_raw(s, handmade_raw, sample=10) == []
    again = build_store(handmade_raw, out, cfg=cfg, **QUIET)
    assert again.built == 0 and again.already_built == 5


def test_a_test_only_build_reads_no_train_file(handmade_raw, tmp_path):
    train = [handmade_raw / "train.csv", *(handmade_raw / "train_tracking").rglob("*.parquet"),
             *(handmade_raw / "train_annotation").rglob("*.parquet")]
    for p in train:
        p.write_bytes(b"garbage")  # reading any of them would fail the build or skip a video
    report = build_store(handmade_raw, tmp_path / "s.zarr", splits=("test",), **QUIET)
    assert report.ok and report.built == 1 and report.skipped == []
    s = open_store(tmp_path / "s.zarr")
    assert s.videos["split"].tolist() == ["test"] and s.attrs["source"]["splits"] == ["test"]
    assert check_contract(s) == [] and check_raw(s, handmade_raw) == []
