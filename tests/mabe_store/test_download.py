"""`download` without network: a fake `kaggle` client serves a zip; credentials never echo."""

from __future__ import annotations

import sys
import types
import zipfile

import pytest

from mabe_store import download as dl
from mabe_store.errors import MissingExtra

SECRET = "s3cr3t-key-value"


def fake_kaggle(monkeypatch, *, fail_auth=False, payload=None, error=None):
    calls = []

    class KaggleApi:
        def authenticate(self):
            print(f"loaded key {SECRET}")  # a chatty client must not reach the user
            if fail_auth:
                raise SystemExit(1)

        def competition_download_files(self, competition, path, quiet):
            calls.append(competition)
            if error is not None:
                raise error
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
    home = {"HOME": str(tmp_path / "home")}
    assert dl.has_credentials({**env, **home, "KAGGLE_CONFIG_DIR": str(tmp_path)}) is found
    (tmp_path / "kaggle.json").write_text("{}")
    assert dl.has_credentials({**home, "KAGGLE_CONFIG_DIR": str(tmp_path)})


@pytest.mark.parametrize("where", [".kaggle/access_token", ".kaggle/access_token.txt", ".kaggle/kaggle.json",
                                   ".config/kaggle/kaggle.json", ".kaggle/credentials.json"])
def test_credential_files_in_the_clients_order(tmp_path, where):
    env = {"HOME": str(tmp_path)}
    assert not dl.has_credentials(env)
    (tmp_path / where).parent.mkdir(parents=True)
    (tmp_path / where).write_text("x")
    assert dl.has_credentials(env)


def _http_error(status, body):
    requests = pytest.importorskip("requests")
    response = requests.Response()
    response.status_code, response._content = status, body.encode()
    return requests.exceptions.HTTPError(f"{status} Client Error: for url: https://www.kaggle.com/api/v1/x",
                                         response=response)


@pytest.mark.parametrize(("status", "body", "fragments"), [
    (401, '{"code": 401, "message": "Unauthenticated"}', ["401", "Unauthenticated", "expired"]),
    (403, '{"code": 403, "message": "You must accept this competition\'s rules before you\'ll be able to download files."}',
     ["403", "accept this competition's rules", "/rules", "verify"]),
    (404, "Not Found", ["404", "Not Found", "slug", dl.COMPETITION]),
    (500, "", ["HTTP 500", "retry"])])
def test_http_errors_are_distinct_lines_with_the_servers_message(tmp_path, monkeypatch, capsys, status, body, fragments):
    fake_kaggle(monkeypatch, error=_http_error(status, body))
    with pytest.raises(dl.DownloadError) as e:
        dl.download(tmp_path / "raw")
    msg = str(e.value)
    assert "\n" not in msg and all(f in msg for f in fragments), msg
    assert SECRET not in msg and SECRET not in capsys.readouterr().out


def test_network_error_and_full_disk(tmp_path, monkeypatch):
    requests = pytest.importorskip("requests")
    fake_kaggle(monkeypatch, error=requests.exceptions.ConnectionError("Max retries exceeded"))
    with pytest.raises(dl.DownloadError, match="cannot reach Kaggle .*network"):
        dl.download(tmp_path / "raw")
    fake_kaggle(monkeypatch, error=OSError(28, "No space left on device"))
    with pytest.raises(dl.DownloadError, match="disk is full"):
        dl.download(tmp_path / "raw")


def test_no_credentials_and_no_client_are_one_line(tmp_path, monkeypatch):
    fake_kaggle(monkeypatch, fail_auth=True)
    for k in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(dl.DownloadError, match="no Kaggle credentials .*KAGGLE_API_TOKEN"):
        dl.download(tmp_path / "raw")
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", None)  # import fails
    with pytest.raises(MissingExtra, match=r"^downloading the data needs kaggle: pip install 'mabe\[kaggle\]'$"):
        dl.download(tmp_path / "raw")
