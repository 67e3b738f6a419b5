"""The run layer: one registry of kinds, one home for run-file names, one blend rule."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mabe_store.constants import ACTIONS
from mabe_train.config import load_config
from mabe_train.decode import NEVER, TunedThresholds, VideoProbs
from mabe_train.runs import files
from mabe_train.runs.blend import blend, blend_logodds, default_thresholds, logit
from mabe_train.runs.files import RunError, fresh_dir
from mabe_train.runs.registry import GBDT, KINDS, TORCH, config_kind, run_kind

PACKAGE = Path(__file__).resolve().parents[2] / "mabe_train"


def test_every_kind_resolves_its_loader_and_trainer():
    for kind in KINDS.values():
        module, _, name = kind.loader.partition(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name)), kind.loader
        if kind.trainer:
            module, _, name = kind.trainer.partition(":")
            assert callable(getattr(__import__(module, fromlist=[name]), name)), kind.trainer


def test_the_config_decides_the_kind_and_only_kinds_that_can_go_remote_do():
    assert config_kind(load_config("configs/gbdt.yaml", [])).name == GBDT
    assert config_kind(load_config("configs/pairs_demo.yaml", [])).name == TORCH
    KINDS[TORCH].require_remote()
    for name in (GBDT, "ensemble"):
        with pytest.raises(RunError, match="trains locally"):
            KINDS[name].require_remote()
    with pytest.raises(RunError, match="one pass"):
        KINDS[GBDT].train(None, resume=Path("somewhere"))


def test_run_json_names_the_kind_and_an_unknown_one_is_one_line(tmp_path):
    assert run_kind(tmp_path).name == TORCH  # a run from before kinds were recorded
    files.write_marker(tmp_path, GBDT, {"task": "pairs"})
    assert run_kind(tmp_path).name == GBDT and files.read_marker(tmp_path)["created"]
    files.write_marker(tmp_path, "mystery", {})
    with pytest.raises(RunError, match="unknown run kind 'mystery'"):
        run_kind(tmp_path)


def test_each_run_file_name_is_defined_once():
    names = {v for k, v in vars(files).items() if k.isupper() and isinstance(v, str) and "." in v}
    assert {"run.json", "split.json", "summary.json", "thresholds.json"} <= names
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "runs" / "files.py":
            continue
        for name in names:
            assert not re.search(rf"""(["']){re.escape(name)}\1""", path.read_text()), f"{path}: literal {name!r}"


def test_overwrite_replaces_only_a_run_folder(tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("keep")
    with pytest.raises(RunError, match="exists"):
        fresh_dir(other, overwrite=False)
    with pytest.raises(RunError, match="refusing to delete"):
        fresh_dir(other, overwrite=True)
    (other / files.MARKER).write_text("{}")
    assert not list(fresh_dir(other, overwrite=True).iterdir())


def _vp(p, pairs=((1, 2),)) -> VideoProbs:
    labeled = np.zeros((len(pairs), len(ACTIONS)), bool)
    labeled[:, :2] = True
    return VideoProbs(1, "L", list(pairs), np.full((len(pairs), 4, len(ACTIONS)), p, np.float32), labeled, 30.0)


def test_one_member_is_itself_so_a_single_run_decodes_as_predict():
    v = _vp(0.3)
    assert blend([v], [{("L", ACTIONS[0]): 0.7}], (1.0,)) is v


def test_a_cell_is_blended_over_the_members_that_predict_it():
    zs = [logit(np.full((1, 2, 3), 0.8)), logit(np.full((1, 2, 3), 0.4))]
    has = np.array([[[True, True, False]], [[True, False, False]]])
    got = blend_logodds(zs, (0.5, 0.5), has)
    want_both = 1 / (1 + np.exp(-(logit(np.array(0.8)) + logit(np.array(0.4))) / 2))
    np.testing.assert_allclose(got[0, :, 0], want_both, rtol=1e-6)
    np.testing.assert_allclose(got[0, :, 1], 0.8, rtol=1e-5)  # only the first member has it
    assert (got[0, :, 2] == 0).all()  # nobody predicts it


def test_default_thresholds_keep_the_per_action_bouts():
    a = TunedThresholds({("L", "sniff"): 0.3, ("L", "rear"): NEVER}, {"sniff": 0.5})
    b = TunedThresholds({("L", "sniff"): 0.6, ("L", "rear"): NEVER})
    thr = default_thresholds([b, a])
    assert thr == {("L", "sniff"): 0.5, ("L", "rear"): NEVER} and thr.bout_s == {"sniff": 0.5}
