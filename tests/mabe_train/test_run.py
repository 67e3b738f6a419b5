"""The run directory: a marker that --overwrite trusts, plain run names, load_run and its checks."""

import json
from pathlib import Path

import pytest
import torch

from mabe_train.config import load_config
from mabe_train.layout import LayoutError
from mabe_train.run import MARKER, RunError, make_run_dir, trim_history
from mabe_train.runs.registry import load_run
from mabe_train.train import train

DEBUG = Path(__file__).resolve().parents[2] / "configs" / "debug.yaml"


def _cfg(store, root, *extra):
    return load_config(DEBUG, [f"data.data_dir={store}", f"train.checkpoint_dir={root}", "train.progress=false",
                               "train.steps_per_epoch=2", "train.epochs=1", "data.batch_size=8", *extra])


@pytest.fixture(scope="module")
def grouped_run(train_store, tmp_path_factory):
    return train(_cfg(train_store, tmp_path_factory.mktemp("runs"), "train.run_name=g"))


@pytest.mark.parametrize("name", [".", "..", "../elsewhere", "/abs/path", "a/b", ""])
def test_run_names_must_be_plain_folder_names(train_store, tmp_path, name):
    cfg = _cfg(train_store, tmp_path, f"train.run_name={name}")
    if name == "":
        assert make_run_dir(cfg).parent == tmp_path  # "" = <config name>-<time>
        return
    with pytest.raises(RunError, match="not a plain folder name"):
        make_run_dir(cfg, overwrite=True)


def test_overwrite_replaces_a_run_but_never_a_folder_that_is_not_one(train_store, tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(RunError, match="refusing to delete"):
        make_run_dir(_cfg(train_store, tmp_path, "train.run_name=notes"), overwrite=True)
    assert (precious / "thesis.tex").exists()
    run = train(_cfg(train_store, tmp_path, "train.run_name=r"))
    assert json.loads((run / MARKER).read_text())["keypoints"][0] == "nose"
    (run / "extra").write_text("x")
    again = make_run_dir(_cfg(train_store, tmp_path, "train.run_name=r"), overwrite=True)
    assert again == run and list(again.iterdir()) == []


def test_load_run_gives_config_split_model_and_checkpoint(grouped_run):
    run = load_run(grouped_run, "last", progress=False)
    assert run.kind == "torch" and run.checkpoint_label == "last, epoch 1"
    assert run.cfg.task == "grouped" and run.epoch == 1 and set(run.split) >= {"train", "val"}
    assert not run.model.training and run.device == torch.device("cpu")
    assert run.artefacts == {}  # the grouped task's validation has none
    with pytest.raises(RunError, match="this run has: best, epoch_001, last|this run has: best, last"):
        load_run(grouped_run, "epoch_099")
    with pytest.raises(RunError, match="not a run directory"):
        load_run(grouped_run / "nope")


def test_a_store_with_another_keypoint_layout_is_one_line(grouped_run, tmp_path):
    import shutil
    copy = tmp_path / "g"
    shutil.copytree(grouped_run, copy)
    marker = json.loads((copy / MARKER).read_text())
    marker["keypoints"] = marker["keypoints"][:6]
    (copy / MARKER).write_text(json.dumps(marker))
    with pytest.raises(LayoutError) as e:
        load_run(copy, "last")
    assert "\n" not in str(e.value) and "4 mice x 6 keypoints" in str(e.value) and "4 x 18" in str(e.value)


def test_data_dir_is_taken_as_a_path_not_parsed(grouped_run, train_store, tmp_path):
    """A store path with ` #1` in it (a YAML comment marker) reaches the store opener whole."""
    import shutil
    odd = tmp_path / "stores #1" / "s.zarr"
    shutil.copytree(train_store, odd)
    run = load_run(grouped_run, "last", data_dir=odd, progress=False)
    assert run.cfg.data.data_dir == str(odd) and Path(run.store.path) == odd


def test_trim_history_keeps_the_checkpointed_epochs(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e}) + "\n" for e in (1, 2, 3)))
    trim_history(tmp_path, 2)
    assert [json.loads(ln)["epoch"] for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_run_refuses_to_resume_on_a_store_rebuilt_under_it(train_store, tmp_path):
    import shutil
    store = tmp_path / "store.zarr"
    shutil.copytree(train_store, store)
    killed = train(_cfg(store, tmp_path / "runs", "train.run_name=k", "train.ckpt_every_steps=1"), stop_after_steps=1)
    (store / "generation").write_text("f" * 32)  # what a rebuild from scratch does
    store_attrs = json.loads((store / "zarr.json").read_text())
    store_attrs["attributes"]["generation"] = "f" * 32
    (store / "zarr.json").write_text(json.dumps(store_attrs))
    with pytest.raises(RunError, match="was rebuilt since .* started"):
        train(_cfg(store, tmp_path / "runs"), run_dir=killed, resume=True)
