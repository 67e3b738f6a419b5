"""Semi-real mode on tiny hand-made "real" folders: how many mice a video gets, bad mouse ids."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mabe_store.synth import COLUMNS, SynthError, synthesize

VIDEO = 351967631


def _real(root: Path, behaviors: list[str], agents: list[int], targets: list[int]) -> Path:
    """An AdaptableSnail row describing 3 mice, plus an annotation file with the given ids."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(lab_id="AdaptableSnail", video_id=VIDEO, frames_per_second=30.0,
               video_duration_sec=600.0, pix_per_cm_approx=16.0, video_width_pix=968,
               video_height_pix=1068, arena_width_cm=60.0, arena_height_cm=60.0,
               body_parts_tracked=json.dumps(["body_center", "ear_left", "ear_right", "neck",
                                              "nose", "tail_base"]),
               behaviors_labeled=json.dumps(behaviors) if behaviors else "", tracking_method="DeepLabCut")
    for m in (1, 2, 3):
        row[f"mouse{m}_strain"] = "CD-1 (ICR)"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerow(row)
    ann = root / "train_annotation" / "AdaptableSnail" / f"{VIDEO}.parquet"
    ann.parent.mkdir(parents=True)
    n = len(agents)
    pq.write_table(pa.table({
        "agent_id": pa.array(agents, pa.int8()), "target_id": pa.array(targets, pa.int8()),
        "action": pa.array(["attack", "rear", "chase"][:n], pa.large_string()),
        "start_frame": pa.array([10, 100, 200][:n], pa.int16()),
        "stop_frame": pa.array([40, 150, 260][:n], pa.int16())}), ann)
    return root


def test_mouse4_named_only_by_the_labels_gets_tracking(tmp_path):
    """train.csv describes 3 mice but the labels name mouse4 (as in real AdaptableSnail rows)."""
    real = _real(tmp_path / "real", ["mouse1,mouse2,attack", "mouse4,self,rear", "mouse4,mouse3,chase"],
                 agents=[1, 4, 4], targets=[2, 4, 3])
    synthesize(tmp_path / "out", from_real=real, scale=0.05, progress=False, workers=1)
    track = pl.read_parquet(tmp_path / "out" / "train_tracking" / "AdaptableSnail" / f"{VIDEO}.parquet")
    assert sorted(track["mouse_id"].unique()) == [1, 2, 3, 4]
    assert track.filter(pl.col("mouse_id") == 4).height > 0.5 * track.filter(pl.col("mouse_id") == 1).height


def test_mouse4_in_the_annotation_file_only(tmp_path):
    """The whitelist stops at mouse3 but an annotated interval has agent 4: still 4 tracked mice."""
    real = _real(tmp_path / "real", ["mouse1,mouse2,attack", "mouse3,self,rear"],
                 agents=[1, 4], targets=[2, 4])
    synthesize(tmp_path / "out", from_real=real, scale=0.05, progress=False, workers=1)
    track = pl.read_parquet(tmp_path / "out" / "train_tracking" / "AdaptableSnail" / f"{VIDEO}.parquet")
    assert sorted(track["mouse_id"].unique()) == [1, 2, 3, 4]


@pytest.mark.parametrize(("behaviors", "agents", "targets", "where"), [
    (["mouse1,mouse5,attack"], [1], [2], "behaviors_labeled"),
    (["mouse1,mouse2,attack"], [1, 5], [2, 5], "annotation"),
    (["mouse1,mouse2,attack"], [1, 0], [2, 0], "annotation"),
])
def test_mouse_ids_outside_1_to_4_are_a_synth_error(tmp_path, behaviors, agents, targets, where):
    real = _real(tmp_path / "real", behaviors, agents, targets)
    with pytest.raises(SynthError, match=rf"{VIDEO}.*{where}"):
        synthesize(tmp_path / "out", from_real=real, scale=0.05, progress=False, workers=1)


def test_a_spec_naming_an_untracked_mouse_is_a_synth_error_not_an_index_error(tmp_path):
    """The last guard, for specs built by hand: labels naming mouse4 in a 3-mouse video."""
    from mabe_store.synth.profiles import VideoSpec, lab_table
    from mabe_store.synth.video import make_video

    spec = VideoSpec("AdaptableSnail", 7, "train", 3000, 30.0, 3, ("nose", "tail_base"),
                     ((4, 1, "attack"), (1, 2, "attack")), rate_boost=50.0)
    with pytest.raises(SynthError, match=r"video 7: its behaviors_labeled names mice \[4\]"):
        make_video(spec, lab_table()["AdaptableSnail"], 0, tmp_path)


def test_an_unlabeled_row_keeps_the_mice_its_metadata_describes(tmp_path):
    """Empty behaviors_labeled and no annotation file: the metadata's 3 mice, nothing else."""
    real = _real(tmp_path / "real", [], agents=[], targets=[])
    (real / "train_annotation" / "AdaptableSnail" / f"{VIDEO}.parquet").unlink()
    synthesize(tmp_path / "out", from_real=real, scale=0.05, progress=False, workers=1)
    track = pl.read_parquet(tmp_path / "out" / "train_tracking" / "AdaptableSnail" / f"{VIDEO}.parquet")
    assert sorted(track["mouse_id"].unique()) == [1, 2, 3]
