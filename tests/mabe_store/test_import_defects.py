"""Import defects found by trying the importer as a lab would; each case failed before its fix."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

for _m in ("pandas", "tables", "h5py"):
    pytest.importorskip(_m)

from mabe_store.cli import app  # noqa: E402
from mabe_store.importers import ImportOptions, import_files, read_poses  # noqa: E402
from tests.mabe_store.pose_files import dlc_frame, poses, write_dlc_csv, write_dlc_h5  # noqa: E402

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def tracking(raw):
    return pl.read_parquet(next(raw.rglob("*_tracking/*/*.parquet")))


def test_a_dlc_csv_whose_index_starts_at_frame_600_keeps_its_frame_numbers(tmp_path):
    pos, conf = poses(np.random.default_rng(0), 50, 2, 2, missing=0.0)
    df = dlc_frame(pos, conf, ["a", "b"], ["nose", "neck"])
    df.index = np.arange(600, 650)
    df.to_csv(tmp_path / "cut.csv")
    p, notes = read_poses(tmp_path / "cut.csv")
    assert p.n_frames == 650 and np.isnan(p.position[:600]).all()
    np.testing.assert_array_equal(p.position[600:], pos)
    import_files([tmp_path / "cut.csv"], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert tracking(tmp_path / "raw")["video_frame"].min() == 600


@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_labeled_data_images_of_several_videos_are_refused_not_glued(tmp_path, suffix):
    pos, conf = poses(np.random.default_rng(1), 8, 1, 2, missing=0.0)
    df = dlc_frame(pos, conf, ["a"], ["nose", "neck"])
    df.index = [f"labeled-data/video{i // 2}/img{i:04d}.png" for i in range(8)]
    path = tmp_path / f"CollectedData_me{suffix}"
    df.to_hdf(path, key="df_with_missing", mode="w") if suffix == ".h5" else df.to_csv(path)
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert not r.imported and "labeled-data table: hand-labelled images of 4 videos" in r.failed[0]


def test_a_body_part_named_rear_is_not_the_right_ear(tmp_path):
    pos, conf = poses(np.random.default_rng(2), 10, 1, 3, missing=0.0)
    path = write_dlc_h5(tmp_path / "a.h5", pos, conf, ["a"], ["rear", "r_ear", "nose"])
    r = import_files([path], tmp_path / "raw", ImportOptions(fps=30), log=lambda _: None)
    assert r.ok, r.failed
    assert set(tracking(tmp_path / "raw")["bodypart"].unique()) == {"rear", "ear_right", "nose"}


def test_a_keypoints_file_adds_to_the_built_in_names(tmp_path):
    pos, conf = poses(np.random.default_rng(3), 10, 1, 3, missing=0.0)
    path = write_dlc_h5(tmp_path / "a.h5", pos, conf, ["a"], ["snout", "left_ear", "top"])
    extra = tmp_path / "k.yaml"
    extra.write_text("head: [top]\n")
    import_files([path], tmp_path / "raw", ImportOptions(fps=30, keypoints=extra), log=lambda _: None)
    assert set(tracking(tmp_path / "raw")["bodypart"].unique()) == {"nose", "ear_left", "head"}


def test_format_given_against_the_content_is_one_short_line(tmp_path):
    pos, conf = poses(np.random.default_rng(4), 10, 2, 2)
    csv = write_dlc_csv(tmp_path / "a.csv", pos, conf, ["a", "b"], ["nose", "neck"])
    h5 = write_dlc_h5(tmp_path / "b.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(h5.read_bytes()[:3000])
    for path, fmt, words in ((csv, "dlc-h5", "--format dlc-h5, but the file is a DeepLabCut .csv table"),
                             (truncated, "dlc-h5", "a damaged HDF5 file"),
                             (h5, "dlc-csv", "--format dlc-csv, but the file is a DeepLabCut .h5 table")):
        r = invoke("import", path, "--format", fmt, "--raw", tmp_path / "raw", "--fps", 30)
        assert r.exit_code == 1, r.output
        assert words in r.output and "Traceback" not in r.output and len(r.output) < 600, r.output


@pytest.mark.parametrize(("option", "value"), [("--fps", -30), ("--fps", 0), ("--pix-per-cm", -3),
                                               ("--arena-cm", 0)])
def test_numbers_that_are_not_positive_fail_naming_the_file_and_value(tmp_path, option, value):
    pos, conf = poses(np.random.default_rng(5), 10, 2, 2)
    path = write_dlc_csv(tmp_path / "a.csv", pos, conf, ["a", "b"], ["nose", "neck"])
    extra = [] if option == "--fps" else ["--fps", 30]
    r = invoke("import", path, option, value, *extra, "--raw", tmp_path / "raw")
    assert r.exit_code == 1, r.output
    assert f"FAILED {path}: {option} {float(value)!r} is not a positive number" in r.output
    assert not (tmp_path / "raw" / "test.csv").exists()


def test_a_folder_imports_its_tracking_files_and_a_csv_copy_of_an_h5_once(tmp_path):
    rng = np.random.default_rng(6)
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("v1", "v2"):
        pos, conf = poses(rng, 10, 2, 2)
        write_dlc_h5(folder / f"{name}DLC.h5", pos, conf, ["a", "b"], ["nose", "neck"])
    write_dlc_csv(folder / "v1DLC.csv", pos, conf, ["a", "b"], ["nose", "neck"])  # DLC's csv copy of v1
    r = invoke("import", folder, "--raw", tmp_path / "raw", "--fps", 30)
    assert r.exit_code == 0, r.output
    assert "2 videos in" in r.output
    r = invoke("import", tmp_path / "empty_glob_*.h5", "--raw", tmp_path / "raw", "--fps", 30)
    assert r.exit_code == 1 and "no file matches" in r.output
