"""The one definition of tracked frames: a mouse where any keypoint is finite, a pair where both
mice are (the agent alone for a self pair); intervals cut to those frames."""

import numpy as np
import polars as pl

from mabe_store.constants import feature_column
from mabe_train.tracked import bridge_gaps, cut, cut_to_tracked, mice_tracked, pair_tracked

K, LENGTH, GAP = 18, 200, (50, 100)


def _features() -> np.ndarray:
    f = np.full((LENGTH, 4 * K * 2), np.nan, dtype=np.float32)
    for mouse in (1, 2):
        f[:, feature_column(mouse, 5, 0):feature_column(mouse, 5, 0) + 2] = 100.0 * mouse  # one keypoint
    f[GAP[0]:GAP[1], feature_column(1, 0, 0):feature_column(2, 0, 0)] = np.nan
    f[10, feature_column(3, 3, 0)] = 1.0  # an x without its y: mouse3 is still not tracked
    return f


def test_a_mouse_is_tracked_where_any_keypoint_is():
    mice = mice_tracked(_features(), K)
    assert mice.shape == (LENGTH, 4) and not mice[:, 2:].any()
    assert np.flatnonzero(~mice[:, 0]).tolist() == list(range(*GAP)) and mice[:, 1].all()
    assert pair_tracked(mice, 2, 2).all() and pair_tracked(mice, 2, 1).sum() == LENGTH - 50
    assert not pair_tracked(mice, 2, 3).any()  # a mouse the video does not have is never tracked


def test_cut_splits_drops_and_keeps_intervals():
    row, a, b = cut([30, 60, 0, 5], [120, 90, 10, 5], np.array([0, 100]), np.array([50, 200]))
    assert list(zip(row.tolist(), a.tolist(), b.tolist(), strict=True)) == [(0, 30, 50), (0, 100, 120), (2, 0, 10)]
    mice = np.ones((100, 4), dtype=bool)
    mice[40:60, 0] = False
    df = pl.DataFrame([("mouse1", "mouse2", 0, 100), ("mouse2", "self", 0, 100)],
                      schema=["agent_id", "target_id", "start_frame", "stop_frame"], orient="row")
    assert cut_to_tracked(df, mice).rows() == [("mouse1", "mouse2", 0, 40), ("mouse1", "mouse2", 60, 100),
                                                ("mouse2", "self", 0, 100)]
    # in label frames twice the tracking frames; the last tracked run stays open-ended
    assert cut_to_tracked(df.head(1).with_columns(pl.lit(250).alias("stop_frame")), mice, 2.0).rows() == [
        ("mouse1", "mouse2", 0, 80), ("mouse1", "mouse2", 120, 250)]


def test_short_dropouts_are_bridged_long_gaps_and_the_ends_are_not():
    mask = np.ones((100, 2), dtype=bool)
    mask[:5, 0] = False  # the start: before the first tracked frame
    mask[20:30, 0] = False  # 10 frames: bridged at max_gap 10
    mask[50:61, 0] = False  # 11 frames: not
    mask[95:, 1] = False  # the end
    out = bridge_gaps(mask, 10)
    assert np.flatnonzero(~out[:, 0]).tolist() == [*range(5), *range(50, 61)]
    assert np.flatnonzero(~out[:, 1]).tolist() == list(range(95, 100))
    assert (bridge_gaps(mask, 0) == mask).all() and mask[20:30, 0].sum() == 0  # the input is left alone
