"""`mabe-train predict` refuses an output path it cannot write before loading or predicting anything."""

import pytest
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
