"""`mabe-train report`'s ethogram is drawn by the shared `mabe_store.ethogram`: tracking rows on
top, then each behaviour's bouts over its pair's untracked time, hatched, and its share."""

from __future__ import annotations

import numpy as np
import polars as pl

from mabe_store import ethogram
from mabe_store.constants import feature_column
from mabe_store.format import VideoData
from mabe_store.writer import write_store
from mabe_train.report import write_report

K, FPS, LENGTH = 18, 10.0, 200  # 18 default slots; 20 s


def test_report_draws_its_rows_through_the_shared_ethogram(tmp_path, monkeypatch):
    f = np.full((LENGTH, 4 * K * 2), np.nan, dtype=np.float32)
    for mouse in (1, 2):
        f[:, feature_column(mouse, 0, 0):feature_column(mouse, 0, 0) + 2] = 100.0 * mouse  # one keypoint: tracked
    f[50:100, feature_column(1, 0, 0):feature_column(2, 0, 0)] = np.nan  # mouse1 unseen for 5 s
    write_store(tmp_path / "s.zarr", [VideoData(1, "LabT", f, fps=FPS, split="test", n_mice=2)])
    pl.DataFrame([("1", "mouse1", "mouse2", "sniff", 30, 120), ("1", "mouse2", "self", "rear", 40, 80)],
                 schema=["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"],
                 orient="row").write_csv(tmp_path / "pred.csv")
    seen = []
    real = ethogram.draw_ethogram
    monkeypatch.setattr(ethogram, "draw_ethogram",
                        lambda ax, rows, **kw: seen.append((rows, kw["context"])) or real(ax, rows, **kw))
    write_report(tmp_path / "pred.csv", tmp_path / "s.zarr", tmp_path / "out")
    assert (tmp_path / "out" / "1" / "ethogram.png").stat().st_size > 5000
    [(rows, context)] = seen
    assert [(r.label, r.spans, r.text) for r in context] == [
        ("mouse1 tracked", [(0.0, 5.0), (10.0, 10.0)], "tracked 75.0%"),
        ("mouse2 tracked", [(0.0, 20.0)], "tracked 100.0%")]
    sniff, rear = rows
    assert (sniff.label, sniff.spans, sniff.hatched) == ("mouse1 → mouse2 sniff", [(3.0, 2.0), (10.0, 2.0)], [(5.0, 5.0)])
    assert sniff.text == "20.0% of video · 26.7% of tracked · 2 bouts"
    assert (rear.label, rear.spans, rear.hatched) == ("mouse2 rear", [(4.0, 4.0)], [])  # mouse2 is always seen
    assert sniff.colour != rear.colour
