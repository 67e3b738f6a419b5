"""Build -> train -> predict on a store served by a local S3 server (moto on 127.0.0.1), with the
credentials given as storage options and never written into the run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mabe_store.cli import app as store_app
from mabe_store.reader import open_store
from mabe_train.cli import app as train_app
from mabe_train.config import ConfigError, load_config
from mabe_train.run import check_store_generation
from tests.mabe_train.stores import PAIRS_DEBUG
from tests.s3_server import FAKE_SECRET


def options_args(opts: dict) -> list[str]:
    return [a for k, v in opts.items() for a in ("--storage-option", f"{k}={v}")]


@pytest.mark.slow
def test_build_train_predict_on_a_bucket(s3_server, new_bucket, tmp_path):
    from mabe_train.train import train

    url, mirror = f"s3://{new_bucket}/s.zarr", tmp_path / "mirror" / "s.zarr"
    for args in (["synth", "--out", tmp_path / "raw", "--videos", 8, "--scale", 0.25],
                 ["build", "--raw", tmp_path / "raw", "--out", url, "--mirror", mirror, "--no-progress",
                  *options_args(s3_server)]):
        r = CliRunner().invoke(store_app, [str(a) for a in args])
        assert r.exit_code == 0 and FAKE_SECRET not in r.output, r.output
    cfg = load_config("configs/pairs_demo.yaml", [
        f"data.data_dir={url}", f"data.storage_options={json.dumps(s3_server)}",
        f"train.checkpoint_dir={tmp_path / 'runs'}", "train.run_name=s3", *PAIRS_DEBUG])
    run_dir = train(cfg)
    store = open_store(url, s3_server)
    marker = json.loads((run_dir / "run.json").read_text())
    assert marker["store"] == url and marker["store_generation"] == store.generation
    check_store_generation(run_dir, store)
    written = [p for p in run_dir.rglob("*") if p.is_file() and FAKE_SECRET.encode() in p.read_bytes()]
    assert written == []  # config.yaml, run.json, checkpoints: no credential
    saved = load_config(run_dir / "config.yaml").data.storage_options
    assert saved == {"endpoint_url": s3_server["endpoint_url"]}

    outs = {}
    for where, extra in ((url, options_args({k: s3_server[k] for k in ("key", "secret")})), (mirror, [])):
        out = tmp_path / f"{'s3' if where == url else 'local'}.csv"
        r = CliRunner().invoke(train_app, ["predict", "--run", str(run_dir), "--store", str(where), "--split",
                                           "val", "--out", str(out), *extra])
        assert r.exit_code == 0 and "score:" in r.output and FAKE_SECRET not in r.output, r.output
        outs[where] = out.read_bytes()
    assert outs[url] == outs[mirror] and outs[url].count(b"\n") > 1  # the bucket reads as the local copy


def test_storage_options_need_a_url_data_dir():
    with pytest.raises(ConfigError, match="data.storage_options applies to a URL data.data_dir"):
        load_config(None, ["data.data_dir=data/store.zarr", "data.storage_options={anon: true}"])
    cfg = load_config(None, ["data.data_dir=s3://b/s.zarr", "data.storage_options={anon: true, secret: x}"])
    assert cfg.data.storage_options == {"anon": True, "secret": "x"}
    assert cfg.to_dict()["data"]["storage_options"] == {"anon": True}
