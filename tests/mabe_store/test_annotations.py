"""Annotation readers: each format by content, on real files (skipped without ../shared) and on
files written in the tool's exact layout; and the one mapping of labels to mice."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mabe_store.annotations import AnnotationError, Bout, detect_annotation_format, read_annotation
from mabe_store.annotations.mice import read_labels, to_mice
from tests.mabe_store.annotation_files import (
    write_bento,
    write_boris_aggregated,
    write_boris_tabular,
    write_caltech,
    write_simba,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared") if p.is_dir()), REPO / "no-shared")
RAT = SHARED / "real-labeled" / "rat"
MOUSE = SHARED / "real-labeled" / "mouse"


def spans(ann, action):
    return [(b.start, b.stop) for b in ann.bouts if b.action == action]


def test_caltech_streams_are_zero_based_stop_exclusive_and_base_is_no_behaviour(tmp_path):
    path = write_caltech(tmp_path / "v_annot.txt", {
        "S1": [(1, 10, "base"), (11, 20, "social"), (21, 25, "aggression"), (26, 40, "nonsocial")],
        "S2": [(1, 20, "base"), (21, 22, "bite"), (23, 25, "clinch"), (26, 40, "base")]})
    assert detect_annotation_format(path) == "caltech"
    ann = read_annotation(path)
    assert spans(ann, "social") == [(10, 20)] and spans(ann, "bite") == [(20, 22)]
    assert "base" not in ann.scored and not spans(ann, "base")
    assert ann.streams == {"S1": ["aggression", "nonsocial", "social"], "S2": ["bite", "clinch"]}
    assert all(b.agent is None for b in ann.bouts)


def test_caltech_row_that_is_not_three_fields_is_one_line(tmp_path):
    path = write_caltech(tmp_path / "bad.txt", {"S1": [(1, 10, "social")]})
    path.write_bytes(path.read_bytes().replace(b"\t1\t10\tsocial", b"\t1\tsocial"))
    with pytest.raises(AnnotationError, match="line .* of stream S1 is not `start end type`"):
        read_annotation(path)


@pytest.mark.skipif(not RAT.is_dir(), reason="../shared/real-labeled is absent")
def test_real_caltech_rat_files():
    with_s2 = read_annotation(RAT / "annotations" / "11_annot.txt")
    assert spans(with_s2, "social")[0] == (1130, 2552)  # "1131 2552 social" in the file
    assert set(with_s2.streams) == {"S1", "S2"} and "lateralthreat" in with_s2.streams["S2"]
    s1_only = read_annotation(RAT / "annotations" / "9_annot.txt")
    assert set(s1_only.streams) == {"S1"} and set(s1_only.scored) == {"social", "nonsocial"}


def test_bento_channels_in_seconds_and_frames(tmp_path):
    path = write_bento(tmp_path / "m.annot", {
        "Ch1": {"attack": [(1.5, 2.0)], "other": [(0.0, 1.5)], "sniff": [(2.5, 3.0)]},
        "Ch2": {"rear": [(31, 45)], "groom": [(40, 60)]}})  # frames, overlapping: no stream
    assert detect_annotation_format(path) == "bento"
    ann = read_annotation(path)
    assert spans(ann, "attack") == [(45, 60)] and spans(ann, "rear") == [(30, 45)]
    assert "other" not in ann.scored and ann.streams == {"Ch1": ["attack", "sniff"]}
    assert "channel Ch2: bouts overlap" in ann.notes[0]


def test_boris_tabular_start_stop_and_point_in_frames_of_the_tracking(tmp_path):
    path = write_boris_tabular(tmp_path / "b.csv", [
        (1.0, "adult", "interact", "START"), (2.0, "adult", "interact", "STOP"),
        (3.5, "juvenile", "rear", "POINT"), (4.0, "No focal subject", "fight", "START"),
        (4.5, "No focal subject", "fight", "STOP")])
    assert detect_annotation_format(path) == "boris"
    ann = read_annotation(path, fps=30)
    assert [(b.action, b.start, b.stop, b.agent) for b in ann.bouts] == [
        ("interact", 30, 60, "adult"), ("rear", 105, 106, "juvenile"), ("fight", 120, 135, None)]
    assert read_annotation(path).bouts[0].start == 30  # the file's FPS column when the tracking gives none


def test_boris_unmatched_start_is_one_line(tmp_path):
    path = write_boris_tabular(tmp_path / "b.csv", [(1.0, "adult", "interact", "START")])
    with pytest.raises(AnnotationError, match="interact of adult starts at 1 s and never stops"):
        read_annotation(path, fps=30)


@pytest.mark.skipif(not MOUSE.is_dir(), reason="../shared/real-labeled is absent")
def test_real_boris_mouse_export():
    path = next(MOUSE.glob("*_boris.csv"))
    assert detect_annotation_format(path) == "boris"
    ann = read_annotation(path, fps=30)
    assert len(ann.bouts) == 10 and ann.scored == ["interact"] and {b.agent for b in ann.bouts} == {"adult"}
    assert ann.bouts[0].start == round(29.850 * 30) and ann.bouts[0].stop == round(34.725 * 30)
    labels = to_mice(ann, ["adult", "juvenile"])
    assert labels.behaviors_labeled == ["mouse1,mouse2,interact"] and labels.kinds == {"interact": "pair"}
    assert 600 < sum(e - s for *_, s, e in labels.intervals) < 700
    table = read_labels(path, ["adult", "juvenile"], fps=30).frame()
    assert table.columns == ["agent_id", "target_id", "action", "start_frame", "stop_frame"] and table.height == 10


def test_boris_aggregated_and_a_modifier_naming_the_target(tmp_path):
    path = write_boris_aggregated(tmp_path / "agg.csv", [("m1", "chase", "m3", 2.0, 3.0), ("m2", "groom", "", 5.0, 6.0)])
    assert detect_annotation_format(path) == "boris-aggregated"
    ann = read_annotation(path, fps=10)
    assert [(b.action, b.start, b.stop) for b in ann.bouts] == [("chase", 20, 30), ("groom", 50, 60)]
    labels = to_mice(ann, ["m1", "m2", "m3"], self_behaviors=("groom",))
    assert labels.intervals == [(1, 3, "chase", 20, 30), (2, 2, "groom", 50, 60)]
    assert labels.kinds == {"chase": "pair", "groom": "self"}


def test_simba_targets_are_the_binary_columns_after_the_pose(tmp_path):
    path = write_simba(tmp_path / "simba.csv", 30, {"Attack": [3, 4, 5, 20], "Sniffing": [10, 11]})
    assert detect_annotation_format(path) == "simba"
    ann = read_annotation(path)
    assert ann.scored == ["Attack", "Sniffing"]  # not the 0..2 `Low_prob_detections` feature
    assert spans(ann, "Attack") == [(3, 6), (20, 21)] and spans(ann, "Sniffing") == [(10, 12)]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_frame_table_keeps_the_files_frame_numbers(tmp_path, suffix):
    df = pl.DataFrame({"frame": list(range(600, 610)), "grooming": [0, 1, 1, 0, 0, 0, 0, 1, 1, 1],
                       "digging": [0] * 10})
    path = tmp_path / f"t{suffix}"
    df.write_csv(path) if suffix == ".csv" else df.write_parquet(path)
    assert detect_annotation_format(path) == "frame-table"
    ann = read_annotation(path)
    assert spans(ann, "grooming") == [(601, 603), (607, 610)] and ann.scored == ["grooming", "digging"]


def test_interval_tables_in_frames_and_in_seconds(tmp_path):
    frames = tmp_path / "f.parquet"
    pl.DataFrame({"agent_id": [1], "target_id": [2], "action": ["sniff"], "start_frame": [5], "stop_frame": [9]}
                 ).write_parquet(frames)
    assert detect_annotation_format(frames) == "interval-table"
    assert to_mice(read_annotation(frames), ["a", "b"]).intervals == [(1, 2, "sniff", 5, 9)]
    seconds = tmp_path / "s.csv"
    seconds.write_text("agent,target,behavior,start_s,stop_s\nalpha,self,rear,1.0,1.5\n")
    labels = to_mice(read_annotation(seconds, fps=20), ["alpha", "beta"])
    assert labels.intervals == [(1, 1, "rear", 20, 30)] and labels.behaviors_labeled == ["mouse1,self,rear"]


def test_a_text_that_is_no_annotation_is_one_line(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("name,comment\nx,y\n")
    with pytest.raises(AnnotationError, match="unknown annotation format"):
        detect_annotation_format(path)


def test_labels_naming_no_animal_are_undirected_on_both_pairs_or_self_for_one_animal():
    from mabe_store.annotations import Annotation

    ann = Annotation([Bout("social", 0, 5)], scored=["social", "bite"])
    two = to_mice(ann, ["r1", "r2"])
    assert two.intervals == [(1, 2, "social", 0, 5), (2, 1, "social", 0, 5)]
    assert two.kinds == {"social": "undirected", "bite": "undirected"}
    assert two.behaviors_labeled == ["mouse1,mouse2,social", "mouse2,mouse1,social",
                                     "mouse1,mouse2,bite", "mouse2,mouse1,bite"]  # scored, no bout: negatives
    one = to_mice(ann, ["r1"])
    assert one.intervals == [(1, 1, "social", 0, 5)] and one.kinds["social"] == "self"
    with pytest.raises(AnnotationError, match="the pair is unknown"):
        to_mice(ann, ["a", "b", "c"])


def test_a_subject_that_is_no_tracked_animal_is_one_line():
    from mabe_store.annotations import Annotation

    ann = Annotation([Bout("interact", 0, 5, "adult")], scored=["interact"])
    with pytest.raises(AnnotationError, match="subject 'adult' of interact is none of the tracked animals"):
        to_mice(ann, ["individual1", "individual2"])
