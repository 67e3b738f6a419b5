"""The long -> dense pivot on hand-made frames: every value's destination is known exactly."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mabe_store.build_config import BuildConfig, make_config
from mabe_store.constants import DEFAULT_KEYPOINTS, feature_column
from mabe_store.pivot import InputError, pivot_frame, pivot_tracking, read_annotations, tracking_query

CFG = BuildConfig()
NOSE, NECK, HEADPIECE = (DEFAULT_KEYPOINTS.index(k) for k in ("nose", "neck", "headpiece"))


def long(rows, **dtypes) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema=["video_frame", "mouse_id", "bodypart", "x", "y"], orient="row")
    return df.with_columns(pl.col(c).cast(t) for c, t in dtypes.items())


def pivot(df: pl.DataFrame, cfg=CFG):
    return pivot_frame(tracking_query(df.lazy()).collect(), cfg)


def test_values_land_in_their_computed_column_and_gaps_are_nan():
    p = pivot(long([(0, 1, "nose", 1.0, 2.0), (3, 2, "neck", 5.0, 6.0)]))
    assert p.features.shape == (4, 144) and p.features.dtype == np.float32
    assert p.features[0, feature_column(1, NOSE, 0)] == 1.0
    assert p.features[0, feature_column(1, NOSE, 1)] == 2.0
    assert p.features[3, feature_column(2, NECK, 0)] == 5.0
    assert p.features[3, feature_column(2, NECK, 1)] == 6.0
    assert np.isnan(p.features[1:3]).all()  # frames with no rows
    assert np.isnan(p.features).sum() == 4 * 144 - 4


def test_nan_values_stay_nan_and_missing_mice_are_all_nan():
    p = pivot(long([(0, 4, "nose", float("nan"), 7.0), (1, 4, "nose", 3.0, 4.0)]))
    assert np.isnan(p.features[0, feature_column(4, NOSE, 0)])
    assert p.features[0, feature_column(4, NOSE, 1)] == 7.0
    assert np.isnan(p.features[:, : 3 * 36]).all()  # mice 1..3 absent
    assert p.max_mouse == 4


def test_mixed_dtypes_are_cast():
    df = long([("0", "1", "nose", 1, 2), ("2", "2", "neck", 3, 4)],
              video_frame=pl.String, mouse_id=pl.String, x=pl.Int64, y=pl.Float64)
    p = pivot(df)
    assert p.length == 3 and p.features[2, feature_column(2, NECK, 0)] == 3.0


def test_bad_mouse_ids_and_frames_are_dropped_with_a_note():
    p = pivot(long([(0, 1, "nose", 1.0, 1.0), (1, 5, "nose", 2.0, 2.0), (2, 0, "nose", 2.0, 2.0),
                    (-1, 1, "nose", 2.0, 2.0), (None, 1, "nose", 2.0, 2.0)]))
    assert p.length == 1  # only frame 0 survives
    assert any("2 rows with mouse_id outside 1..4" in n for n in p.notes)
    assert any("2 rows with a missing or negative video_frame" in n for n in p.notes)


def test_unmapped_parts_are_counted_not_silently_dropped():
    p = pivot(long([(0, 1, "forepaw_left", 1.0, 1.0), (1, 1, "forepaw_left", 1.0, 1.0), (1, 2, "nose", 1.0, 1.0)]))
    assert p.unmapped == {"forepaw_left": 2}
    assert (~np.isnan(p.features)).sum() == 2


def test_headpiece_points_are_averaged_ignoring_missing_ones():
    p = pivot(long([(0, 1, "headpiece_topfrontleft", 10.0, 20.0), (0, 1, "headpiece_topbackright", 20.0, float("nan")),
                    (0, 1, "headpiece_bottombackleft", 30.0, 40.0)]))
    assert p.features[0, feature_column(1, HEADPIECE, 0)] == pytest.approx(20.0)
    assert p.features[0, feature_column(1, HEADPIECE, 1)] == pytest.approx(30.0)


def test_aliases_and_custom_slots_follow_the_config():
    cfg = make_config(keypoints=["snout", "tail"], mean_groups={}, aliases={"snout": ["nose"]})
    p = pivot(long([(0, 2, "nose", 1.0, 2.0), (0, 2, "tail", 3.0, 4.0)]), cfg)
    assert p.features.shape == (1, 16)
    assert p.features[0, feature_column(2, 0, 0, n_keypoints=2)] == 1.0
    assert p.features[0, feature_column(2, 1, 1, n_keypoints=2)] == 4.0


def test_a_file_with_no_usable_rows_is_an_input_error():
    with pytest.raises(InputError, match="no usable tracking rows"):
        pivot(long([(0, 9, "nose", 1.0, 1.0)]))


def test_extra_columns_are_ignored_and_missing_ones_reported(tmp_path):
    path = tmp_path / "v.parquet"
    long([(0, 1, "nose", 1.0, 2.0)]).with_columns(likelihood=pl.lit(0.9)).write_parquet(path)
    assert pivot_tracking(path, CFG).features[0, 0] == 1.0
    long([(0, 1, "nose", 1.0, 2.0)]).drop("y", "mouse_id").write_parquet(path)
    with pytest.raises(InputError, match="missing column.*mouse_id, y"):
        pivot_tracking(path, CFG)


def test_a_corrupt_parquet_is_an_input_error(tmp_path):
    path = tmp_path / "v.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="unreadable parquet"):
        pivot_tracking(path, CFG)


def test_annotations_keep_intervals_past_the_end_and_drop_bad_rows(tmp_path):
    path = tmp_path / "a.parquet"
    pl.DataFrame({"agent_id": [1, 1, 7, 2, 1], "target_id": [2, 1, 1, 2, 2],
                  "action": ["sniff", "rear", "sniff", "dance", "attack"],
                  "start_frame": [5, 90, 0, 0, 9], "stop_frame": [10, 130, 3, 3, 8]}).write_parquet(path)
    rows, notes = read_annotations(path, length=100)
    assert rows == [(1, 2, "sniff", 5, 10), (1, 1, "rear", 90, 130)]
    assert "1 intervals run past the last tracked frame 99" in " ".join(notes)
    for reason in ("unknown action", "outside 1..4", "start_frame > stop_frame"):
        assert any(reason in n for n in notes), reason
