"""modal and kaggle are extras: the core imports neither, and a command that needs one says which
extra to install in one line (checked in a fresh interpreter where both imports fail)."""

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

BLOCK = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modal", "kaggle", "kagglesdk"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, Block())
""")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])


def test_core_imports_neither_modal_nor_kaggle():
    r = _run("""
        import mabe_store.cli, mabe_train.cli, mabe_train.submit, mabe_train.bundle, mabe_store.download
        assert not [m for m in sys.modules if m.split(".")[0] in ("modal", "kaggle")]
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_commands_that_need_an_extra_name_it_in_one_line(tmp_path):
    r = _run(f"""
        import sys
        from mabe_train.cli import app
        sys.argv = ["mabe-train", "modal", "fetch", "x", "--out", {str(tmp_path)!r}]
        app()
    """)
    assert r.returncode == 1 and r.stderr.strip() == "error: running on Modal needs modal: pip install 'mabe[modal]'", \
        r.stderr
    r = _run(f"""
        import sys
        from mabe_store.cli import app
        sys.argv = ["mabe-store", "download", "--out", {str(tmp_path / 'raw')!r}]
        app()
    """)
    assert r.returncode == 1 and "pip install 'mabe[kaggle]'" in r.stderr + r.stdout, r.stderr + r.stdout
    assert len((r.stderr + r.stdout).strip().splitlines()) == 1


def test_pyproject_keeps_services_out_of_the_core():
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert "modal" not in core and "kaggle" not in core
    extras = project["optional-dependencies"]
    assert extras["modal"][0].startswith("modal") and extras["kaggle"][0].startswith("kaggle>=1.8.3")
    assert {"modal", "kaggle"} <= set(extras["all"][0].removeprefix("mabe[").rstrip("]").split(","))
