"""The builder end to end on the hand-made raw set: round trip, labels, reruns, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import polars as pl
import pytest

from mabe_store import open_store
from mabe_store.behaviors import labeled_triples
from mabe_store.build import BuildError, build_store
from mabe_store.build_config import make_config
from mabe_store.constants import ACTION_INDEX, DEFAULT_KEYPOINTS, feature_column
from mabe_store.errors import MabeStoreError
from mabe_store.verify import check_contract, check_raw

QUIET = {"progress": False, "log": lambda _: None}


def build(raw, out, **kw):
    return build_store(raw, out, **QUIET, **kw)


def raw_long(raw, split, lab, vid) -> pl.DataFrame:
    return pl.read_parquet(raw / f"{split}_tracking" / lab / f"{vid}.parquet")


def test_round_trip_gives_the_raw_values(handmade_raw, tmp_path):
    report = build(handmade_raw, tmp_path / "s.zarr")
    assert report.ok and report.built == 5
    s = open_store(tmp_path / "s.zarr")
    df = raw_long(handmade_raw, "train", "LabA", 101)
    f = s.features(101)
    assert f.shape == (df["video_frame"].max() + 1, 144)
    for frame, mouse, part, x, y in df.sample(50, seed=1).iter_rows():
        k = DEFAULT_KEYPOINTS.index(part)
        assert f[frame, feature_column(mouse, k, 0)] == x and f[frame, feature_column(mouse, k, 1)] == y
    assert (~np.isnan(f)).sum() == 2 * df.height  # every raw row stored once, nothing else
    assert np.isnan(f[1]).all()  # the fixture drops frame 1 entirely
    assert set(s.videos["split"].tolist()) == {"train", "test"}
    assert check_contract(s) == [] and check_raw(s, handmade_raw) == []


def written_chunk_columns(array_dir, inner: tuple[int, int]) -> set[int]:
    """Inner-chunk columns stored in any shard, read from the shards' indexes (zarr's sharding
    layout: (offset, nbytes) uint64 per inner chunk + crc32c at the end; 2**64-1 = not stored)."""
    out = set()
    for shard in (array_dir / "c").glob("*/*"):
        data = shard.read_bytes()
        index = np.frombuffer(data[-(inner[0] * inner[1] * 16 + 4):-4], dtype="<u8").reshape(*inner, 2)
        out |= set(np.flatnonzero((index[..., 0] != 2**64 - 1).any(axis=0)).tolist())
    return out


def test_chunks_of_absent_mice_are_never_written(handmade_raw, tmp_path):
    build(handmade_raw, tmp_path / "s.zarr")
    s = open_store(tmp_path / "s.zarr")
    tracked = {m for v in s.videos["video_id"].tolist() for m in range(4)
               if not np.isnan(s.features(v)[:, m * 36:(m + 1) * 36]).all()}
    cfg = s.attrs["build_config"]
    written = written_chunk_columns(tmp_path / "s.zarr" / "features", (cfg["shard_rows"] // cfg["chunk_rows"], 4))
    assert written == tracked and len(tracked) < 4  # a chunk column per mouse, only where tracked
    assert s.load().features.shape == (s.n_frames, 144)


def test_labels_are_rasterised_clipped_and_kept_verbatim(handmade_store):
    s = open_store(handmade_store)
    acts = s.actions(101)
    assert acts[10:40, ACTION_INDEX["sniff"]].all() and acts[:10].sum() == 0
    assert acts[100:120, ACTION_INDEX["rear"]].all()  # rear runs 100..150, video has 120 frames
    assert acts[:, ACTION_INDEX["sniff"]].sum() == 30 and acts[:, ACTION_INDEX["rear"]].sum() == 20
    ann = s.annotations(101)
    assert ann["stop_frame"].tolist() == [40, 150]  # verbatim, not clipped
    lab = s.labeled_triples(102)  # the quoted duplicate entry is not a clean triple
    assert lab["action"].tolist() == ["sniff"]
    assert s.videos["n_mice"][s.index(201)] == 3


def test_rerun_skips_built_videos_and_completes_new_ones(handmade_raw, tmp_path):
    out = tmp_path / "s.zarr"
    build(handmade_raw, out)
    again = build(handmade_raw, out)
    assert again.built == 0 and again.already_built == 5 and not again.fresh
    csv = handmade_raw / "train.csv"
    rows = pl.read_csv(csv, infer_schema=False)
    rows.filter(pl.col("video_id") != "202").write_csv(csv)  # one video gone ...
    assert build(handmade_raw, out).fresh  # ... a vanished source rebuilds afresh
    rows.write_csv(csv)  # and back: appended incrementally
    r = build(handmade_raw, out)
    assert r.built == 1 and r.already_built == 4 and not r.fresh
    assert check_contract(open_store(out)) == []


def test_a_touched_source_or_new_config_rebuilds(handmade_raw, tmp_path):
    out = tmp_path / "s.zarr"
    build(handmade_raw, out)
    path = handmade_raw / "train_tracking" / "LabA" / "101.parquet"
    os.utime(path, ns=(1, 1))
    assert build(handmade_raw, out).fresh
    r = build(handmade_raw, out, cfg=make_config(chunk_rows=1024))
    assert r.fresh and r.built == 5


def test_corrupt_file_is_reported_and_the_others_built(handmade_raw, tmp_path):
    (handmade_raw / "train_tracking" / "LabA" / "102.parquet").write_bytes(b"garbage")
    pl.DataFrame({"video_frame": [0]}).write_parquet(handmade_raw / "train_tracking" / "LabB" / "202.parquet")
    report = build(handmade_raw, tmp_path / "s.zarr")
    assert not report.ok and report.built == 3
    assert any("video 102" in s and "unreadable parquet" in s for s in report.skipped)
    assert any("video 202" in s and "missing column" in s for s in report.skipped)
    s = open_store(tmp_path / "s.zarr")
    assert sorted(s.videos["video_id"].tolist()) == [101, 201, 301]
    assert s.attrs["build_report"]["skipped"] == report.skipped
    assert check_contract(s) == []
    assert any("not in the store" in p for p in check_raw(s, handmade_raw))


def test_bad_rows_are_repaired_with_a_reason(handmade_raw, tmp_path):
    path = handmade_raw / "train_tracking" / "LabA" / "101.parquet"
    df = pl.read_parquet(path)
    pl.concat([df, df.head(3).with_columns(mouse_id=pl.lit(6, dtype=df["mouse_id"].dtype))]).write_parquet(path)
    report = build(handmade_raw, tmp_path / "s.zarr")
    assert report.ok
    assert any("video 101" in r and "3 rows with mouse_id outside 1..4" in r for r in report.repaired)
    assert any("forepaw_left" in line for line in report.lines())
    assert check_raw(open_store(tmp_path / "s.zarr"), handmade_raw) == []


def test_malformed_behaviors_labeled_keeps_the_readable_entries():
    triples, notes = labeled_triples(json.dumps(["mouse1,mouse2,sniff", "mouse9,x,fly", "'mouse1','mouse2','sniff'"]))
    assert [(t.agent, t.target, t.action) for t in triples] == [(1, 2, "sniff")]
    assert "ignored 1 unreadable entry" in notes[0]
    assert labeled_triples("[not json")[0] == [] and "not a JSON list" in labeled_triples("[not json")[1][0]
    assert labeled_triples("") == ([], [])


def test_an_unreadable_entry_is_a_repair_note_and_the_rest_is_stored(handmade_raw, tmp_path):
    csv = handmade_raw / "train.csv"
    rows = pl.read_csv(csv, infer_schema=False)
    bogus = json.dumps(["mouse1,mouse2,sniff", "mouse1,mouse2,bogus"])
    rows.with_columns(behaviors_labeled=pl.when(pl.col("video_id") == "101").then(pl.lit(bogus))
                      .otherwise(pl.col("behaviors_labeled"))).write_csv(csv)
    report = build(handmade_raw, tmp_path / "s.zarr")
    assert report.ok and any("video 101" in r and "unknown action 'bogus'" in r for r in report.repaired)
    assert open_store(tmp_path / "s.zarr").labeled_triples(101)["action"].tolist() == ["sniff"]


def test_unlisted_tracking_files_are_reported(handmade_raw, tmp_path):
    src = handmade_raw / "train_tracking" / "LabA" / "101.parquet"
    (handmade_raw / "train_tracking" / "LabA" / "999.parquet").write_bytes(src.read_bytes())
    report = build(handmade_raw, tmp_path / "s.zarr")
    assert any("999.parquet: not listed in train.csv" in s for s in report.skipped)


def test_parallel_build_equals_serial(handmade_raw, tmp_path):
    build(handmade_raw, tmp_path / "a.zarr", jobs=1)
    build(handmade_raw, tmp_path / "b.zarr", jobs=2)
    a, b = open_store(tmp_path / "a.zarr"), open_store(tmp_path / "b.zarr")
    np.testing.assert_array_equal(a.feature_array[...], b.feature_array[...])
    np.testing.assert_array_equal(a.videos["offset"], b.videos["offset"])


def test_no_metadata_is_a_build_error(tmp_path):
    with pytest.raises(MabeStoreError, match="no train.csv or test.csv"):
        build(tmp_path, tmp_path / "s.zarr")


def test_verify_notices_raw_annotations_that_moved(handmade_raw, tmp_path):
    from tests.conftest import write_annotation

    build(handmade_raw, tmp_path / "s.zarr")
    s = open_store(tmp_path / "s.zarr")
    assert check_raw(s, handmade_raw, sample=5) == []
    write_annotation(handmade_raw / "train_annotation" / "LabA" / "101.parquet", [(1, 2, "sniff", 10, 41)])
    assert any("video 101: annotation intervals differ" in p for p in check_raw(s, handmade_raw, sample=5))


def test_never_overwrites_something_that_is_not_a_store(handmade_raw, tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...")
    with pytest.raises(BuildError, match="not a Zarr store"):
        build(handmade_raw, precious)
    assert (precious / "chapter1.tex").exists()
