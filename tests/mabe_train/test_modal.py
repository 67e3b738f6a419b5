"""The Modal app imports without network, pins its image, and its function trains in-process."""

import shutil

import pytest
import torch

from mabe_train.config import load_config
from mabe_train.run import load_checkpoint

modal_app = pytest.importorskip("mabe_train.modal_app")
# .local() runs here, where the Volume is a folder we pass in: the warning about it is expected
pytestmark = pytest.mark.filterwarnings("ignore:The train_remote function is executing locally")


def test_app_and_image_are_described_without_network():
    assert modal_app.app.name == "mabe-train"
    reqs = modal_app.pinned_requirements()
    assert all("==" in r and "+" not in r for r in reqs)
    assert any(r.startswith("torch==") for r in reqs)


def test_train_remote_runs_in_process_against_a_volume_layout(train_store, tmp_path):  # noqa: F811
    vol = tmp_path / "vol"
    shutil.copytree(train_store, vol / "stores" / "store.zarr")
    cfg = load_config(None, ["data.data_dir=data/store.zarr", "train.run_name=remote1", "train.epochs=1",
                             "train.steps_per_epoch=2", "train.progress=false", "data.batch_size=8",
                             "data.sequence_length=16", "model.conv_channels=[8]", "model.lstm_hidden=8",
                             "model.lstm_layers=1", "train.device=cpu"])
    fn = modal_app.train_remote.local
    name = fn(cfg.to_dict(), volume_root=str(vol), local_dir=str(tmp_path / "local"))
    run = vol / "runs" / "remote1"
    assert name == "remote1" and (run / "last.pt").exists() and (tmp_path / "local" / "store.zarr").exists()
    cfg.train.epochs = 2
    fn(cfg.to_dict(), resume=True, volume_root=str(vol), local_dir=str(tmp_path / "local"))
    assert load_checkpoint(run / "last.pt")["state"]["epoch"] == 2


def test_train_remote_without_uploaded_store_says_what_to_run(tmp_path):
    cfg = load_config(None, ["train.run_name=x"])
    with pytest.raises(modal_app.ModalError, match="mabe-train modal upload"):
        modal_app.train_remote.local(cfg.to_dict(), volume_root=str(tmp_path))


def test_credentials_detection(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    assert not modal_app.has_credentials()
    monkeypatch.setenv("MODAL_TOKEN_ID", "a")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "b")
    assert modal_app.has_credentials()


def _remote_cfg(name, **extra):
    return load_config(None, ["data.data_dir=data/store.zarr", f"train.run_name={name}", "train.epochs=2",
                              "train.steps_per_epoch=4", "train.progress=false", "data.batch_size=8",
                              "data.sequence_length=16", "model.conv_channels=[8]", "model.lstm_hidden=8",
                              "model.lstm_layers=1", "train.device=cpu", "train.save_freq=1"]).to_dict()


def test_a_preempted_remote_run_is_retried_and_ends_with_the_uninterrupted_weights(train_store, tmp_path):  # noqa: F811
    vol, local = tmp_path / "vol", str(tmp_path / "local")
    shutil.copytree(train_store, vol / "stores" / "store.zarr")
    commits = []
    modal_app.run_remote(_remote_cfg("whole"), False, str(vol), local, commit=lambda: commits.append(1),
                         should_stop=lambda: False)
    asked = []

    def sigterm_after_3_steps():  # what the SIGTERM handler's event says, step by step
        asked.append(1)
        return len(asked) >= 3
    with pytest.raises(modal_app.ModalError, match="stopped by SIGTERM"):
        modal_app.run_remote(_remote_cfg("pre"), False, str(vol), local, commit=lambda: commits.append(2),
                             should_stop=sigterm_after_3_steps)
    run = vol / "runs" / "pre"
    assert load_checkpoint(run / "last.pt")["state"]["step"] == 3 and 2 in commits
    # Modal's retry: the same input again; the run folder's last.pt makes it resume
    modal_app.run_remote(_remote_cfg("pre"), False, str(vol), local, commit=lambda: None, should_stop=lambda: False)
    a, b = load_checkpoint(vol / "runs" / "whole" / "last.pt"), load_checkpoint(run / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 8
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)


def test_sigterm_is_the_stop_signal_and_the_handler_is_restored(monkeypatch, tmp_path):
    import os
    import signal
    seen = {}

    def fake_run(cfg_dict, resume, volume_root, local_dir, commit, should_stop):
        seen["before"] = should_stop()
        os.kill(os.getpid(), signal.SIGTERM)
        seen["after"] = should_stop()
        return "x"
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(modal_app, "run_remote", fake_run)
    assert modal_app.train_remote.local({}, volume_root=str(tmp_path)) == "x"
    assert seen == {"before": False, "after": True} and signal.getsignal(signal.SIGTERM) == before


class _Call:
    object_id = "fc-test"

    def __init__(self, outcome):
        self.outcome, self.cancelled = outcome, False

    def get(self, timeout=None):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def cancel(self, terminate_containers=False):
        self.cancelled = terminate_containers

    @property
    def logs(self):
        entry = type("E", (), {"message": "epoch 1: loss 0.5\n"})
        return type("L", (), {"tail": lambda self, entries=100: [entry] * min(entries, 2)})()


@pytest.mark.parametrize("outcome, says", [(TimeoutError(), "running"), ("r1", "finished (r1)"),
                                           (RuntimeError("CUDA out of memory\ntrace"), "failed: CUDA out of memory")])
def test_detached_runs_status_logs_and_cancel_through_a_faked_client(monkeypatch, tmp_path, outcome, says):
    import json

    from typer.testing import CliRunner

    from mabe_train.cli import app
    monkeypatch.setenv("MODAL_TOKEN_ID", "a")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "b")
    call = _Call(outcome)
    monkeypatch.setattr(modal_app.modal.FunctionCall, "from_id", staticmethod(lambda cid: call))
    (tmp_path / ".modal").mkdir()
    (tmp_path / ".modal" / "r1.json").write_text(json.dumps({"run": "r1", "call_id": "fc-test"}))
    where = ["--checkpoint-dir", str(tmp_path)]
    r = CliRunner().invoke(app, ["modal", "status", "r1", *where])
    assert r.exit_code == 0 and r.output.strip() == f"r1: {says}"
    r = CliRunner().invoke(app, ["modal", "logs", "r1", "--entries", "1", *where])
    assert r.exit_code == 0 and r.output == "epoch 1: loss 0.5\n"
    r = CliRunner().invoke(app, ["modal", "cancel", "r1", *where])
    assert r.exit_code == 0 and call.cancelled and "last checkpoint stays" in r.output
    r = CliRunner().invoke(app, ["modal", "status", "nope", *where])
    assert r.exit_code == 1 and "no detached Modal run 'nope'" in r.output


def test_no_answer_from_modal_is_one_line_not_a_hang():
    import time
    t0 = time.perf_counter()
    with pytest.raises(modal_app.ModalError, match="no answer from Modal in 0 s while testing"):
        modal_app._answer(lambda: time.sleep(5), "testing", timeout=0.2)
    assert time.perf_counter() - t0 < 2


def test_gpu_fallback_list():
    assert modal_app.gpu_choice("H100") == "H100"
    assert modal_app.gpu_choice("H100, A100-80GB,L40S") == ["H100", "A100-80GB", "L40S"]
    with pytest.raises(modal_app.ModalError, match="--gpu is empty"):
        modal_app.gpu_choice(" , ")
