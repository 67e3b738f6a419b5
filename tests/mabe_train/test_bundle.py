"""`mabe-train kaggle bundle` offline: a local wheelhouse of tiny wheels stands in for PyPI (real pip, no
network), a trained debug run is bundled, and the folder holds what the notebook needs and no more."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from mabe_store.cli import app as store_app
from mabe_store.synth import synthesize
from mabe_train.bundle import BundleError, copy_run, make_bundle
from mabe_train.cli import app as train_app
from mabe_train.config import load_config
from mabe_train.notebook import code_cells
from mabe_train.submission import validate_submission
from mabe_train.submit import fallback_rows, read_test_videos
from mabe_train.train import train
from mabe_train.wheels import WheelError, read_image, wheel_requires
from tests.mabe_train.kaggle_fake import uploaded_by_kaggle_cli
from tests.mabe_train.kaggle_input import fake_kaggle_input

pytestmark = pytest.mark.slow
DEBUG = ["sequence_length=32", "batch_size=16", "model.conv_channels=[16]", "lstm_hidden=16",
         "train.epochs=1", "train.steps_per_epoch=4", "train.max_val_videos=2", "train.progress=false"]
IMAGE = ["numpy==2.4.6", "polars==1.35.2", "pyarrow==24.0.0", "torch==2.10.0", "typer==0.24.1", "pyyaml==6.0.3",
         "tqdm==4.67.3", "matplotlib==3.10.0", "six==1.17.0", "packaging==26.0",
         "typing-extensions==4.0.0"]  # too old for numcodecs: bundled although the image has it
FAKE = {  # name, version, Requires-Dist
    "zarr": ("3.1.6", ["donfig>=0.8", "numcodecs[crc32c]>=0.14", "numpy>=2.0", "packaging>=22.0"]),
    "numcodecs": ("0.16.6", ["numpy>=1.24", "typing_extensions>=4.12", 'crc32c>=2.7; extra == "crc32c"',
                             'sphinx; extra == "docs"']),
    "donfig": ("0.8.1", ["pyyaml"]),
    "crc32c": ("2.8", []),
    "typing_extensions": ("4.16.0", []),
    "sphinx": ("9.0", []),
}


def fake_wheel(folder, name, version, requires):
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    meta = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                    *(f"Requires-Dist: {r}\n" for r in requires)])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{info}/METADATA", meta)
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    synthesize(root / "raw", videos=6, scale=0.2, progress=False, workers=1)  # one process: synth's pool forks, which can deadlock a pytest process whose Polars/torch threads hold locks
    r = CliRunner().invoke(store_app, ["build", "--raw", str(root / "raw"), "--out", str(root / "s.zarr")])
    assert r.exit_code == 0, r.output
    run_dir = train(load_config("configs/pairs_demo.yaml", [f"data.data_dir={root / 's.zarr'}",
                                                            f"train.checkpoint_dir={root / 'runs'}",
                                                            "train.run_name=p", *DEBUG]))
    house = root / "house"
    house.mkdir()
    for name, (ver, reqs) in FAKE.items():
        fake_wheel(house, name, ver, reqs)
    (root / "image.txt").write_text("# test image\n" + "\n".join(IMAGE) + "\n")
    out, log = root / "B", []
    report = make_bundle([run_dir], out, gpu=True, wheels_from=house, image=root / "image.txt", owner="someone",
                         threads=1, log=log.append)
    return root, run_dir, out, "\n".join(log + report.lines())


def test_wheels_are_the_project_and_what_the_image_lacks(env):
    _, _, out, output = env
    names = sorted(p.name.split("-")[0] for p in out.glob("*.whl"))
    assert names == ["crc32c", "donfig", "mabe", "numcodecs", "typing_extensions", "zarr"]  # no sphinx, no torch
    assert "typing-extensions" in output.split("bundled although the image has them")[1].splitlines()[0]
    project = next(out.glob("mabe-*.whl"))
    core = {r.name for r in wheel_requires(project, "3.11")}
    assert {"zarr", "torch", "numpy"} <= core and not core & {"modal", "kaggle"}  # `pip install mabe`: no extras
    assert "MB  total" in output and "kaggle datasets create" in output


def test_runs_keep_only_what_prediction_needs(env, tmp_path):
    _, run_dir, out, _ = env
    with tarfile.open(out / "runs.tar") as tf:
        tf.extractall(tmp_path / "runs", filter="data")
    files = sorted(p.name for p in (tmp_path / "runs" / "p").iterdir())
    assert files == ["best.pt", "config.yaml", "run.json", "split.json", "thresholds.json"]
    assert (run_dir / "last.pt").exists() and (run_dir / "metrics.jsonl").exists()  # left behind
    slim = torch.load(tmp_path / "runs" / "p" / "best.pt", weights_only=True)
    full = torch.load(run_dir / "best.pt", weights_only=True)
    assert "optimizer" in full and "optimizer" not in slim and "sampler" not in slim
    assert slim["state"] == {"epoch": full["state"]["epoch"]} and slim["artefacts"] == full["artefacts"]
    assert all(torch.equal(slim["model"][k], full["model"][k]) for k in full["model"])
    assert (tmp_path / "runs" / "p" / "best.pt").stat().st_size < (run_dir / "best.pt").stat().st_size


def test_the_default_kaggle_upload_carries_every_file_the_notebook_needs(env, monkeypatch, tmp_path):
    """The client's own `kaggle datasets create -p DIR` (default --dir-mode skip), network faked."""
    _, _, out, output = env
    assert f"kaggle datasets create -p {out} " in output  # the command we print is the one driven here
    sent, printed = uploaded_by_kaggle_cli(out, monkeypatch, tmp_path)
    needed = json.loads((out / "mabe-bundle.json").read_text())["files"]
    assert {"runs.tar", "store.yaml"} <= set(needed) and any(f.startswith("mabe-") for f in needed)
    assert set(needed) <= set(sent), printed
    assert all(sent[f] == (out / f).stat().st_size for f in needed)  # whole files, not archives of them
    assert "Skipping" not in printed and [p for p in out.iterdir() if p.is_dir()] == []


def test_estimate_and_owner_warning(env, tmp_path):
    root, run_dir, _, output = env
    line = next(x for x in output.splitlines() if x.startswith("estimate: run p:"))
    assert "h of model time for 200 hidden-size videos on cpu (1 thread(s)" in line
    assert "warning:" not in output  # --owner given
    report = make_bundle([run_dir], tmp_path / "B", wheels_from=root / "house", image=root / "image.txt",
                         threads=1, log=lambda _: None)
    warning = [x for x in report.lines() if x.startswith("warning:")]
    assert len(warning) == 1 and "YOUR-KAGGLE-USERNAME" in warning[0] and "--owner" in warning[0]

def test_metadata_and_notebook(env):
    _, _, out, _ = env
    kernel = json.loads((out / "kernel-metadata.json").read_text())
    assert kernel["enable_internet"] is False and kernel["enable_gpu"] is True
    assert kernel["dataset_sources"] == ["someone/mabe-bundle"]
    assert kernel["competition_sources"] == ["MABe-mouse-behavior-detection"]
    assert json.loads((out / "dataset-metadata.json").read_text())["id"] == "someone/mabe-bundle"
    assert json.loads((out / "mabe-bundle.json").read_text())["runs"] == ["p"]
    nb = json.loads((out / "submit.ipynb").read_text())
    code = code_cells(nb)
    assert len([c for c in nb["cells"] if c["cell_type"] == "code"]) <= 4
    assert "'--no-index'" in code and "'kaggle', 'submit'" in code and "/kaggle/working" in code
    compile(code, "submit.ipynb", "exec")
    assert "keypoints" in (out / "store.yaml").read_text()


def test_a_run_that_cannot_be_loaded_is_refused(env, tmp_path):
    root, run_dir, _, _ = env
    broken = tmp_path / "broken"
    copy_run(run_dir, broken)
    ck = torch.load(broken / "best.pt", weights_only=True)
    ck["model"] = {k: v[..., :1] if v.dim() else v for k, v in ck["model"].items()}  # wrong shapes
    torch.save(ck, broken / "best.pt")
    with pytest.raises(BundleError, match="run broken cannot be loaded"):
        make_bundle([broken], tmp_path / "B", wheels_from=root / "house", image=root / "image.txt", log=lambda _: None)
    assert not (tmp_path / "B").exists()  # nothing half-written is left
    r = CliRunner().invoke(train_app, ["kaggle", "bundle", "--run", str(tmp_path / "nothing"), "--out", str(tmp_path / "B"),
                                       "--overwrite"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output


def test_overwrite_replaces_only_a_bundle(env, tmp_path):
    root, run_dir, _, _ = env
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(BundleError, match="not a bundle"):
        make_bundle([run_dir], tmp_path / "notes", overwrite=True, log=lambda _: None)
    with pytest.raises(BundleError, match="exists"):
        make_bundle([run_dir], tmp_path / "notes", log=lambda _: None)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep"


def test_image_list_and_torch_rules(tmp_path, env):
    root, _, _, _ = env
    (tmp_path / "bad.txt").write_text("numpy\n")
    with pytest.raises(WheelError, match="expected name==version"):
        read_image(tmp_path / "bad.txt")
    (tmp_path / "old.txt").write_text("\n".join(x for x in IMAGE if not x.startswith("torch")) + "\ntorch==2.0.0\n")
    with pytest.raises(WheelError, match="torch.*never bundled"):
        make_bundle([root / "runs" / "p"], tmp_path / "B", wheels_from=root / "house", image=tmp_path / "old.txt",
                    log=lambda _: None)


def _first_cell(out, tmp_path, input_root) -> subprocess.CompletedProcess:
    """The notebook's first code cell, as the bundle wrote it, run with python (stdlib only)."""
    cell = next(c for c in json.loads((out / "submit.ipynb").read_text())["cells"] if c["cell_type"] == "code")
    env = {**os.environ, "MABE_KAGGLE_INPUT": str(input_root), "MABE_KAGGLE_WORKING": str(tmp_path / "working")}
    code = "".join(cell["source"]) + "\nprint('READY', READY)\n"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)


def _input_with(env, tmp_path, drop: str | None):
    """A Kaggle input folder: the competition (labeled videos as test videos) and the bundle, less `drop`."""
    root, run_dir, out, _ = env
    ids = json.loads((run_dir / "split.json").read_text())["val"]
    comp = fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    shutil.copytree(out, tmp_path / "input" / "mabe-bundle")
    if drop:
        (tmp_path / "input" / "mabe-bundle" / drop).unlink()
    return comp


def test_the_notebook_passes_a_complete_bundle_on(env, tmp_path):
    _input_with(env, tmp_path, None)
    r = _first_cell(env[2], tmp_path, tmp_path / "input")
    assert "READY True" in r.stdout and not (tmp_path / "working" / "submission.csv").exists()


@pytest.mark.parametrize("drop", ["wheel", "runs.tar", "bundle"])
def test_an_incomplete_bundle_gets_one_line_and_the_baseline_file(env, tmp_path, drop):
    out = env[2]
    name = {"wheel": next(out.glob("zarr-*.whl")).name, "runs.tar": "runs.tar", "bundle": "mabe-bundle.json"}[drop]
    comp = _input_with(env, tmp_path, name)
    r = _first_cell(out, tmp_path, tmp_path / "input")
    said = [x for x in r.stdout.splitlines() if "no-learning baseline" in x]
    assert len(said) == 1 and (name in said[0] or drop == "bundle" and "no bundle" in said[0]), r.stdout
    assert "READY False" in r.stdout
    got = pl.read_csv(tmp_path / "working" / "submission.csv")
    videos = read_test_videos(comp)
    want = fallback_rows(videos, "baseline")
    assert got.height == want.height > 0 and got["row_id"].to_list() == list(range(got.height))
    assert got.drop("row_id").cast(want.schema).sort(want.columns).equals(want.sort(want.columns))
    validate_submission(got.drop("row_id"), {str(v.video_id): v.entries for v in videos})  # the metric's checks
