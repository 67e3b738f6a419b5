"""A real S3 protocol server for the object-store tests: moto's server mode on 127.0.0.1.

`s3_server` starts one `moto.server.ThreadedMotoServer` per session on a free port (~0.3 s) and
yields the storage options a test passes (fake credentials and the endpoint: never the user's
AWS environment); `new_bucket` makes an empty bucket for one test. Tests that use them skip with
one line when moto or s3fs is not installed (`pip install -e '.[dev]'` brings both).
"""

from __future__ import annotations

import itertools
import logging

import pytest

FAKE_SECRET = "fake-secret-never-written-3f9c"  # tests search run folders and output for it
_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_server():
    """Storage options of a local S3 server: {key, secret, endpoint_url}."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] not installed (pip install -e '.[dev]')")
    pytest.importorskip("s3fs", reason="s3fs not installed (pip install -e '.[dev]')")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield {"key": "fake-key-id", "secret": FAKE_SECRET, "endpoint_url": f"http://{host}:{port}"}
    server.stop()


@pytest.fixture
def new_bucket(s3_server) -> str:
    """The name of a new, empty bucket on the session's server."""
    import s3fs

    name = f"bucket-{next(_buckets)}"
    s3fs.S3FileSystem(**s3_server).mkdir(name)
    return name
