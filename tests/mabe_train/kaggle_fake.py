"""The kaggle client's real upload path with its network faked: what `kaggle datasets create -p DIR`
would upload, recorded instead of sent.

`uploaded_by_kaggle_cli(folder, monkeypatch, tmp)` runs the installed client's own CLI entry
(`kaggle.cli.main`, its default options: `--dir-mode skip`) against `folder`. Only the edges are
fake: the credentials (a user name in the client's config values), the Kaggle API calls that
`build_kaggle_client` would make (dataset status: 404, start blob upload: a URL and a token,
create dataset: ok) and the blob PUT that `requests.Session.put` would send. Everything between
(which entries of the folder are uploaded, archived or skipped, the resumable-upload bookkeeping,
the request that creates the dataset) is the client's. Returns {uploaded name: bytes sent} and the
client's printed output.
"""

from __future__ import annotations

import contextlib
import io
import sys
from types import SimpleNamespace

import requests


class _Response:
    def __init__(self, status_code: int):
        self.status_code, self.headers, self.text = status_code, {}, ""


class FakeKaggleClient:
    """Stands in for kagglesdk's KaggleClient: the three calls a dataset upload makes."""

    def __init__(self, log: dict):
        from kagglesdk.blobs.types.blob_api_service import ApiStartBlobUploadResponse
        from kagglesdk.datasets.types.dataset_api_service import ApiCreateDatasetResponse

        def status(_request):
            raise requests.exceptions.HTTPError("404 Not Found", response=_Response(404))

        def start(request):
            r = ApiStartBlobUploadResponse()
            r.token, r.create_url = f"token-{request.name}", f"https://upload.invalid/{request.name}"
            log["started"].append(request.name)
            return r

        def create(request):
            log["created"] = request
            r = ApiCreateDatasetResponse()
            r.error, r.status, r.url = "", "ok", "https://www.kaggle.com/datasets/someone/fake"
            return r

        self.datasets = SimpleNamespace(dataset_api_client=SimpleNamespace(
            get_dataset_status=status, create_dataset=create))
        self.blobs = SimpleNamespace(blob_api_client=SimpleNamespace(start_blob_upload=start))

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False


def uploaded_by_kaggle_cli(folder, monkeypatch, tmp) -> tuple[dict[str, int], str]:
    import tempfile

    import kaggle
    from kaggle.cli import main
    log: dict = {"started": [], "put": {}, "created": None}

    def put(_session, url, data=None, **_kw):
        sent = 0
        while chunk := data.read(1 << 20):
            sent += len(chunk)
        log["put"][url.rsplit("/", 1)[1]] = sent
        return _Response(200)

    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # the client's upload state and archives
    monkeypatch.setattr(requests.Session, "put", put)
    monkeypatch.setattr(kaggle.api, "config_values", {"username": "someone"})
    monkeypatch.setattr(kaggle.api, "_authenticated", True)  # the credentials: a user name, no key
    monkeypatch.setattr(kaggle.api, "build_kaggle_client", lambda: FakeKaggleClient(log))
    monkeypatch.setattr(sys, "argv", ["kaggle", "datasets", "create", "-p", str(folder)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as e:
            assert not e.code, out.getvalue()
    assert log["created"] is not None, out.getvalue()
    tokens = {f.token for f in log["created"].files}
    assert tokens == {f"token-{n}" for n in log["put"]}, (tokens, log["put"])  # every uploaded blob is in the dataset
    return log["put"], out.getvalue()
