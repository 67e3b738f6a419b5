"""The Kaggle notebook of a bundle (notebook/submit.ipynb) and its kernel-metadata.json.

Three short code cells: find the bundle under /kaggle/input (by its mabe-bundle.json marker, so it
works whatever path Kaggle mounts the dataset at), install offline from its wheels, run
`mabe-train kaggle submit`. Plain Python (subprocess, no `!` magics), so `scripts/kaggle_offline_check.sh`
runs exactly these cells with `python`; MABE_KAGGLE_INPUT / MABE_KAGGLE_WORKING move the two
Kaggle folders for that check and default to the real ones. `check=True` turns a failed install or
submit into a visible notebook error rather than a missing file.
"""

from __future__ import annotations

import json

MARKER = "mabe-bundle.json"

CELLS = [
    ("markdown", "# MABe — offline submission\n"
                 "Installs the bundled wheels (no internet), then `mabe-train kaggle submit` builds a test-only store, "
                 "predicts every test video with the bundled run(s) and writes `submission.csv` "
                 "(a video that cannot be predicted falls back; see the printed summary)."),
    ("code", "import glob, os, subprocess, sys\n"
             "INPUT = os.environ.get('MABE_KAGGLE_INPUT', '/kaggle/input')\n"
             "WORKING = os.environ.get('MABE_KAGGLE_WORKING', '/kaggle/working')\n"
             "found = sorted(p for depth in ('*', '*/*', '*/*/*') for p in glob.glob(f'{INPUT}/{depth}/" + MARKER + "'))\n"
             "assert found, f'no bundle (" + MARKER + ") under {INPUT}: add the bundle dataset to the notebook'\n"
             "BUNDLE = os.path.dirname(found[0])\n"
             "print('bundle:', BUNDLE)"),
    ("code", "subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', '--find-links',\n"
             "                f'{BUNDLE}/wheels', 'mabe'], check=True)"),
    ("code", "subprocess.run([sys.executable, '-m', 'mabe_train.cli', 'kaggle', 'submit', '--bundle', BUNDLE,\n"
             "                '--input', INPUT, '--out', f'{WORKING}/submission.csv',\n"
             "                '--time-budget', '{TIME_BUDGET}'], check=True)"),
]


def notebook(time_budget_s: int) -> dict:
    """The nbformat-4 notebook, its submit cell carrying the time budget."""
    cells = []
    for kind, text in CELLS:
        src = text.replace("{TIME_BUDGET}", str(time_budget_s))
        cell = {"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def kernel_metadata(owner: str, slug: str, competition: str, gpu: bool) -> dict:
    """kernel-metadata.json for `kaggle kernels push`: internet off (required to submit), the
    bundle dataset and the competition as sources."""
    return {"id": f"{owner}/{slug}-submit", "title": f"{slug} submit", "code_file": "submit.ipynb",
            "language": "python", "kernel_type": "notebook", "is_private": True, "enable_gpu": gpu,
            "enable_tpu": False, "enable_internet": False, "dataset_sources": [f"{owner}/{slug}"],
            "competition_sources": [competition], "kernel_sources": [], "model_sources": []}


def code_cells(nb: dict) -> str:
    """The notebook's code, in order, as one script (what the offline check runs)."""
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code") + "\n"


if __name__ == "__main__":  # python -m mabe_train.notebook NOTEBOOK.ipynb > cells.py
    import sys
    from pathlib import Path
    print(code_cells(json.loads(Path(sys.argv[1]).read_text())), end="")
