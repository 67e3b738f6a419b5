"""synth -> build -> train the pair model (debug size) -> predict -> every row accepted by the metric."""

import json
import shutil

import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from mabe_store.reader import open_store
from mabe_train.cli import app as train_app
from mabe_train.metric import score
from mabe_train.runs.registry import load_run
from mabe_train.submission import labeled_entries, solution_from_store
from mabe_train.train import train
from tests.mabe_train.stores import pairs_debug_cfg

pytestmark = pytest.mark.slow


def _check_rows(csv, store, split):
    sub = pl.read_csv(csv, infer_schema=False)
    assert sub.columns == ["row_id", "video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]
    ids = [int(v) for v in store.videos["video_id"][store.videos["split"] == split]]
    allowed = labeled_entries(store, ids)
    entries = sub.select(pl.col("video_id"), pl.concat_str(["agent_id", "target_id", "action"], separator=","))
    for vid, entry in entries.iter_rows():
        assert entry in allowed[vid]
    assert sub["agent_id"].str.starts_with("mouse").all()
    assert sub["target_id"].str.contains(r"^(mouse\d|self)$").all()
    return sub


def test_predict_test_split_writes_a_valid_submission(pairs_run):
    root, run_dir = pairs_run
    assert (run_dir / "thresholds.json").exists() and (run_dir / "best.pt").exists()
    saved = json.loads((run_dir / "thresholds.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert saved["epoch"] == summary["best_epoch"] and saved["score"] == summary["best"]
    best = load_run(run_dir, "best", progress=False).artefacts["thresholds.json"]
    assert best == {k: v for k, v in saved.items() if k != "epoch"}  # the file is best.pt's own thresholds
    out = root / "test.csv"
    r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(root / "s.zarr"),
                                       "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "`test` videos" in r.output
    store = open_store(root / "s.zarr")
    sub = _check_rows(out, store, "test")
    assert sub.height > 0


def test_predict_train_split_scores_without_error(pairs_run):
    root, run_dir = pairs_run
    out = root / "train.csv"
    r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(root / "s.zarr"),
                                       "--split", "train", "--out", str(out)])
    assert r.exit_code == 0, r.output
    reported = float(r.output.strip().splitlines()[-1].split("score:")[1])
    store = open_store(root / "s.zarr")
    sub = _check_rows(out, store, "train")
    ids = [int(v) for v in store.videos["video_id"][store.videos["split"] == "train"]]
    again = score(solution_from_store(store, ids), sub.with_columns(
        pl.col("start_frame", "stop_frame").cast(pl.Int64)))
    assert again == pytest.approx(reported) and 0 <= again <= 1


def test_predict_val_split_writes_a_solution_the_score_command_agrees_with(pairs_run):
    root, run_dir = pairs_run
    out, sol = root / "val.csv", root / "val_solution.csv"
    r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(root / "s.zarr"),
                                       "--split", "val", "--out", str(out), "--solution-out", str(sol)])
    assert r.exit_code == 0, r.output
    reported = r.output.strip().splitlines()[-1]
    val_ids = sorted(int(x) for x in json.loads((run_dir / "split.json").read_text())["val"])
    assert sorted(pl.read_csv(sol, infer_schema=False)["video_id"].cast(int).unique().to_list()) == val_ids
    r = CliRunner().invoke(train_app, ["score", "--solution", str(sol), "--submission", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == reported


def test_predict_errors_are_one_line(pairs_run):
    root, run_dir = pairs_run
    r = CliRunner().invoke(train_app, ["predict", "--run", str(root / "nope"), "--store", str(root / "s.zarr")])
    assert r.exit_code == 1 and "not a run directory" in r.output
    r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(root / "s.zarr"),
                                       "--split", "valid"])
    assert r.exit_code == 1 and "no `valid` videos" in r.output


def test_evaluate_reports_the_official_score_per_lab(pairs_run):
    _, run_dir = pairs_run
    r = CliRunner().invoke(train_app, ["evaluate", str(run_dir)])
    assert r.exit_code == 0, r.output
    assert "score" in r.output and "lab" in r.output
    assert (run_dir / "eval" / "report.json").exists()


def test_evaluate_leaves_the_runs_thresholds_alone(pairs_run, tmp_path):
    _, run_dir = pairs_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    path = copy / "thresholds.json"
    saved = json.loads(path.read_text())
    saved["score"] = -1.0  # any validation beats it: a writing evaluate would replace the file
    path.write_text(json.dumps(saved))
    before = path.read_text()
    r = CliRunner().invoke(train_app, ["evaluate", str(copy), "--checkpoint", "last"])
    assert r.exit_code == 0, r.output
    assert path.read_text() == before


def test_killed_pairs_run_resumes_to_the_same_weights(pairs_run):
    root, run_dir = pairs_run
    cfg = pairs_debug_cfg(root, "killed", "train.ckpt_every_steps=3")
    killed = train(cfg, stop_after_steps=3)
    assert not (killed / "best.pt").exists()  # stopped mid-epoch, before any validation
    train(cfg, run_dir=killed, resume=True)
    a = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    b = torch.load(killed / "last.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert (killed / "thresholds.json").read_text() == (run_dir / "thresholds.json").read_text()
