"""The GBDT model kind: features in physical units, training, the run directory, load_run, predict."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mabe_store.constants import ACTION_INDEX
from mabe_store.errors import MissingExtra
from mabe_store.reader import open_store
from mabe_train.config import ConfigError, load_config
from mabe_train.decode import VideoProbs
from mabe_train.gbdt import require_lightgbm
from mabe_train.gbdt.features import body, feature_names, pair_columns, rolling, video_features
from mabe_train.layout import DEFAULT_LAYOUT, Layout

lgb = pytest.importorskip("lightgbm")


def _walker(fps: float, seconds: float = 2.0, speed_cm_s: float = 10.0, offset=(0.0, 0.0)) -> np.ndarray:
    """(T, K, 2) points in cm of a mouse walking along +x: nose 3 cm ahead of the tail base."""
    t = np.arange(round(fps * seconds)) / fps
    pts = np.full((len(t), len(DEFAULT_LAYOUT.keypoints), 2), np.nan)
    x = speed_cm_s * t + offset[0]
    for name, dx in (("nose", 3.0), ("body_center", 1.5), ("tail_base", 0.0)):
        pts[:, DEFAULT_LAYOUT.index(name)] = np.stack([x + dx, np.full_like(x, offset[1])], axis=1)
    return pts


@pytest.mark.parametrize("fps", [10.0, 30.0, 120.0])
def test_speeds_are_cm_per_second_whatever_the_frame_rate(fps):
    b = body(_walker(fps), DEFAULT_LAYOUT, fps, (100.0, 100.0))
    h = max(1, round(fps * 0.05))  # centred differences over 0.1 s: h frames each side
    inner = slice(h, -h)
    assert np.isfinite(b.cols["speed"][inner]).all() and np.isnan(b.cols["speed"][:h]).all()
    assert np.allclose(b.cols["speed"][inner], 10.0, atol=1e-6)
    assert np.allclose(b.cols["length"], 3.0)
    assert np.allclose(b.u[inner], [1.0, 0.0])
    assert np.allclose(b.cols["ang_vel"][inner], 0.0)


def test_pair_geometry_in_the_agents_frame():
    fps = 30.0
    a = body(_walker(fps), DEFAULT_LAYOUT, fps, (0.0, 0.0))
    t = body(_walker(fps, offset=(0.0, 5.0)), DEFAULT_LAYOUT, fps, (0.0, 0.0))  # 5 cm to the agent's left
    c = pair_columns(a, t, fps)
    assert np.allclose(c["d_cc"], 5.0) and np.allclose(c["tx"], 0.0) and np.allclose(c["ty"], 5.0)
    assert np.allclose(c["rel_cos"], 1.0) and np.allclose(c["bearing_a"], 0.0, atol=1e-9)
    assert np.allclose(c["d_min"], 5.0)


def test_rolling_ignores_missing_values():
    v = np.array([[1.0], [np.nan], [3.0], [5.0]])
    mean, std = rolling(v, 3)
    assert np.allclose(mean[:, 0], [1.0, 2.0, 4.0, 4.0])
    assert np.allclose(std[:, 0], [0.0, 1.0, 1.0, 1.0])
    assert np.isnan(rolling(np.array([[np.nan], [np.nan]]), 2)[0]).all()


def test_keypoints_are_found_by_name_not_by_slot():
    """The same mouse in a layout with the slots reversed gives the same features."""
    fps, pts = 30.0, _walker(30.0)
    rev = Layout(tuple(reversed(DEFAULT_LAYOUT.keypoints)), 4)
    a = body(pts, DEFAULT_LAYOUT, fps, (100.0, 100.0))
    b = body(pts[:, ::-1], rev, fps, (100.0, 100.0))
    for k in a.cols:
        assert np.allclose(a.cols[k], b.cols[k], equal_nan=True), k


def test_video_features_cover_every_labeled_pair(gbdt_store):
    store = open_store(gbdt_store)
    rows = video_features(store, 100, (0.5, 1.0))
    assert [(r.agent, r.target, r.kind) for r in rows] == [(1, 1, "self"), (1, 2, "pair")]
    for r in rows:
        assert r.X.shape == (400, len(feature_names(r.kind, (0.5, 1.0)))) and r.X.dtype == np.float32
    assert rows[1].mask[ACTION_INDEX["sniff"]] and not rows[1].mask[ACTION_INDEX["rear"]]


def _cfg(store, tmp_path, name="g", *extra):
    return load_config("configs/gbdt.yaml", [f"data.data_dir={store}", f"train.checkpoint_dir={tmp_path}",
                                             f"train.run_name={name}", "train.progress=false",
                                             "gbdt.n_estimators=40", "gbdt.windows_s=[0.25,1.0]", *extra])


@pytest.fixture(scope="module")
def gbdt_run(gbdt_store, tmp_path_factory):
    from mabe_train.gbdt.train import train_gbdt
    return train_gbdt(_cfg(gbdt_store, tmp_path_factory.mktemp("runs")), log=lambda *_: None)


def test_a_gbdt_run_is_a_run_directory_with_pairs_thresholds(gbdt_run):
    marker = json.loads((gbdt_run / "run.json").read_text())
    assert marker["kind"] == "gbdt" and marker["task"] == "pairs"
    split = json.loads((gbdt_run / "split.json").read_text())
    assert split["train"] and split["val"] and not set(split["train"]) & set(split["val"])
    thr = json.loads((gbdt_run / "thresholds.json").read_text())
    assert {"epoch", "score", "thresholds"} <= set(thr) and thr["score"] > 0.5
    assert {"lab_id", "action", "threshold"} == set(thr["thresholds"][0])
    meta = json.loads((gbdt_run / "gbdt.json").read_text())
    assert {(m["kind"], m["action"]) for m in meta["models"]} == {("pair", "sniff"), ("pair", "attack"),
                                                                  ("pair", "mount")}  # rear: never positive


def test_load_run_gives_video_probs_and_thresholds(gbdt_run, gbdt_store):
    from mabe_train.runs.registry import load_run
    run = load_run(gbdt_run)
    videos = run.predict_probs(run.split["val"])
    assert videos and all(isinstance(v, VideoProbs) for v in videos)
    v = videos[0]
    assert v.probs.shape == (2, 400, 37) and v.labeled.shape == (2, 37)
    assert (v.probs[~np.broadcast_to(v.labeled[:, None], v.probs.shape)] == 0).all()
    assert (v.probs[1, :, ACTION_INDEX["sniff"]] > 0).any()
    assert run.thresholds and all(isinstance(t, float) for t in run.thresholds.values())


def test_predict_and_evaluate_take_a_gbdt_run(gbdt_run, gbdt_store, tmp_path):
    from mabe_train.evaluate import evaluate_run
    from mabe_train.predict import predict_run
    p = predict_run(gbdt_run, gbdt_store, tmp_path / "sub.csv", split="val", progress=False)
    assert p.n_rows > 0 and p.score is not None and p.score > 0.5
    report = evaluate_run(gbdt_run, progress=False).report
    assert report["score"] == pytest.approx(p.score) and report["per_lab"]
    assert report["model"] == "GBDT run" and report["scored"] == p.scored == "held-out validation videos"
    p = predict_run(gbdt_run, gbdt_store, tmp_path / "all.csv", split="train", progress=False)
    assert "were training videos of the run: not a held-out score" in p.scored  # never unlabelled


def test_cli_run_dispatches_on_model_name(gbdt_store, tmp_path):
    from typer.testing import CliRunner

    from mabe_train.cli import app
    r = CliRunner().invoke(app, ["run", "--config", "configs/gbdt.yaml", f"data.data_dir={gbdt_store}",
                                 f"train.checkpoint_dir={tmp_path}", "train.run_name=c", "train.progress=false",
                                 "gbdt.n_estimators=5", "gbdt.windows_s=[0.5]"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c" / "gbdt.json").exists() and "run directory" in r.output
    r = CliRunner().invoke(app, ["run", "--resume", str(tmp_path / "c")])
    assert r.exit_code == 1 and "one pass" in r.output


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="gbdt.learning_rate.*gbdt.windows_s|gbdt.windows_s.*gbdt.learning_rate"):
        load_config("configs/gbdt.yaml", ["gbdt.learning_rate=0", "gbdt.windows_s=[]"])


def test_the_package_imports_without_lightgbm_and_says_which_extra(monkeypatch):
    code = ("import sys; sys.modules['lightgbm'] = None\n"
            "import mabe_train.cli, mabe_train.gbdt.features, mabe_train.gbdt.model, mabe_train.cv\n"
            "from mabe_train.gbdt import require_lightgbm\n"
            "from mabe_store.errors import MissingExtra\n"
            "try:\n    require_lightgbm()\nexcept MissingExtra as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "mabe[gbdt]" in out
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingExtra, match=r"^the GBDT model kind needs lightgbm: pip install 'mabe\[gbdt\]'$"):
        require_lightgbm()


def test_prediction_threads_are_a_setting_and_change_nothing_but_speed(gbdt_run, gbdt_store):
    from mabe_train.budget import set_threads
    from mabe_train.runs.registry import load_run
    run = load_run(gbdt_run)
    ids = run.split["val"]
    set_threads(run, 1)
    one = run.predict_probs(ids)
    set_threads(run, 2)
    assert run.model.num_threads == 2
    two = run.predict_probs(ids)
    assert all(np.array_equal(a.probs, b.probs) for a, b in zip(one, two, strict=True))


def test_the_kaggle_budget_estimates_a_gbdt_run_without_real_data(gbdt_run, gbdt_store, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("kaggle_budget", "scripts/kaggle_budget.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = script.main(["--run", str(gbdt_run), "--store", str(gbdt_store), "--videos", "2", "--threads", "1",
                       "--real", str(tmp_path / "none")])
    r = out["runs"][0]
    assert r["kind"] == "gbdt" and r["videos"] == 2 and r["pair_frames"] == 2 * 2 * 400  # 2 videos x 2 pairs x 400
    assert r["model_h"] == pytest.approx(200 * out["mean_pair_frames"] / r["pair_frames_per_s"] / 3600)
    assert "measured on the real train.csv" in out["sizes_from"] and out["margin_h"] < 9
