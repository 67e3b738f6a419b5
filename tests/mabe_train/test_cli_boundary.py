"""Both command lines share one error boundary (mabe_store.cli_base): every command of every
(sub-)app turns a domain error, a missing optional dependency or an unusable path into one line
`error: ...` and exit 1; anything else keeps its traceback."""

from __future__ import annotations

import sys

import pytest
import typer
from typer.testing import CliRunner

from mabe_store.cli import app as store_app
from mabe_store.cli_base import BoundaryTyper
from mabe_store.errors import MabeStoreError, MissingExtra, require
from mabe_train import MabeTrainError
from mabe_train.cli import app as train_app

runner = CliRunner()


def _apps(app: typer.Typer):
    yield app
    for group in app.registered_groups:
        yield from _apps(group.typer_instance)


def test_both_clis_and_every_sub_app_use_the_one_boundary():
    apps = [*_apps(store_app), *_apps(train_app)]
    assert len(apps) == 4 and all(isinstance(a, BoundaryTyper) for a in apps)
    groups = {g.name: {c.name or c.callback.__name__ for c in g.typer_instance.registered_commands}
              for g in train_app.registered_groups}
    assert groups == {"kaggle": {"bundle", "submit"}, "modal": {"upload", "fetch", "status", "logs", "cancel"}}
    assert all(a.domain == (MabeTrainError,) for a in _apps(train_app))


@pytest.mark.parametrize("args", [["modal", "upload"], ["modal", "fetch", "r1"], ["modal", "status", "r1"],
                                  ["modal", "logs", "r1"], ["modal", "cancel", "r1"]])
def test_a_missing_modal_extra_is_one_line_for_every_modal_command(args, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "modal", None)  # `import modal` fails as when it is not installed
    monkeypatch.delitem(sys.modules, "mabe_train.modal_app", raising=False)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(train_app, args)
    assert r.exit_code == 1, r.output
    assert r.output.strip().splitlines() == ["error: running on Modal needs modal: pip install 'mabe[modal]'"]


def _app_raising(error: BaseException, domain=()) -> BoundaryTyper:
    app = BoundaryTyper(domain=domain)

    @app.command()
    def boom() -> None:
        raise error

    app.command("noop")(lambda: None)
    return app


@pytest.mark.parametrize("error, line", [
    (MabeStoreError("no store at x"), "error: no store at x"),
    (MabeTrainError("bad run"), "error: bad run"),
    (OSError(13, "Permission denied", "/x/y"), "error: cannot use /x/y: Permission denied — pick a writable path"),
])
def test_the_boundary_prints_one_line_and_exits_1(error, line):
    r = runner.invoke(_app_raising(error, domain=(MabeTrainError,)), ["boom"])
    assert r.exit_code == 1 and r.output.strip().splitlines() == [line]


def test_a_bug_keeps_its_traceback_and_the_store_cli_knows_no_train_error():
    r = runner.invoke(_app_raising(ValueError("a bug")), ["boom"])
    assert isinstance(r.exception, ValueError)
    r = runner.invoke(_app_raising(MabeTrainError("x")), ["boom"])  # not in this app's domain
    assert isinstance(r.exception, MabeTrainError)


def test_the_gate_names_the_feature_the_package_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingExtra, match=r"^fitting trees needs lightgbm: pip install 'mabe\[gbdt\]'$"):
        require("lightgbm", extra="gbdt", feature="fitting trees")
    with pytest.raises(ImportError):  # also an ImportError: pytest.importorskip skips on it
        require("lightgbm", extra="gbdt", feature="fitting trees")
    assert require("json", extra="none", feature="x").dumps(1) == "1"
