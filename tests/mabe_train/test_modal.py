"""The Modal app imports without network, pins its image, and its function trains in-process."""

import shutil

import pytest

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
    with pytest.raises(modal_app.ModalError, match="modal-upload"):
        modal_app.train_remote.local(cfg.to_dict(), volume_root=str(tmp_path))


def test_credentials_detection(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    assert not modal_app.has_credentials()
    monkeypatch.setenv("MODAL_TOKEN_ID", "a")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "b")
    assert modal_app.has_credentials()
