"""`mabe-train predict` refuses an output path it cannot write before loading or predicting anything."""

import pytest
import torch
from typer.testing import CliRunner

from mabe_train.cli import app
from mabe_train.pairs import PairsError
from mabe_train.predict import predict_run


@pytest.mark.parametrize("option", ["--out", "--solution-out"])
def test_unwritable_output_is_one_line_and_exit_1(tmp_path, option):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    args = ["predict", "--run", str(tmp_path / "no_run"), "--store", str(tmp_path / "no_store"),
            option, str(blocker / "sub.csv")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write") and option in lines[0]


def test_output_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(PairsError, match="is a directory"):
        predict_run(tmp_path / "no_run", tmp_path / "no_store", tmp_path)


@pytest.mark.parametrize(("device", "fragment"), [("bogus", "unknown --device"),
                                                  ("cuda:63", "no such device"), ("mps", "no such device")])
def test_unusable_device_is_one_line(tmp_path, device, fragment):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has an mps device")
    r = CliRunner().invoke(app, ["predict", "--run", str(tmp_path), "--store", str(tmp_path),
                                 "--out", str(tmp_path / "s.csv"), "--device", device])
    assert r.exit_code == 1 and fragment in r.output and len(r.output.strip().splitlines()) == 1, r.output
