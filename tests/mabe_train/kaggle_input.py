"""A fake Kaggle competition mount whose test videos have known labels (for submit tests and
scripts/kaggle_offline_check.sh).

`fake_kaggle_input(raw, ids, root)` copies train videos `ids` of a raw dataset (e.g. a run's
validation videos of `mabe-store synth` data) into ROOT/competitions/<slug>/ (or ROOT/<slug>/) as
*test* videos: test.csv holds their train.csv rows, test_tracking/ their tracking. The train.csv
there is deliberately not a csv: a test-only build must never open it. Their annotations stay in
the raw folder, so the submission can be scored against them.

    python -m tests.mabe_train.kaggle_input RAW RUN_DIR ROOT   # ids = the run's validation videos
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import polars as pl

SLUG = "MABe-mouse-behavior-detection"


def fake_kaggle_input(raw: Path, ids, root: Path, layout: str = "competitions") -> Path:
    comp = root / "competitions" / SLUG if layout == "competitions" else root / SLUG
    comp.mkdir(parents=True, exist_ok=True)
    ids = {str(int(x)) for x in ids}
    rows = pl.read_csv(raw / "train.csv", infer_schema=False).filter(pl.col("video_id").is_in(list(ids)))
    rows.write_csv(comp / "test.csv")
    for r in rows.iter_rows(named=True):
        dst = comp / "test_tracking" / r["lab_id"] / f"{r['video_id']}.parquet"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw / "train_tracking" / r["lab_id"] / f"{r['video_id']}.parquet", dst)
    (comp / "train.csv").write_bytes(b"\x00not a csv: a test-only build must not read this\x00")
    return comp


if __name__ == "__main__":
    raw, run_dir, root = map(Path, sys.argv[1:4])
    val = json.loads((run_dir / "split.json").read_text())["val"]
    print(fake_kaggle_input(raw, val, root))
