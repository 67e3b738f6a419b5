"""Ensembles: calibrated blending, weights tuned on shared evidence, and the run interface."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mabe_train.config import load_config
from mabe_train.decode import NEVER, VideoProbs
from mabe_train.ensemble import EnsembleError, blend, centred_logits, default_thresholds, weight_grid
from tests.mabe_train.gbdt.conftest import make_gbdt_store

pytest.importorskip("lightgbm")


def _vp(p: float, lab="L", pairs=((1, 2),)) -> VideoProbs:
    labeled = np.zeros((len(pairs), 37), bool)
    labeled[:, 0] = True
    return VideoProbs(1, lab, list(pairs), np.full((len(pairs), 3, 37), p, np.float32) * labeled[:, None], labeled)


def test_blend_centres_each_member_on_its_own_threshold():
    from mabe_store.constants import ACTIONS
    a = ACTIONS[0]
    # each member exactly at its own threshold -> the blend sits at 0.5 whatever the scales
    out = blend([_vp(0.2), _vp(0.8)], [{("L", a): 0.2}, {("L", a): 0.8}], (0.5, 0.5))
    assert np.allclose(out.probs[:, :, 0], 0.5, atol=1e-5) and (out.probs[:, :, 1:] == 0).all()
    # a member above its boundary outweighs one slightly below, given the weight
    z = centred_logits(_vp(0.9), {("L", a): NEVER})  # NEVER -> centred at 0.5
    assert np.allclose(z[:, :, 0], np.log(9), atol=1e-4)
    with pytest.raises(EnsembleError, match="different pairs"):
        blend([_vp(0.2), _vp(0.2, pairs=((2, 1),))], [{}, {}], (0.5, 0.5))


def test_weight_grid_is_the_simplex():
    assert weight_grid(2)[0] == (0.0, 1.0) and len(weight_grid(2)) == 11
    assert all(abs(sum(w) - 1) < 1e-9 for w in weight_grid(3)) and len(weight_grid(3)) == 15


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    from mabe_train.gbdt.train import train_gbdt
    root = tmp_path_factory.mktemp("ens")
    store = make_gbdt_store(root / "s.zarr")
    runs = []
    for name, extra in (("a", ["gbdt.windows_s=[0.25]"]), ("b", ["gbdt.windows_s=[1.0]", "train.seed=1"])):
        cfg = load_config("configs/gbdt.yaml", [f"data.data_dir={store}", f"train.checkpoint_dir={root / 'runs'}",
                                                f"train.run_name={name}", "train.progress=false",
                                                "gbdt.n_estimators=20", *extra])
        runs.append(train_gbdt(cfg, log=lambda *_: None))
    return root, store, runs


def test_ensemble_is_a_run_that_predict_and_evaluate_take(members, tmp_path):
    from mabe_train.ensemble import make_ensemble
    from mabe_train.evaluate import evaluate_run
    from mabe_train.predict import predict_run
    from mabe_train.runs.registry import load_run
    root, store, runs = members
    lines = []
    out = make_ensemble(runs, tmp_path / "e", log=lines.append)
    meta = json.loads((out / "run.json").read_text())
    assert meta["kind"] == "ensemble" and len(meta["weights"]) == 2 and abs(sum(meta["weights"]) - 1) < 1e-9
    assert sum("weights" in ln for ln in lines) == 12  # 11 candidates scored + the choice
    e = load_run(out)
    from mabe_train.runs.protocol import Run
    assert isinstance(e, Run) and all(isinstance(m, Run) for m in e.members)  # EnsembleRun, GbdtRun
    videos = e.predict_probs(e.split["val"])
    assert videos and all(v.probs.min() >= 0 and v.probs.max() <= 1 for v in videos)
    p = predict_run(out, store, tmp_path / "sub.csv", split="val", progress=False)
    assert p.n_rows > 0 and p.score > 0.5
    assert evaluate_run(out, progress=False).report["score"] == pytest.approx(p.score)


def test_fixed_weights_and_errors(members, tmp_path):
    from mabe_train.ensemble import make_ensemble
    from mabe_train.runs.registry import load_run
    _, _, runs = members
    out = make_ensemble(runs, tmp_path / "f", weights=[3, 1], log=lambda *_: None)
    assert json.loads((out / "run.json").read_text())["weights"] == [0.75, 0.25]
    thr = load_run(out).thresholds
    assert set(thr.values()) <= {0.5, NEVER} and default_thresholds([load_run(r).thresholds for r in runs]) == thr
    with pytest.raises(EnsembleError, match="at least 2"):
        make_ensemble(runs[:1], tmp_path / "g")
    with pytest.raises(EnsembleError, match="exists"):
        make_ensemble(runs, out, weights=[1, 1])
    with pytest.raises(EnsembleError, match="2 non-negative"):
        make_ensemble(runs, tmp_path / "h", weights=[1])


def test_ensemble_cli(members, tmp_path):
    from typer.testing import CliRunner

    from mabe_train.cli import app
    _, _, runs = members
    r = CliRunner().invoke(app, ["ensemble", *map(str, runs), "--out", str(tmp_path / "c"), "--weights", "1,1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["ensemble", *map(str, runs), "--out", str(tmp_path / "d"), "--weights", "x"])
    assert r.exit_code == 1 and "--weights" in r.output


def test_a_bundled_ensemble_carries_its_members_and_predicts_alike_once_the_originals_are_gone(members, tmp_path):
    """A Kaggle notebook has only the bundle: the ensemble's members must travel inside it."""
    import shutil

    from mabe_train.bundle import copy_run
    from mabe_train.ensemble import make_ensemble
    from mabe_train.predict import predict_run
    root, store, runs = members
    copies = [tmp_path / "m" / r.name for r in runs]
    for r, c in zip(runs, copies, strict=True):
        shutil.copytree(r, c)
    ens = make_ensemble(copies, tmp_path / "e", weights=[0.5, 0.5], log=lambda *_: None)
    want = predict_run(ens, store, tmp_path / "want.csv", split="val", progress=False)
    copy_run(ens, tmp_path / "bundle" / "e")
    shutil.rmtree(tmp_path / "m")  # the members' original folders are not on Kaggle
    members_json = json.loads((tmp_path / "bundle" / "e" / "run.json").read_text())["members"]
    assert all(not m.startswith("/") for m in members_json)
    got = predict_run(tmp_path / "bundle" / "e", store, tmp_path / "got.csv", split="val", progress=False)
    assert got.score == want.score and (tmp_path / "got.csv").read_text() == (tmp_path / "want.csv").read_text()
