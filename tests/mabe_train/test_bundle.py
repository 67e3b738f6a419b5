"""`mabe-train kaggle bundle` offline: a local wheelhouse of tiny wheels stands in for PyPI (real pip, no
network), a trained debug run is bundled, and the folder holds what the notebook needs and no more."""

import json
import zipfile

import pytest
import torch
from typer.testing import CliRunner

from mabe_store.cli import app as store_app
from mabe_store.synth import synthesize
from mabe_train.bundle import BundleError, copy_run, make_bundle
from mabe_train.cli import app as train_app
from mabe_train.config import load_config
from mabe_train.notebook import code_cells
from mabe_train.train import train
from mabe_train.wheels import WheelError, read_image, wheel_requires

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
    out = root / "B"
    r = CliRunner().invoke(train_app, ["kaggle", "bundle", "--run", str(run_dir), "--out", str(out), "--gpu-notebook",
                                       "--wheels-from", str(house), "--image", str(root / "image.txt"),
                                       "--owner", "someone"])
    assert r.exit_code == 0, r.output
    return root, run_dir, out, r.output


def test_wheels_are_the_project_and_what_the_image_lacks(env):
    _, _, out, output = env
    names = sorted(p.name.split("-")[0] for p in (out / "wheels").glob("*.whl"))
    assert names == ["crc32c", "donfig", "mabe", "numcodecs", "typing_extensions", "zarr"]  # no sphinx, no torch
    assert "typing-extensions" in output.split("bundled although the image has them")[1].splitlines()[0]
    project = next((out / "wheels").glob("mabe-*.whl"))
    core = {r.name for r in wheel_requires(project, "3.11")}
    assert {"zarr", "torch", "numpy"} <= core and not core & {"modal", "kaggle"}  # `pip install mabe`: no extras
    assert "MB  total" in output and "kaggle datasets create" in output


def test_runs_keep_only_what_prediction_needs(env):
    _, run_dir, out, _ = env
    files = sorted(p.name for p in (out / "runs" / "p").iterdir())
    assert files == ["best.pt", "config.yaml", "run.json", "split.json", "thresholds.json"]
    assert (run_dir / "last.pt").exists() and (run_dir / "metrics.jsonl").exists()  # left behind
    slim = torch.load(out / "runs" / "p" / "best.pt", weights_only=True)
    full = torch.load(run_dir / "best.pt", weights_only=True)
    assert "optimizer" in full and "optimizer" not in slim and "sampler" not in slim
    assert slim["state"] == {"epoch": full["state"]["epoch"]} and slim["artefacts"] == full["artefacts"]
    assert all(torch.equal(slim["model"][k], full["model"][k]) for k in full["model"])
    assert (out / "runs" / "p" / "best.pt").stat().st_size < (run_dir / "best.pt").stat().st_size


def test_metadata_and_notebook(env):
    _, _, out, _ = env
    kernel = json.loads((out / "notebook" / "kernel-metadata.json").read_text())
    assert kernel["enable_internet"] is False and kernel["enable_gpu"] is True
    assert kernel["dataset_sources"] == ["someone/mabe-bundle"]
    assert kernel["competition_sources"] == ["MABe-mouse-behavior-detection"]
    assert json.loads((out / "dataset-metadata.json").read_text())["id"] == "someone/mabe-bundle"
    assert json.loads((out / "mabe-bundle.json").read_text())["runs"] == ["p"]
    nb = json.loads((out / "notebook" / "submit.ipynb").read_text())
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
