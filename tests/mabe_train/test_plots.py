"""Figures are drawn on bare matplotlib Figures: a PNG + its JSON, and the caller's backend left alone."""

import json
import subprocess
import sys

import matplotlib
import pytest

from mabe_store.inspect import plot_video
from mabe_store.reader import open_store
from mabe_train.plots import confusion_data, curves_data, plot_confusion, plot_curves


@pytest.fixture
def pdf_backend():
    """A backend no plot of ours would pick; every test checks it is still set afterwards."""
    before = matplotlib.get_backend()
    matplotlib.use("pdf")
    yield
    matplotlib.use(before)


def test_run_figures_write_png_and_json_without_switching_backend(tmp_path, pdf_backend):
    conf = confusion_data([[5, 1], [0, 3]], ["other", "social"], title="t")
    history = [{"epoch": e, "loss": 1.0 / e, "macro_f1": 0.1 * e, "lr": 1e-3} for e in (1, 2, 3)]
    for path in (plot_confusion(conf, tmp_path / "c.png"), plot_curves(curves_data(history), tmp_path / "k.png")):
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert json.loads(path.with_suffix(".json").read_text())
    assert json.loads((tmp_path / "c.json").read_text())["counts"] == [[5, 1], [0, 3]]
    assert matplotlib.get_backend() == "pdf"


def test_inspect_plot_does_not_switch_backend(handmade_store, tmp_path, pdf_backend):
    png = plot_video(open_store(handmade_store), 201, tmp_path / "v.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == "pdf"


def test_importing_the_plots_module_sets_no_backend():
    code = "import matplotlib; matplotlib.use('pdf'); import mabe_train.plots; print(matplotlib.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "pdf"
