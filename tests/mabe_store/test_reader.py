"""The reader API over both writers: plain `write_store` and the builder's append-only store."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from mabe_store import StoreError, open_store
from mabe_store.constants import ACTION_INDEX
from mabe_store.format import VideoData
from mabe_store.writer import write_store


def video(vid: int, length: int, seed: int, lab: str = "LabX") -> VideoData:
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(length, 144)).astype(np.float32)
    feats[:, 72:] = np.nan
    return VideoData(vid, lab, feats, behaviors_labeled='["mouse1,mouse2,sniff"]',
                     annotations=[(1, 2, "sniff", 2, 5), (2, 2, "rear", length - 2, length + 9)])


def test_write_store_round_trip(tmp_path):
    vids = [video(7, 20, 0), video(3, 11, 1, lab="LabY")]
    write_store(tmp_path / "s.zarr", vids)
    s = open_store(tmp_path / "s.zarr")
    assert s.n_videos == 2 and s.n_frames == 31
    np.testing.assert_array_equal(s.features(3), vids[1].features)
    assert s.actions(7)[2:5, ACTION_INDEX["sniff"]].all() and s.actions(7)[18:, ACTION_INDEX["rear"]].all()
    assert s.annotations(7)["stop_frame"].tolist() == [5, 29]
    assert s.labeled_triples(3)["action"].tolist() == ["sniff"]
    staged = s.load([3, 7])
    np.testing.assert_array_equal(staged.features[:11], vids[1].features)
    np.testing.assert_array_equal(staged.features[11:], vids[0].features)
    assert staged.lengths.tolist() == [11, 20] and staged.nbytes == 31 * (144 * 4 + 37)
    assert staged.features[staged.rows(1)].shape == (20, 144)
    assert not isinstance(staged.features, np.memmap) and not (tmp_path / "cache").exists()
    roomy = s.load([3, 7], out=tmp_path / "cache")  # fits the default limit: RAM, no files
    assert not isinstance(roomy.features, np.memmap) and not (tmp_path / "cache").exists()
    mapped = s.load([3, 7], out=tmp_path / "cache", max_ram_gb=1e-9)  # over the limit: .npy files, mapped
    assert isinstance(mapped.features, np.memmap) and isinstance(mapped.actions, np.memmap)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["actions.npy", "features.npy"]
    np.testing.assert_array_equal(np.load(tmp_path / "cache" / "features.npy"), staged.features)
    np.testing.assert_array_equal(mapped.actions, staged.actions)


def test_rows_past_the_commit_are_invisible(handmade_store, tmp_path):
    """What a build killed between writing rows and committing them leaves behind."""
    import shutil
    path = tmp_path / "s.zarr"
    shutil.copytree(handmade_store, path)
    before = open_store(path)
    root = zarr.open_group(str(path), mode="r+")
    for name in ("video_id", "lab_id"):
        arr = root["videos"][name]
        arr.resize((arr.shape[0] + 1,))
    ann = root["annotations"]["video_index"]
    ann.resize((ann.shape[0] + 2,))
    ann[-2:] = before.n_videos
    after = open_store(path)
    assert after.n_videos == before.n_videos
    assert len(after.table("annotations")["video_index"]) == len(before.table("annotations")["video_index"])
    np.testing.assert_array_equal(after.videos["video_id"], before.videos["video_id"])


def test_missing_store_and_unknown_video_say_what_to_do(tmp_path, handmade_store):
    with pytest.raises(StoreError, match="make build-store"):
        open_store(tmp_path / "nope.zarr")
    with pytest.raises(StoreError, match="is not in"):
        open_store(handmade_store).features(424242)
