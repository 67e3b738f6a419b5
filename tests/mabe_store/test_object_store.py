"""Stores in object storage: build to s3:// (a real S3 server, moto, on 127.0.0.1) and memory://,
read back bit-identical to a local build, reruns, an interrupted upload, and one-line errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from mabe_store import open_store
from mabe_store.build import build_store
from mabe_store.cli import app
from mabe_store.errors import MabeStoreError
from mabe_store.location import locate, parse_options, public_options
from mabe_store.reader import StoreError
from mabe_store.verify import check_contract, check_raw
from tests.s3_server import FAKE_SECRET

QUIET = {"progress": False, "log": lambda _: None}


def cli_options(opts: dict) -> list[str]:
    return [a for k, v in opts.items() for a in ("--storage-option", f"{k}={v}")]


def objects(loc) -> dict[str, bytes]:
    """Every object of a store location (a local folder or a URL), by relative path."""
    fs, root = loc.fs()
    fs.invalidate_cache()
    return {p[len(root.rstrip("/")) + 1:]: fs.cat_file(p) for p in fs.find(root)}


def assert_same_store(a, b) -> None:
    """Same arrays and tables (but the sources' fingerprints: file mtimes)."""
    assert a.n_videos == b.n_videos and a.n_frames == b.n_frames
    for name in ("videos", "annotations", "labeled"):
        ta, tb = a.table(name) if name != "videos" else a.videos, b.table(name) if name != "videos" else b.videos
        assert ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta if k != "source")
    assert np.array_equal(a.feature_array[:], b.feature_array[:], equal_nan=True)
    assert np.array_equal(a.action_array[:], b.action_array[:])


@pytest.fixture(scope="module")
def local_build(tmp_path_factory):
    """(raw, local store) built once: the reference the object-store builds must equal."""
    from tests.conftest import make_raw

    root = tmp_path_factory.mktemp("objlocal")
    raw = make_raw(root / "raw")
    build_store(raw, root / "local.zarr", **QUIET)
    return raw, root / "local.zarr"


def test_a_store_built_to_s3_is_the_local_build_byte_for_byte_and_reruns_resume_it(local_build, s3_server, new_bucket, tmp_path):
    raw, local = local_build
    url, mirror, logs = f"s3://{new_bucket}/stores/s.zarr", tmp_path / "m" / "s.zarr", []
    report = build_store(raw, url, storage_options=s3_server, mirror=mirror,
                         progress=False, log=logs.append)
    assert report.ok and report.built == 5
    remote, here = objects(locate(url, s3_server)), objects(locate(str(local)))
    assert remote.keys() == here.keys()
    differ = sorted(k for k in remote if remote[k] != here[k])
    assert differ == ["generation", "zarr.json"]  # the build's id and its attrs (generation, timing)
    s = open_store(url, s3_server)
    assert s.path == url and s.generation == remote["generation"].decode()
    assert_same_store(s, open_store(local))
    assert not any(FAKE_SECRET in line for line in logs)
    opts = cli_options(s3_server)  # the CLI reads the bucket, and never prints the secret
    for args, says in ((["verify", "--raw", str(raw)], f"{url}: OK (contract and raw spot-check; 5 videos"),
                       (["inspect"], f"{url}: 5 videos"), (["inspect", "101"], "video 101")):
        r = CliRunner().invoke(app, [*args, "--store", url, *opts])
        assert r.exit_code == 0 and says in r.output and FAKE_SECRET not in r.output, r.output

    logs.clear()  # a rerun uploads only what changed
    again = build_store(raw, url, storage_options=s3_server, mirror=mirror, progress=False, log=logs.append)
    assert again.built == 0 and again.already_built == 5
    assert [line for line in logs if line.startswith("uploaded")] == [
        f"uploaded 1 objects to {url} (deleted 0), the commit last"]  # the root: its build report
    logs.clear()  # another machine: an empty mirror is filled from the bucket, nothing rebuilt
    other = build_store(raw, url, storage_options=s3_server, mirror=tmp_path / "other" / "s.zarr",
                        progress=False, log=logs.append)
    assert other.built == 0 and other.already_built == 5
    assert logs[0].startswith(f"downloading {url}")


def fail_on_commit(monkeypatch, url: str, options: dict):
    """Kill the upload just before it writes the root zarr.json (the commit). fsspec caches one
    file system per options, so patching the instance reaches the build's uploads."""
    fs, root = locate(url, options).fs()
    real = fs.put_file

    def put_file(lpath, rpath, *args, **kwargs):
        if rpath == f"{root}/zarr.json":
            raise ConnectionError("simulated crash before the commit")
        return real(lpath, rpath, *args, **kwargs)
    monkeypatch.setattr(fs, "put_file", put_file)


def test_an_append_killed_before_its_commit_leaves_the_old_store_readable(
        local_build, s3_server, new_bucket, tmp_path, monkeypatch):
    raw0, local = local_build
    raw = tmp_path / "raw"
    shutil.copytree(raw0, raw)
    aside = tmp_path / "201.parquet"
    shutil.move(raw / "train_tracking/LabB/201.parquet", aside)  # skipped this time, appended later
    url, mirror = f"s3://{new_bucket}/s.zarr", tmp_path / "m" / "s.zarr"
    assert build_store(raw, url, storage_options=s3_server, mirror=mirror, **QUIET).built == 4
    shutil.move(aside, raw / "train_tracking/LabB/201.parquet")
    with monkeypatch.context() as m:
        fail_on_commit(m, url, s3_server)
        with pytest.raises(MabeStoreError, match="cannot upload the store .*simulated crash"):
            build_store(raw, url, storage_options=s3_server, mirror=mirror, **QUIET)
    s, ref = open_store(url, s3_server), open_store(local)  # new shards are up, the old commit rules
    assert s.n_videos == 4 and 201 not in s.videos["video_id"]
    for v in s.videos["video_id"]:  # the committed rows read as before, from the new objects
        assert np.array_equal(s.features(v), ref.features(v), equal_nan=True)
        assert np.array_equal(s.actions(v), ref.actions(v))
    problems = check_contract(s)  # as after a local build killed before its commit
    assert problems and all("an interrupted build; rerun `mabe-store build`" in p for p in problems)
    report = build_store(raw, url, storage_options=s3_server, mirror=mirror, **QUIET)
    assert report.built == 0  # built in the mirror before the crash: only the upload is left
    s = open_store(url, s3_server)
    assert s.n_videos == 5 and check_contract(s) == [] and check_raw(s, raw) == []


@pytest.mark.slow
def test_a_rebuild_killed_midway_is_refused_by_readers_until_a_rerun_completes_it(
        local_build, s3_server, new_bucket, tmp_path, monkeypatch):
    raw0, local = local_build
    raw = tmp_path / "raw"
    shutil.copytree(raw0, raw)
    url, mirror = f"s3://{new_bucket}/s.zarr", tmp_path / "m" / "s.zarr"
    build_store(raw, url, storage_options=s3_server, mirror=mirror, **QUIET)
    old = open_store(url, s3_server)
    old.check_generation()
    f = raw / "train_tracking/LabA/102.parquet"
    f.write_bytes(f.read_bytes())  # a changed source (new mtime): the store is rebuilt afresh
    with monkeypatch.context() as m:
        fail_on_commit(m, url, s3_server)
        with pytest.raises(MabeStoreError, match="simulated crash"):
            build_store(raw, url, storage_options=s3_server, mirror=tmp_path / "elsewhere" / "s.zarr", **QUIET)
    with pytest.raises(StoreError, match="was rebuilt while this process read it"):
        old.features(101)
    with pytest.raises(StoreError, match="was rebuilt"):
        open_store(url, s3_server).features(101)  # a new reader of the half-uploaded bucket too
    logs = []  # another mirror: the bucket's generation object says it was left mid-rebuild
    build_store(raw, url, storage_options=s3_server, mirror=tmp_path / "third" / "s.zarr",
                progress=False, log=logs.append)
    assert any("left mid-upload by an interrupted rebuild" in line for line in logs)
    s = open_store(url, s3_server)
    s.check_generation()
    assert s.generation != old.generation and check_contract(s) == [] and check_raw(s, raw) == []
    assert_same_store(s, open_store(local))


def test_memory_url_round_trip(local_build, tmp_path):
    raw, local = local_build
    url = f"memory://mabe-test-{tmp_path.name}/s.zarr"
    assert build_store(raw, url, mirror=tmp_path / "s.zarr", **QUIET).built == 5
    s = open_store(url)
    assert check_contract(s) == [] and check_raw(s, raw) == []
    assert_same_store(s, open_store(local))


@pytest.mark.parametrize("command", [["inspect", "--store"], ["verify", "--store"], ["build", "--out"]])
def test_a_missing_bucket_is_one_line(s3_server, tmp_path, command):
    args = [*command, "s3://no-such-bucket-here/s.zarr", *cli_options(s3_server)]
    if command[0] == "build":
        from tests.conftest import make_raw
        args += ["--raw", str(make_raw(tmp_path / "raw")), "--mirror", str(tmp_path / "m"), "--no-progress"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: s3://no-such-bucket-here/s.zarr: cannot "), r.output
    assert "bucket does not exist" in lines[0] and FAKE_SECRET not in r.output


def test_urls_that_cannot_be_used_are_one_line(tmp_path):
    for url, says in (("nosuchproto://x/s.zarr", "cannot open the file system"),
                      ("memory://empty-place/s.zarr", "no store at memory://empty-place/s.zarr")):
        r = CliRunner().invoke(app, ["inspect", "--store", url])
        assert r.exit_code == 1 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
    r = CliRunner().invoke(app, ["inspect", "--store", "memory://x/s.zarr", "--storage-option", "anon"])
    assert r.exit_code == 1 and "--storage-option must be key=value" in r.output


def test_build_refuses_a_zarr_store_it_did_not_write(local_build, tmp_path):
    import zarr

    url = f"memory://mabe-test-{tmp_path.name}/theirs.zarr"
    zarr.open_group(url, mode="w").attrs["owner"] = "someone else"
    with pytest.raises(MabeStoreError, match="a Zarr store that mabe-store did not write"):
        build_store(local_build[0], url, mirror=tmp_path / "m", **QUIET)
    assert dict(zarr.open_group(url, mode="r").attrs) == {"owner": "someone else"}


def test_a_mirror_folder_that_holds_other_files_is_left_alone(local_build, tmp_path):
    mirror = tmp_path / "mine"
    mirror.mkdir()
    (mirror / "thesis.tex").write_text("keep me")
    with pytest.raises(MabeStoreError, match="not a mabe-store mirror"):
        build_store(local_build[0], f"memory://mabe-test-{tmp_path.name}/s.zarr", mirror=mirror, **QUIET)
    assert (mirror / "thesis.tex").read_text() == "keep me"


def test_build_refuses_a_bucket_prefix_that_holds_something_else(s3_server, new_bucket, tmp_path, local_build):
    import s3fs

    s3fs.S3FileSystem(**s3_server).pipe(f"{new_bucket}/data/notes.txt", b"not a store")
    with pytest.raises(MabeStoreError, match="holds objects but no Zarr store"):
        build_store(local_build[0], f"s3://{new_bucket}/data", storage_options=s3_server,
                    mirror=tmp_path / "m", **QUIET)


def test_options_parse_as_yaml_scalars_and_credentials_are_never_public():
    opts = parse_options(["anon=true", "endpoint_url=http://127.0.0.1:9000", "key=AKIA", "secret=s"])
    assert opts == {"anon": True, "endpoint_url": "http://127.0.0.1:9000", "key": "AKIA", "secret": "s"}
    nested = {**opts, "client_kwargs": {"region_name": "eu", "aws_session_token": "t"}, "token": "x"}
    assert public_options(nested) == {"anon": True, "endpoint_url": "http://127.0.0.1:9000",
                                      "client_kwargs": {"region_name": "eu"}}
    loc = locate("s3://b/s.zarr", opts)
    assert "AKIA" not in repr(loc) and str(loc) == "s3://b/s.zarr"
