"""`mabe-train bench` and mabe_train.bench: figures that add up, JSON, synthetic store, errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mabe_store.reader import open_store
from mabe_train.bench import format_table, run_bench, write_synthetic_store
from mabe_train.cli import app
from mabe_train.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL = ["data.batch_size=4", "data.sequence_length=16", "train.device=cpu"]
runner = CliRunner()


def test_bench_command_on_a_store_writes_table_and_json(train_store, tmp_path):  # noqa: F811
    out = tmp_path / "b" / "bench.json"
    r = runner.invoke(app, ["bench", "--config", str(CONFIGS / "debug.yaml"), "--store", str(train_store),
                            "--steps", "3", "--warmup", "1", "--json", str(out), *SMALL])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("debug on cpu: batch 4 x 16 frames, 144 inputs")
    assert lines[1].split()[:2] == ["phase", "windows/s"]
    assert lines[2].startswith("train") and lines[3].startswith("inference")
    res = json.loads(out.read_text())
    assert res["store"] == str(train_store) and res["steps"] == 3
    for phase in ("train", "inference"):
        p = res[phase]
        assert p["step_ms"] == pytest.approx(p["fetch_ms"] + p["features_ms"] + p["compute_ms"])
        assert p["data_ms"] == pytest.approx(p["fetch_ms"] + p["features_ms"])
        assert p["windows_per_s"] == pytest.approx(4 * 1e3 / p["step_ms"])
        assert 0 < p["data_share"] < 1 and p["peak_mb"] > 0


def test_bench_without_a_store_uses_a_synthetic_one(tmp_path):
    cfg = load_config(CONFIGS / "debug.yaml", [f"data.data_dir={tmp_path / 'none.zarr'}", *SMALL])
    res = run_bench(cfg, steps=1, warmup=0)
    assert res["store"].startswith("synthetic (") and "mabe-store synth" in res["store"] and res["train"]["windows_per_s"] > 0
    assert "windows/s" in format_table(res)


def test_synthetic_store_is_made_by_the_store_tools_labeled_and_split_ready(tmp_path):
    st = open_store(write_synthetic_store(tmp_path / "s.zarr", n_videos=6, scale=0.05))
    train = st.videos["split"] == "train"
    assert train.sum() == 6 and st.n_frames > 1000 and st.attrs["source"]["builder"] == "mabe-store build"
    assert st.videos["labeled_actions"][train].any(axis=1).sum() >= 2
    assert st.actions(int(st.videos["video_id"][train][0])).shape[1] == 37 and len(set(st.videos["lab_id"].tolist())) >= 2


def test_bench_errors_are_one_line(tmp_path):
    r = runner.invoke(app, ["bench", "--config", str(CONFIGS / "debug.yaml"), "--store", str(tmp_path / "x.zarr")])
    assert r.exit_code == 1 and "no store at" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["bench", "--config", str(CONFIGS / "debug.yaml"), "--feeder", "turbo",
                            "--synthetic", "800", *SMALL])
    assert r.exit_code == 1 and "unknown feeder 'turbo'" in r.output


def test_bench_feeder_defaults_to_the_config_and_can_be_overridden(train_store):  # noqa: F811
    cfg = load_config(CONFIGS / "debug.yaml", ["train.feeder=thread", *SMALL])
    assert run_bench(cfg, steps=1, warmup=0, store=train_store)["feeder"] == "Prefetcher"
    cfg = load_config(CONFIGS / "debug.yaml", ["train.feeder=thread", *SMALL])
    assert run_bench(cfg, steps=1, warmup=0, store=train_store, feeder="device")["feeder"] == "WindowSampler on cpu"
