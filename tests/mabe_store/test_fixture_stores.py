"""Every store the test suite builds or writes passes `mabe-store verify`: one writer, one contract."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mabe_store.cli import app
from mabe_store.reader import open_store
from tests.mabe_train.stores import make_train_store

runner = CliRunner()


def verify(store) -> str:
    r = runner.invoke(app, ["verify", "--store", str(store)])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("fixture", ["handmade_store", "tiny_store"])
def test_built_fixture_stores_pass_verify(fixture, request):
    assert "OK (contract" in verify(request.getfixturevalue(fixture))


def test_the_train_store_is_written_by_the_builders_writer(tmp_path):
    path = make_train_store(tmp_path / "train.zarr", n_videos=3, length=300)
    assert "OK (contract" in verify(path)
    s = open_store(path)  # the attrs of a built store: committed counts, source, config hash
    assert s.attrs["committed"]["videos"] == s.n_videos == 4 and s.attrs["source"]["builder"]
    assert s.attrs["build_config"]["hash"] and s.committed["rows"] == s.n_frames
    vid = int(s.videos["video_id"][0])
    ann = s.annotations(vid)
    assert len(ann["action"]) > 0 and s.actions(vid).sum() > 0  # labels derived from the intervals
    assert json.loads(s.videos["behaviors_labeled"][0])[0] == "mouse1,mouse2,sniff"
