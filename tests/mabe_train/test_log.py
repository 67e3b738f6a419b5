"""One log mechanism (mabe_store.log): library code reports lines through a `log` callback whose
default prints them, and makes its progress bars through `progress_bar`."""

from __future__ import annotations

from pathlib import Path

from mabe_store.log import progress_bar, quiet, say
from mabe_train.config import load_config
from mabe_train.train import train

DEBUG = Path(__file__).resolve().parents[2] / "configs" / "debug.yaml"


def test_train_reports_through_its_log_only(train_store, tmp_path, capsys):
    def cfg(name):
        return load_config(DEBUG, [f"data.data_dir={train_store}", f"train.checkpoint_dir={tmp_path}",
                                   "train.progress=false", "train.steps_per_epoch=2", "train.epochs=1",
                                   "data.batch_size=8", f"train.run_name={name}"])
    lines: list[str] = []
    train(cfg("lg"), log=lines.append)
    assert lines[0].startswith("model ") and lines[-1].startswith("epoch 1: loss "), lines
    assert capsys.readouterr().out == ""  # nothing printed behind the callback's back
    train(cfg("lg2"))
    out = capsys.readouterr().out.splitlines()  # the default log prints the same lines
    assert out[0].startswith("model ") and out[-1].startswith("epoch 1: loss ")


def test_say_prints_quiet_drops_and_a_disabled_bar_shows_nothing(capsys):
    say("a line")
    quiet("dropped")
    assert list(progress_bar(range(3), desc="x", unit="it", enabled=False)) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == "a line\n" and captured.err == ""
