"""A lab's project in one command: tracking + annotations (a manifest, or one file) -> raw layout ->
`mabe-store build` -> a store of the lab's own vocabulary that `verify --raw` accepts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

for _m in ("pandas", "tables", "h5py"):
    pytest.importorskip(_m)

from mabe_store.build import build_store  # noqa: E402
from mabe_store.cli import app  # noqa: E402
from mabe_store.reader import open_store  # noqa: E402
from mabe_store.vocabulary import MABE  # noqa: E402
from tests.mabe_store.annotation_files import write_boris_tabular, write_caltech  # noqa: E402
from tests.mabe_store.pose_files import poses, write_dlc_csv  # noqa: E402
from tests.mabe_store.test_annotations import RAT, SHARED  # noqa: E402

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def project(tmp_path: Path) -> Path:
    """Two rat-like videos: one with streams S1 and S2, one with S1 only; and their manifest."""
    rng = np.random.default_rng(0)
    for n, streams in ((7, {"S1": [(1, 20, "base"), (21, 30, "aggression"), (31, 60, "social")],
                            "S2": [(1, 20, "base"), (21, 25, "bite"), (26, 60, "base")]}),
                       (8, {"S1": [(1, 40, "social"), (41, 60, "nonsocial")]})):
        pos, conf = poses(rng, 60, 2, 3, missing=0.2)
        write_dlc_csv(tmp_path / f"{n}DLC_rat.csv", pos, conf, ["individual1", "individual2"], ["top", "body", "tail"])
        write_caltech(tmp_path / f"{n}_annot.txt", streams)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("tracking,annotations,video_id,lab,fps,pix_per_cm,individuals\n"
                        "7DLC_rat.csv,7_annot.txt,7,ratlab,30,4.5,individual1;individual2\n"
                        "8DLC_rat.csv,8_annot.txt,8,ratlab,25,,individual1;individual2\n")
    return manifest


def test_manifest_import_build_verify_and_the_labs_own_vocabulary(tmp_path):
    manifest = project(tmp_path)
    raw = tmp_path / "raw"
    r = invoke("import", "--manifest", manifest, "--raw", raw)
    assert r.exit_code == 0, r.output
    meta = {row["video_id"]: row for row in pl.read_csv(raw / "train.csv", infer_schema=False).iter_rows(named=True)}
    assert (meta["7"]["frames_per_second"], meta["7"]["pix_per_cm_approx"], meta["8"]["frames_per_second"]) == ("30", "4.5", "25")
    assert "mouse1,mouse2,bite" in json.loads(meta["7"]["behaviors_labeled"])
    assert "bite" not in meta["8"]["behaviors_labeled"]  # no S2 stream in video 8: S2 was not scored there
    ann = pl.read_parquet(raw / "train_annotation" / "ratlab" / "7.parquet")
    assert dict(ann.schema) == {"agent_id": pl.Int8, "target_id": pl.Int8, "action": pl.String,
                                "start_frame": pl.Int32, "stop_frame": pl.Int32}
    assert ann.filter(pl.col("action") == "bite").rows() == [(1, 2, "bite", 20, 25), (2, 1, "bite", 20, 25)]
    store = tmp_path / "s.zarr"
    assert build_store(raw, store, progress=False, log=lambda _: None).ok
    r = invoke("verify", "--store", store, "--raw", raw)
    assert r.exit_code == 0 and "OK" in r.output, r.output
    s = open_store(store)
    assert s.action_names == ["aggression", "bite", "nonsocial", "social"]
    assert s.vocabulary.undirected == set(s.action_names) and not s.vocabulary.is_mabe
    assert dict(s.vocabulary.streams) == {"S1": ("aggression", "nonsocial", "social"), "S2": ("bite",)}
    assert s.actions(7)[20:25, s.action_names.index("bite")].all()
    assert set(s.labeled_triples(8)["action"].tolist()) == {"aggression", "nonsocial", "social"}
    assert "own behaviours" in invoke("inspect", "--store", store).output


def test_a_store_without_an_own_vocabulary_is_mabes_and_carries_no_vocabulary_attr(tmp_path):
    rng = np.random.default_rng(1)
    pos, conf = poses(rng, 30, 2, 2)
    path = write_dlc_csv(tmp_path / "a.csv", pos, conf, ["a", "b"], ["nose", "neck"])
    assert invoke("import", path, "--raw", tmp_path / "raw", "--fps", 30).exit_code == 0
    build_store(tmp_path / "raw", tmp_path / "s.zarr", progress=False, log=lambda _: None)
    s = open_store(tmp_path / "s.zarr")
    assert s.vocabulary == MABE and "vocabulary" not in s.attrs and len(s.action_names) == 37


def test_one_file_with_a_boris_export_maps_the_subject_through_the_tracking(tmp_path):
    pos, conf = poses(np.random.default_rng(2), 90, 2, 2, missing=0.0)
    path = write_dlc_csv(tmp_path / "m.csv", pos, conf, ["adult", "juvenile"], ["nose", "neck"])
    boris = write_boris_tabular(tmp_path / "b.csv", [(1.0, "adult", "interact", "START"),
                                                     (2.0, "adult", "interact", "STOP")])
    raw = tmp_path / "raw"
    r = invoke("import", path, "--annotations", boris, "--raw", raw, "--fps", 30)
    assert r.exit_code == 0, r.output
    assert pl.read_parquet(next((raw / "train_annotation").rglob("*.parquet"))).rows() == [(1, 2, "interact", 30, 60)]
    assert (raw / "actions.csv").read_text().splitlines()[1] == "interact,pair,"


def test_a_second_import_keeps_the_vocabulary_of_the_first(tmp_path):
    manifest = project(tmp_path)
    raw = tmp_path / "raw"
    lines = manifest.read_text().splitlines()
    first, second = tmp_path / "m1.csv", tmp_path / "m2.csv"
    first.write_text("\n".join(lines[:2]) + "\n")
    second.write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert invoke("import", "--manifest", first, "--raw", raw).exit_code == 0
    assert invoke("import", "--manifest", second, "--raw", raw).exit_code == 0
    listed = pl.read_csv(raw / "actions.csv")
    assert listed["action"].to_list() == ["aggression", "bite", "nonsocial", "social"]
    assert dict(zip(listed["action"], listed["stream"], strict=True))["bite"] == "S2"


@pytest.mark.parametrize(("cell", "message"), [("fps,-30", "fps '-30' is not a positive number"),
                                               ("pix_per_cm,0", "pix_per_cm '0' is not a positive number"),
                                               ("video_id,seven", "video_id 'seven' is not a whole number"),
                                               ("lab,../up", "lab '../up' is not a plain folder name"),
                                               ("split,val", "split 'val' is not train or test"),
                                               ("colour,red", "unknown column(s) colour")])
def test_a_bad_manifest_cell_is_one_line_naming_the_row_and_value(tmp_path, cell, message):
    col, value = cell.split(",")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"tracking,{col}\nrec.csv,{value}\n")
    r = invoke("import", "--manifest", manifest, "--raw", tmp_path / "raw")
    assert r.exit_code == 1 and message in r.output, r.output
    if col in ("lab", "split"):  # checked with the video: its line, then the count
        assert f"FAILED {tmp_path / 'rec.csv'} (manifest row 2): {message}" in r.output
        return
    assert len(r.output.strip().splitlines()) == 1, r.output
    if col != "colour":
        assert "manifest row 2 (rec.csv)" in r.output


@pytest.mark.skipif(not RAT.is_dir(), reason="../shared/real-labeled is absent")
def test_the_real_rat_project_imports_builds_and_verifies(tmp_path):
    """The shipped example (configs/rat_manifest.csv, paths from configs/ to ../shared) on the 14 videos."""
    repo = Path(__file__).resolve().parents[2]
    manifest = tmp_path / "configs" / "rat_manifest.csv"
    manifest.parent.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)
    text = (repo / "configs" / "rat_manifest.csv").read_text().replace("../../shared/", "../shared/")
    manifest.write_text(text)
    raw, store = tmp_path / "raw", tmp_path / "rat.zarr"
    r = invoke("import", "--manifest", manifest, "--keypoints", repo / "configs" / "rat_keypoints.yaml", "--raw", raw)
    assert r.exit_code == 0, r.output
    assert build_store(raw, store, progress=False, log=lambda _: None).ok
    r = invoke("verify", "--store", store, "--raw", raw, "--sample", 14)
    assert r.exit_code == 0 and "OK" in r.output, r.output
    s = open_store(store)
    assert s.action_names == sorted(["social", "nonsocial", "aggression", "lateralthreat", "keepdown", "clinch",
                                     "uprightposture", "freezing", "bite", "chase"])
    s2 = set(dict(s.vocabulary.streams)["S2"])
    no_s2 = [v for v in s.videos["video_id"].tolist() if not s2 & set(s.labeled_triples(v)["action"].tolist())]
    assert sorted(no_s2) == [9, 15]
    assert np.isfinite(s.features(11)).any()  # the keypoint map put the rats' body parts into slots
