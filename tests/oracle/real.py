"""The real competition solution and the no-learning baseline, built from ../shared/mabe-real.

The solution is built the way public notebooks build it for out-of-fold validation (one row per
annotation interval; agent `mouseA`, target `mouseB` or `self`; the video's lab_id and verbatim
behaviors_labeled). No tracking is available, so the baseline spreads each clean labeled triple
over round(video_duration_sec * frames_per_second) frames instead of the tracked frame range.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

REAL = Path(__file__).resolve().parents[3] / "shared" / "mabe-real"


def _mouse(col: str) -> pl.Expr:
    return pl.format("mouse{}", pl.col(col).cast(pl.Int64))


def real_solution(root: Path = REAL) -> pl.DataFrame:
    meta = pl.read_csv(root / "train.csv", infer_schema=False)
    parts = []
    for lab, vid, labeled in meta.select("lab_id", "video_id", "behaviors_labeled").iter_rows():
        path = root / "train_annotation" / lab / f"{vid}.parquet"
        if labeled is None or not path.exists():
            continue
        ann = pl.read_parquet(path)
        parts.append(ann.select(
            pl.lit(int(vid)).alias("video_id"), _mouse("agent_id").alias("agent_id"),
            pl.when(pl.col("agent_id") == pl.col("target_id")).then(pl.lit("self"))
            .otherwise(_mouse("target_id")).alias("target_id"),
            pl.col("action"), pl.col("start_frame").cast(pl.Int64), pl.col("stop_frame").cast(pl.Int64),
            pl.lit(lab).alias("lab_id"), pl.lit(labeled).alias("behaviors_labeled")))
    return pl.concat(parts)


def real_baseline(root: Path = REAL) -> pl.DataFrame:
    meta = pl.read_csv(root / "train.csv", infer_schema=False)
    rows = []
    for vid, fps, dur, labeled in meta.select("video_id", "frames_per_second", "video_duration_sec",
                                              "behaviors_labeled").iter_rows():
        if not labeled:
            continue
        length = round(float(dur) * float(fps))
        by_pair: dict[tuple[str, str], list[str]] = {}
        for e in sorted({e.replace("'", "") for e in json.loads(labeled)}):
            a, t, x = e.split(",")
            by_pair.setdefault((a, t), []).append(x)
        for (a, t), acts in by_pair.items():
            step = math.ceil(length / len(acts))
            rows += [(int(vid), a, t, x, k * step, min((k + 1) * step, length)) for k, x in enumerate(acts)]
    return pl.DataFrame(rows, orient="row", schema=["video_id", "agent_id", "target_id", "action",
                                                    "start_frame", "stop_frame"])
