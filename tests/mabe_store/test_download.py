"""`download` without network: a fake `kaggle` client serves a zip; credentials never echo."""

from __future__ import annotations

import sys
import types
import zipfile

import pytest

from mabe_store import download as dl

SECRET = "s3cr3t-key-value"


def fake_kaggle(monkeypatch, *, fail_auth=False, payload=None):
    calls = []

    class KaggleApi:
        def authenticate(self):
            print(f"loaded key {SECRET}")  # a chatty client must not reach the user
            if fail_auth:
                raise SystemExit(1)

        def competition_download_files(self, competition, path, quiet):
            calls.append(competition)
            archive = f"{path}/{competition}.zip"
            if payload is not None:
                with open(archive, "wb") as f:
                    f.write(payload)
                return
            with zipfile.ZipFile(archive, "w") as zf:
                for name in dl.LAYOUT:
                    zf.writestr(name if name.endswith(".csv") else f"{name}/Lab/1.parquet", b"x" * 10)

    module = types.ModuleType("kaggle.api.kaggle_api_extended")
    module.KaggleApi = KaggleApi
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", module)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    return calls


def test_downloads_unpacks_and_then_skips(tmp_path, monkeypatch, capsys):
    calls = fake_kaggle(monkeypatch)
    out = dl.download(tmp_path / "raw")
    assert dl.complete(out) and not (out / f"{dl.COMPETITION}.zip").exists()
    assert calls == [dl.COMPETITION]
    dl.download(tmp_path / "raw")
    assert calls == [dl.COMPETITION]  # second call: nothing to do
    assert SECRET not in capsys.readouterr().out


def test_extract_skips_files_already_there(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train.csv", b"abc")
        zf.writestr("test.csv", b"defg")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "train.csv").write_bytes(b"xyz")  # same size: kept
    assert dl.extract(archive, tmp_path / "out") == (1, 1)
    assert (tmp_path / "out" / "train.csv").read_bytes() == b"xyz"


def test_rejected_credentials_and_corrupt_archive(tmp_path, monkeypatch, capsys):
    fake_kaggle(monkeypatch, fail_auth=True)
    with pytest.raises(dl.DownloadError, match="rejected the credentials"):
        dl.download(tmp_path / "raw")
    fake_kaggle(monkeypatch, payload=b"not a zip")
    with pytest.raises(dl.DownloadError, match="corrupt"):
        dl.download(tmp_path / "raw")
    assert not (tmp_path / "raw" / f"{dl.COMPETITION}.zip").exists()
    assert SECRET not in capsys.readouterr().out


@pytest.mark.parametrize(("env", "found"), [
    ({"KAGGLE_USERNAME": "a", "KAGGLE_KEY": "b"}, True), ({"KAGGLE_USERNAME": "a"}, False),
    ({"KAGGLE_API_TOKEN": "t"}, True), ({}, False)])
def test_credential_sources(tmp_path, env, found):
    assert dl.has_credentials({**env, "KAGGLE_CONFIG_DIR": str(tmp_path)}) is found
    (tmp_path / "kaggle.json").write_text("{}")
    assert dl.has_credentials({"KAGGLE_CONFIG_DIR": str(tmp_path)})
