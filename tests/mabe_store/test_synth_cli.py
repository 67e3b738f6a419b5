"""`mabe-store synth` through Typer's CliRunner (inside the CLI's one error boundary)."""

from __future__ import annotations

from typer.testing import CliRunner

from mabe_store.cli import app

runner = CliRunner()


def test_synth_writes_then_refuses_to_overwrite(tmp_path):
    args = ["synth", "--out", str(tmp_path), "--videos", "2", "--scale", "0.05", "--seed", "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "wrote 3 videos" in first.output and (tmp_path / "train.csv").is_file()
    before = (tmp_path / "train.csv").read_bytes()
    second = runner.invoke(app, [*args[:-1], "2"])
    assert second.exit_code == 1 and "--force" in second.output
    assert (tmp_path / "train.csv").read_bytes() == before
    forced = runner.invoke(app, [*args[:-1], "2", "--force"])
    assert forced.exit_code == 0 and (tmp_path / "train.csv").read_bytes() != before


def test_bad_option_is_one_line_and_exit_1(tmp_path):
    res = runner.invoke(app, ["synth", "--out", str(tmp_path), "--scale", "3", "--profile", "x"])
    assert res.exit_code == 1
    assert res.output.strip().count("\n") == 0 and "--scale" in res.output and "'x'" in res.output
    assert "Traceback" not in res.output
