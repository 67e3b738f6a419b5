"""Every `mabe-store` command through Typer's CliRunner: exit codes and the key lines."""

from __future__ import annotations

import zarr
from typer.testing import CliRunner

from mabe_store.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_build_then_rerun(handmade_raw, tmp_path):
    out = tmp_path / "s.zarr"
    r = run("build", "--raw", handmade_raw, "--out", out, "--jobs", "1", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "built 5 videos" in r.output and "forepaw_left" in r.output
    r = run("build", "--raw", handmade_raw, "--out", out, "--no-progress", "--config", "configs/store.yaml")
    assert r.exit_code == 0 and "5 already in the store" in r.output


def test_build_takes_key_value_settings_over_the_config(handmade_raw, tmp_path):
    out = tmp_path / "s.zarr"
    r = run("build", "chunk_row=512", "--raw", handmade_raw, "--out", out, "--no-progress")
    assert r.exit_code == 1 and r.output.strip().splitlines()[0].startswith(
        "error: invalid store config: unknown setting 'chunk_row'") and not out.exists()
    r = run("build", "chunk_rows=512", "shard_rows=1024", "--raw", handmade_raw, "--out", out, "--jobs", "1",
            "--no-progress")
    assert r.exit_code == 0, r.output
    assert zarr.open_group(out, mode="r")["features"].chunks[0] == 512


def test_build_exits_nonzero_when_a_video_is_skipped(handmade_raw, tmp_path):
    (handmade_raw / "test_tracking" / "LabA" / "301.parquet").write_bytes(b"not parquet")
    r = run("build", "--raw", handmade_raw, "--out", tmp_path / "s.zarr", "--no-progress")
    assert r.exit_code == 1
    assert "skipped  video 301" in r.output and "1 videos skipped" in r.output


def test_build_split_is_documented_and_checked(handmade_raw, tmp_path):
    assert "--split" in run("build", "--help").output
    r = run("build", "--raw", handmade_raw, "--out", tmp_path / "s.zarr", "--split", "val", "--no-progress")
    assert r.exit_code == 1 and r.output.strip() == "error: --split must be train, test or all, got 'val'"
    r = run("build", "--raw", handmade_raw, "--out", tmp_path / "s.zarr", "--split", "train", "--no-progress")
    assert r.exit_code == 0 and "built 4 videos" in r.output


def test_build_errors_are_one_line(tmp_path):
    r = run("build", "--raw", tmp_path, "--out", tmp_path / "s.zarr", "--no-progress")
    assert r.exit_code == 1 and "mabe-store synth" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("keypoints: [a, a]\ncodec: gzip\n")
    r = run("build", "--raw", tmp_path, "--out", tmp_path / "s.zarr", "--config", bad)
    assert r.exit_code == 1 and "distinct" in r.output and "codec" in r.output


def test_inspect_summary_video_and_plot(handmade_store, tmp_path):
    r = run("inspect", "--store", handmade_store)
    assert r.exit_code == 0 and "5 videos, 390 frames" in r.output and "sniff 35" in r.output
    png = tmp_path / "v.png"
    r = run("inspect", "--store", handmade_store, "201", "--plot", png)
    assert r.exit_code == 0, r.output
    assert "lab LabB" in r.output and "3 mice" in r.output and "attack 10" in r.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert run("inspect", "--store", handmade_store, "--plot", png).exit_code == 1
    r = run("inspect", "--store", handmade_store, "5")
    assert r.exit_code == 1 and "is not in" in r.output
    r = run("inspect", "--store", handmade_store, "abc")  # not a usage error (exit 2): one line, exit 1
    assert r.exit_code == 1 and r.output.strip() == f"error: video 'abc' is not in {handmade_store} " \
        "(5 videos; `mabe-store inspect` lists them)"


def test_inspect_plot_creates_folders_and_reports_unwritable_paths(handmade_store, tmp_path):
    png = tmp_path / "new" / "dir" / "v.png"
    assert run("inspect", "--store", handmade_store, "201", "--plot", png).exit_code == 0
    assert png.exists()
    (tmp_path / "file").write_text("")
    r = run("inspect", "--store", handmade_store, "201", "--plot", tmp_path / "file" / "v.png")
    assert r.exit_code == 1 and "error: cannot use" in r.output and "writable path" in r.output


def test_verify_passes_then_catches_a_tampered_value(handmade_store, tmp_path, handmade_raw):
    r = run("verify", "--store", handmade_store)
    assert r.exit_code == 0 and "OK" in r.output
    out = tmp_path / "s.zarr"
    assert run("build", "--raw", handmade_raw, "--out", out, "--no-progress").exit_code == 0
    assert run("verify", "--store", out, "--raw", handmade_raw).exit_code == 0
    feats = zarr.open_group(str(out), mode="r+")["features"]
    feats[0, 0] = feats[0, 0] + 1
    r = run("verify", "--store", out, "--raw", handmade_raw, "--sample", "10")
    assert r.exit_code == 1 and "video 101: features differ" in r.output
    acts = zarr.open_group(str(out), mode="r+")["actions"]
    acts[0, 0] = 1
    r = run("verify", "--store", out)
    assert r.exit_code == 1 and "video 101: actions differ" in r.output


def test_verify_without_store(tmp_path):
    r = run("verify", "--store", tmp_path / "none.zarr")
    assert r.exit_code == 1 and "no store at" in r.output


def test_download_without_credentials(tmp_path, monkeypatch):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "empty"))
    r = run("download", "--out", tmp_path / "raw")
    assert r.exit_code == 1 and "KAGGLE_USERNAME" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_build_into_an_unwritable_place_is_one_line(handmade_raw, tmp_path):
    (tmp_path / "file").write_text("")
    r = run("build", "--raw", handmade_raw, "--out", tmp_path / "file" / "s.zarr", "--no-progress")
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot create the store at"), r.output
