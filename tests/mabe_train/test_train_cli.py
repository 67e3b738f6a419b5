"""Every `mabe-train` command through Typer's CliRunner: exit codes and the lines that matter."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mabe_train.cli import app

DEBUG = str(Path(__file__).resolve().parents[2] / "configs" / "debug.yaml")
runner = CliRunner()


def run_args(store, tmp_path, *extra):
    return ["run", "--config", DEBUG, f"data.data_dir={store}", f"train.checkpoint_dir={tmp_path}",
            "train.progress=false", "train.steps_per_epoch=2", "data.batch_size=8", *extra]


@pytest.fixture
def no_modal_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)


def test_run_resume_and_evaluate(train_store, tmp_path):  # noqa: F811
    r = runner.invoke(app, run_args(train_store, tmp_path, "train.epochs=1", "train.run_name=cli"))
    assert r.exit_code == 0, r.output
    assert "25,748 parameters" in r.output and f"run directory: {tmp_path / 'cli'}" in r.output
    r = runner.invoke(app, ["run", "--resume", str(tmp_path / "cli"), "train.epochs=2"])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output and "epoch 2:" in r.output
    r = runner.invoke(app, ["evaluate", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    assert "macro_f1" in r.output and "aggressive" in r.output and "Lab1" in r.output
    for name in ("confusion.png", "confusion.json", "curves.png", "curves.json", "report.json"):
        assert (tmp_path / "cli" / "eval" / name).exists(), name
    r = runner.invoke(app, ["evaluate", str(tmp_path / "cli"), "--checkpoint", "last", "--data-dir", str(train_store)])
    assert r.exit_code == 0 and "(last, epoch 2)" in r.output, r.output
    r = runner.invoke(app, ["evaluate", str(tmp_path / "cli"), "--checkpoint", "epoch_999"])
    assert r.exit_code == 1 and "no checkpoint" in r.output


def test_existing_run_needs_resume_or_overwrite(train_store, tmp_path):  # noqa: F811
    args = run_args(train_store, tmp_path, "train.epochs=1", "train.run_name=twice")
    assert runner.invoke(app, args).exit_code == 0
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "--resume" in r.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


@pytest.mark.parametrize("args, fragment", [
    (["run", "--config", DEBUG, "trian.epochs=1"], "did you mean 'train.epochs'"),
    (["run"], "pass --config"),
    (["run", "--config", "nope.yaml"], "no config file"),
    (["run", "--config", DEBUG, "data.data_dir=/nonexistent/store.zarr"], "make build-store"),
    (["run", "--resume", "/nonexistent/run"], "not a run directory"),
    (["evaluate", "/nonexistent/run"], "not a run directory"),
])
def test_errors_are_one_line_and_exit_1(args, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' relative checkpoint_dir (runs/) must stay empty
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and fragment in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists(), "a failed run left a run directory behind"


@pytest.mark.parametrize("args", [
    ["run", "--config", DEBUG, "--remote", "modal", "--gpu", "H100"],
    ["modal", "fetch", "some-run"],
])
def test_modal_commands_without_credentials_say_so(args, no_modal_credentials):
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "modal setup" in r.output and len(r.output.strip().splitlines()) == 1


def test_modal_upload_checks_the_store_then_credentials(train_store, tmp_path, no_modal_credentials):  # noqa: F811
    r = runner.invoke(app, ["modal", "upload", "--store", str(tmp_path / "none.zarr")])
    assert r.exit_code == 1 and "make build-store" in r.output
    r = runner.invoke(app, ["modal", "upload", "--store", str(train_store)])
    assert r.exit_code == 1 and "modal setup" in r.output


def test_unknown_remote_is_refused():
    r = runner.invoke(app, ["run", "--config", DEBUG, "--remote", "aws"])
    assert r.exit_code == 1 and "only `modal`" in r.output


def test_help_lists_the_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for name in ("run", "cv", "ensemble", "evaluate", "predict", "score", "report", "bench", "kaggle", "modal"):
        assert name in r.output


def test_unwritable_checkpoint_dir_is_one_line(train_store, tmp_path):  # noqa: F811
    (tmp_path / "file").write_text("")
    r = runner.invoke(app, ["run", "--config", DEBUG, f"data.data_dir={train_store}",
                            f"train.checkpoint_dir={tmp_path / 'file' / 'runs'}", "train.progress=false"])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use") and "file" in lines[0], r.output


@pytest.mark.parametrize(("device", "fragment"), [("cuda:63", "no such device"), ("bogus", "train.device must be")])
def test_run_on_a_device_this_machine_lacks_is_one_line(tmp_path, train_store, device, fragment):  # noqa: F811
    r = CliRunner().invoke(app, ["run", "--config", "configs/debug.yaml", f"train.device={device}",
                                       f"train.checkpoint_dir={tmp_path}", f"data.data_dir={train_store}"])
    assert r.exit_code == 1
    assert fragment in r.output and "Traceback" not in r.output
