"""The documented own-data commands on the 14 real two-rat recordings (../shared/real-labeled/rat):
import with the shipped manifest -> build -> verify, a store of exactly the 10 rat behaviours whose
videos without an S2 stream do not label S2, with the manifest's scale so the models see cm.
Skips without ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

for _m in ("pandas",):
    pytest.importorskip(_m)

from mabe_store.cli import app  # noqa: E402
from mabe_store.reader import open_store  # noqa: E402
from mabe_train.gbdt.features import video_features  # noqa: E402
from mabe_train.vocab import exclusive_groups  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RAT = REPO / ".." / "shared" / "real-labeled" / "rat"
RAT_BEHAVIOURS = ["aggression", "bite", "chase", "clinch", "freezing", "keepdown", "lateralthreat", "nonsocial",
                  "social", "uprightposture"]
pytestmark = [pytest.mark.real, pytest.mark.skipif(not RAT.is_dir(), reason="../shared/real-labeled is absent")]


def _ok(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_documented_rat_commands_give_the_ten_behaviours_in_cm(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the commands as documented, relative to the repository root
    raw, store = tmp_path / "rat", tmp_path / "rat.zarr"
    _ok("import", "--manifest", "configs/rat_manifest.csv", "--keypoints", "configs/rat_keypoints.yaml", "--raw", raw)
    _ok("build", "--raw", raw, "--out", store, "--no-progress")
    assert "OK" in _ok("verify", "--store", store, "--raw", raw, "--sample", 14)
    s = open_store(store)
    assert list(s.vocabulary.actions) == RAT_BEHAVIOURS and s.n_videos == 14
    streams = dict(s.vocabulary.streams)
    assert sorted(streams["S1"]) == ["aggression", "nonsocial", "social"]
    assert len(exclusive_groups(s.vocabulary)) == 2  # S1 exclusive; S2 a second group that may overlap S1
    no_s2 = [int(v) for v in s.videos["video_id"] if not set(streams["S2"]) & set(s.labeled_triples(v)["action"])]
    assert sorted(no_s2) == [9, 15]
    assert np.allclose(s.videos["pix_per_cm"], 8.8)  # no scale in the files: the manifest's, documented
    rows = video_features(s, 9, (0.5,))
    assert len(rows) == 2 and np.isfinite(rows[0].X).mean() > 0.5  # features exist in cm, both ordered pairs
