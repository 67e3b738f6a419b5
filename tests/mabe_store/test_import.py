"""`mabe-store import`: every format in its exact layout -> the Kaggle raw layout, values kept exactly."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

for _m in ("pandas", "tables", "h5py", "xarray", "h5netcdf"):
    pytest.importorskip(_m)

from mabe_store.importers import ImportFailure, ImportOptions, detect_format, import_files, read_poses  # noqa: E402
from mabe_store.importers.keymap import DEFAULT_ALIASES, KeymapError, load_keymap  # noqa: E402
from tests.mabe_store.pose_files import (  # noqa: E402
    poses,
    write_dlc_csv,
    write_dlc_h5,
    write_movement,
    write_sleap,
)

PARTS = ["Nose", "Ear_left", "right_ear", "Center", "Tail_base", "Tail_end", "forepaw"]
SLOTS = ["nose", "ear_left", "ear_right", "body_center", "tail_base", "tail_tip", "forepaw"]
WRITERS = {
    "dlc-h5": lambda p, pos, conf, ind, kp: write_dlc_h5(p.with_suffix(".h5"), pos, conf, ind, kp),
    "dlc-csv": lambda p, pos, conf, ind, kp: write_dlc_csv(p.with_suffix(".csv"), pos, conf, ind, kp),
    "sleap": lambda p, pos, conf, ind, kp: write_sleap(p.with_suffix(".analysis.h5"), pos, conf, ind, kp),
    "sleap-standard": lambda p, pos, conf, ind, kp: write_sleap(p.with_suffix(".analysis.h5"), pos, conf, ind, kp,
                                                                preset="standard"),
    "movement": lambda p, pos, conf, ind, kp: write_movement(p.with_suffix(".nc"), pos, conf, ind, kp),
    "movement-plural": lambda p, pos, conf, ind, kp: write_movement(p.with_suffix(".nc"), pos, conf, ind, kp,
                                                                    plural=True),
    "movement-space-last": lambda p, pos, conf, ind, kp: write_movement(p.with_suffix(".nc"), pos, conf, ind, kp,
                                                                        space_last=True),
}
DETECTED = {"dlc-h5": "dlc-h5", "dlc-csv": "dlc-csv", "sleap": "sleap", "sleap-standard": "sleap", "movement": "movement",
            "movement-plural": "movement", "movement-space-last": "movement"}


def expected_rows(pos, conf, min_conf, mice: list[int]) -> pl.DataFrame:
    keep = np.isfinite(pos[..., 0]) & (np.nan_to_num(conf, nan=-1) >= min_conf if min_conf > 0 else True)
    keep = keep[:, mice]
    f, m, k = np.nonzero(keep)
    xy = pos[:, mice][f, m, k]
    return pl.DataFrame({"video_frame": pl.Series(f, dtype=pl.Int32), "mouse_id": pl.Series(m + 1, dtype=pl.Int8),
                         "bodypart": [SLOTS[i] for i in k], "x": pl.Series(xy[:, 0], dtype=pl.Float32),
                         "y": pl.Series(xy[:, 1], dtype=pl.Float32)})


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_each_format_lands_in_the_raw_layout_with_the_files_values(tmp_path, fmt):
    rng = np.random.default_rng(1)
    pos, conf = poses(rng, 60, 2, len(PARTS), missing=0.15)
    path = WRITERS[fmt](tmp_path / "rec", pos, conf, ["m_a", "m_b"], PARTS)
    assert detect_format(path) == DETECTED[fmt]
    report = import_files([path], tmp_path / "raw", ImportOptions(lab="LabX", fps=25, pix_per_cm=8,
                                                                 min_confidence=0.3), log=lambda _: None)
    assert report.ok, report.failed
    vid = report.video_ids[str(path)]
    got = pl.read_parquet(tmp_path / "raw" / "test_tracking" / "LabX" / f"{vid}.parquet")
    assert dict(got.schema) == {"video_frame": pl.Int32, "mouse_id": pl.Int8, "bodypart": pl.String,
                                "x": pl.Float32, "y": pl.Float32}
    assert_frame_equal(got, expected_rows(pos, conf, 0.3, [0, 1]))
    row = pl.read_csv(tmp_path / "raw" / "test.csv", infer_schema=False).row(0, named=True)
    assert (row["lab_id"], row["video_id"], row["frames_per_second"], row["pix_per_cm_approx"]) == (
        "LabX", str(vid), "25", "8")
    assert (row["mouse1_id"], row["mouse2_id"], row["mouse3_id"]) == ("m_a", "m_b", "")
    assert json.loads(row["body_parts_tracked"]) == SLOTS
    assert row["video_duration_sec"] == "2.4"
    assert "forepaw (" in report.imported[0] and "fit no slot" in report.imported[0]


def test_missing_points_are_absent_rows_and_low_confidence_is_dropped_only_when_asked(tmp_path):
    pos, conf = poses(np.random.default_rng(2), 40, 2, 3, missing=0.0)
    pos[3, 0, 1] = np.nan  # one untracked point
    conf[:, :, :] = 0.9
    conf[7, 1, 2] = 0.1  # one doubtful point
    path = write_dlc_h5(tmp_path / "a.h5", pos, conf, ["i1", "i2"], ["nose", "ear_left", "ear_right"])
    for min_conf, rows in ((0.0, 40 * 6 - 1), (0.5, 40 * 6 - 2)):
        raw = tmp_path / f"raw{min_conf}"
        r = import_files([path], raw, ImportOptions(fps=30, min_confidence=min_conf), log=lambda _: None)
        got = pl.read_parquet(next((raw / "test_tracking" / "own").glob("*.parquet")))
        assert got.height == rows, r.imported
        assert got.filter((pl.col("video_frame") == 3) & (pl.col("mouse_id") == 1)
                          & (pl.col("bodypart") == "ear_left")).height == 0


@pytest.mark.parametrize("writer", [write_dlc_h5, write_dlc_csv])
def test_single_animal_dlc_has_no_individuals_level(tmp_path, writer):
    pos, conf = poses(np.random.default_rng(3), 30, 1, 3)
    path = writer(tmp_path / ("one" + (".h5" if writer is write_dlc_h5 else ".csv")), pos, conf, None,
                  ["snout", "tailbase", "centroid"])
    p, _ = read_poses(path)
    assert p.individuals == ["animal"] and p.keypoints == ["snout", "tailbase", "centroid"]
    np.testing.assert_array_equal(p.position, pos)
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    got = pl.read_parquet(next((tmp_path / "raw" / "test_tracking" / "own").glob("*.parquet")))
    assert r.ok and set(got["mouse_id"].unique()) == {1}
    assert set(got["bodypart"].unique()) == {"nose", "tail_base", "body_center"}


@pytest.mark.parametrize("fmt", ["sleap", "movement", "dlc-h5"])
def test_three_animals_and_an_empty_track_that_is_not_a_mouse(tmp_path, fmt):
    pos, conf = poses(np.random.default_rng(4), 50, 4, 2)
    pos[:, 1] = np.nan  # track "t1" never tracked
    conf[:, 1] = np.nan
    path = WRITERS[fmt](tmp_path / "three", pos, conf, ["t0", "t1", "t2", "t3"], ["nose", "tail_base"])
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert r.ok, r.failed
    assert "no points: t1" in r.imported[0]
    got = pl.read_parquet(next((tmp_path / "raw" / "test_tracking" / "own").glob("*.parquet")))
    for mouse, track in ((1, 0), (2, 2), (3, 3)):
        m = got.filter(pl.col("mouse_id") == mouse).filter(pl.col("bodypart") == "nose")
        np.testing.assert_array_equal(m["x"].to_numpy(), pos[m["video_frame"].to_numpy(), track, 0, 0].astype(np.float32))
    row = pl.read_csv(tmp_path / "raw" / "test.csv", infer_schema=False).row(0, named=True)
    assert [row[f"mouse{k}_id"] for k in range(1, 5)] == ["t0", "t2", "t3", ""]


def test_more_than_four_individuals_names_the_option_and_individuals_picks(tmp_path):
    pos, conf = poses(np.random.default_rng(5), 20, 5, 2)
    names = ["a", "b", "c", "d", "e"]
    path = write_sleap(tmp_path / "five.h5", pos, conf, names, ["nose", "neck"])
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert not r.ok and "5 individuals" in r.failed[0] and "--individuals" in r.failed[0]
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30, individuals=("e", "a")), log=lambda _: None)
    assert r.ok and "e->mouse1, a->mouse2" in r.imported[0]
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30, individuals=("z",)), log=lambda _: None)
    assert "['z'] not in the file" in r.failed[0]


def test_bad_files_are_one_line_each_and_the_others_are_imported(tmp_path):
    import h5py

    rng = np.random.default_rng(6)
    pos, conf = poses(rng, 20, 2, 2)
    good = write_dlc_h5(tmp_path / "good.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:3000])
    garbage = tmp_path / "notes.txt"
    garbage.write_text("this is not tracking\n")
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("scorer,s,s\nbodyparts,nose,nose\nfoo,x,y\n0,1,2\n")
    mismatched = write_sleap(tmp_path / "mismatch.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    with h5py.File(mismatched, "r+") as f:
        del f["node_names"]
        f["node_names"] = np.array([b"nose", b"neck", b"tail_base"])
    nan_only = write_movement(tmp_path / "nan.nc", np.full_like(pos, np.nan), conf, ["a", "b"], ["nose", "neck"])
    slp = tmp_path / "project.slp"
    slp.write_bytes(b"\x89HDF\r\n\x1a\n")
    files = [truncated, garbage, bad_header, good, mismatched, nan_only, slp, tmp_path / "absent.h5"]
    r = import_files(files, tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert len(r.imported) == 1 and list(r.video_ids) == [str(good)]
    assert len(r.failed) == 7 and all("\n" not in line for line in r.failed)
    reasons = dict(line.split(": ", 1) for line in r.failed)
    assert "unknown format" in reasons[str(garbage)]
    assert "header does not parse" in reasons[str(bad_header)]
    assert "mismatched lengths" in reasons[str(mismatched)] and "node_names has 3" in reasons[str(mismatched)]
    assert "no tracked points" in reasons[str(nan_only)]
    assert "Export Analysis HDF5" in reasons[str(slp)]
    assert "no such file" in reasons[str(tmp_path / "absent.h5")]
    assert str(truncated) in reasons


def test_fps_comes_from_the_file_or_the_option(tmp_path):
    pos, conf = poses(np.random.default_rng(7), 20, 1, 2)
    nc = write_movement(tmp_path / "a.nc", pos, conf, ["a"], ["nose", "neck"], fps=50.0)
    h5 = write_dlc_h5(tmp_path / "b.h5", pos, conf, ["a"], ["nose", "neck"])
    r = import_files([nc, h5], tmp_path / "raw", ImportOptions(), log=lambda _: None)
    assert "at 50 fps" in r.imported[0] and "pass --fps" in r.failed[0]


def test_reimport_keeps_the_video_id_and_moves_split(tmp_path):
    pos, conf = poses(np.random.default_rng(8), 20, 2, 2)
    path = write_dlc_h5(tmp_path / "rec.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    digits = write_dlc_h5(tmp_path / "4242.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    raw = tmp_path / "raw"
    first = import_files([path, digits], raw, ImportOptions(fps=30), log=lambda _: None).video_ids
    assert first == {str(path): 1, str(digits): 4242}
    again = import_files([path], raw, ImportOptions(fps=30, split="train"), log=lambda _: None).video_ids
    assert again == {str(path): 1}
    assert pl.read_csv(raw / "test.csv", infer_schema=False)["video_id"].to_list() == ["4242"]
    assert pl.read_csv(raw / "train.csv", infer_schema=False)["video_id"].to_list() == ["1"]
    assert not (raw / "test_tracking" / "own" / "1.parquet").exists()
    assert (raw / "train_tracking" / "own" / "1.parquet").exists()
    fresh = write_dlc_h5(tmp_path / "new.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    assert import_files([fresh], raw, ImportOptions(fps=30), log=lambda _: None).video_ids[str(fresh)] == 4243


def test_keypoint_map_file_equals_the_default_and_bad_maps_list_every_problem(tmp_path):
    from pathlib import Path

    shipped = Path(__file__).parents[2] / "configs" / "keypoints.yaml"
    assert yaml.safe_load(shipped.read_text()) == DEFAULT_ALIASES
    assert load_keymap(shipped) == load_keymap(None)
    bad = tmp_path / "k.yaml"
    bad.write_text("nose: [snout]\nwhiskers: [w]\near_left: [snout]\n")
    with pytest.raises(KeymapError, match="'whiskers' is not a store slot.*'snout' is listed under both"):
        load_keymap(bad)


def test_two_names_in_one_slot_fail_the_file(tmp_path):
    pos, conf = poses(np.random.default_rng(9), 10, 1, 2)
    path = write_dlc_h5(tmp_path / "a.h5", pos, conf, ["a"], ["Nose", "snout"])
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert "'Nose' and 'snout' both map to slot nose" in r.failed[0]


def test_unknown_format_option_is_a_failure(tmp_path):
    with pytest.raises(ImportFailure, match="unknown --format"):
        read_poses(tmp_path / "x.h5", "nwb")


def test_behaviors_become_behaviors_labeled_and_bad_entries_fail_the_file(tmp_path):
    pos, conf = poses(np.random.default_rng(10), 10, 2, 2)
    path = write_dlc_h5(tmp_path / "a.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    opts = ImportOptions(fps=30, behaviors=("mouse1,mouse2,sniff", "mouse2,self,rear"))
    assert import_files([path], tmp_path / "raw", opts, log=lambda _: None).ok
    row = pl.read_csv(tmp_path / "raw" / "test.csv", infer_schema=False).row(0, named=True)
    assert json.loads(row["behaviors_labeled"]) == ["mouse1,mouse2,sniff", "mouse2,self,rear"]
    opts = ImportOptions(fps=30, behaviors=("mouse1,mouse3,sniff", "mouse1,self,dance", "mouse1,mouse2,sniff"))
    r = import_files([path], tmp_path / "raw2", opts, log=lambda _: None)
    assert "['mouse1,mouse3,sniff', 'mouse1,self,dance'] are not agent,target,action" in r.failed[0]
    assert not (tmp_path / "raw2" / "test.csv").exists()


def test_a_dlc_csv_saved_with_a_byte_order_mark_still_reads(tmp_path):
    pos, conf = poses(np.random.default_rng(12), 10, 2, 2)
    path = write_dlc_csv(tmp_path / "a.csv", pos, conf, ["a", "b"], ["nose", "neck"])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    p, _ = read_poses(path)
    np.testing.assert_array_equal(p.position, pos)
