"""End to end: configs/debug.yaml learns planted behaviour; the real builder's tiny store trains too."""

import json
import math
from pathlib import Path

import pytest

from mabe_store.reader import open_store
from mabe_train.config import load_config
from mabe_train.evaluate import evaluate_run
from mabe_train.train import train
from tests.mabe_train.stores import make_train_store

DEBUG = Path(__file__).resolve().parents[2] / "configs" / "debug.yaml"


@pytest.mark.slow
def test_debug_config_beats_the_majority_baseline_clearly(tmp_path):
    store = make_train_store(tmp_path / "store.zarr", n_videos=10, length=600, seed=7, n_unlabeled=2)
    cfg = load_config(DEBUG, [f"data.data_dir={store}", f"train.checkpoint_dir={tmp_path}",
                              "train.run_name=debug", "train.progress=false"])
    run = train(cfg)
    result = evaluate_run(run, progress=False)
    r = result.report
    assert r["macro_f1"] > r["majority_macro_f1"] + 0.3, result.summary
    assert r["macro_f1"] > 0.5, result.summary
    assert all(r["per_class"][c]["support"] > 0 for c in ("other", "social", "mating", "aggressive"))
    split = json.loads((run / "split.json").read_text())
    assert not {900, 901} & set(split["train"] + split["val"])  # unlabeled videos never trained


@pytest.mark.slow
def test_store_built_by_the_real_builder_trains_and_evaluates(tiny_store, tmp_path):
    cfg = load_config(DEBUG, [f"data.data_dir={tiny_store}", f"train.checkpoint_dir={tmp_path}",
                              "train.run_name=tiny", "train.progress=false", "train.epochs=2",
                              "train.steps_per_epoch=5", "data.sequence_length=16", "data.batch_size=8"])
    run = train(cfg)
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(math.isfinite(ln["loss"]) for ln in lines)
    assert (run / "best.pt").exists()
    report = evaluate_run(run, progress=False).report
    store = open_store(tiny_store)
    val = json.loads((run / "split.json").read_text())["val"]
    assert report["n_frames"] > 0 and report["n_frames"] <= int(sum(store.videos["length"][store.index(v)]
                                                                    for v in val))
