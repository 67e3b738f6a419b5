"""The Kaggle notebook of a bundle (submit.ipynb) and its kernel-metadata.json.

Three short code cells: (1) find the bundle under /kaggle/input (by its mabe-bundle.json marker, so
it works whatever path Kaggle mounts the dataset at) and check that every file it lists arrived;
(2) install offline from its wheels; (3) run `mabe-train kaggle submit`. Whatever goes wrong -- no
bundle, a file missing, the install or the submit process failing (even killed for memory) -- one
line says what, and the first cell's `fallback` writes the no-learning baseline from test.csv with
the standard library alone (mabe is not installed then), so the notebook still ends with a valid
submission.csv instead of a "Submission Scoring Error". Plain Python (subprocess, no `!` magics),
so `scripts/kaggle_offline_check.sh` and the tests run exactly these cells with `python`;
MABE_KAGGLE_INPUT / MABE_KAGGLE_WORKING move the two Kaggle folders and default to the real ones.
"""

from __future__ import annotations

import json

MARKER = "mabe-bundle.json"
NOTEBOOK = "submit.ipynb"

FIND_AND_CHECK = r'''import csv, glob, json, os, re, subprocess, sys, tarfile
INPUT = os.environ.get('MABE_KAGGLE_INPUT', '/kaggle/input')
WORKING = os.environ.get('MABE_KAGGLE_WORKING', '/kaggle/working')
OUT = f'{WORKING}/submission.csv'
MARKER = 'mabe-bundle.json'


def fallback(why):
    """Each clean labeled triple of test.csv spread over its video: the no-learning baseline."""
    print(f'{why} -- writing the no-learning baseline to {OUT}')
    tests = [p for d in ('', '*/', '*/*/') for p in sorted(glob.glob(f'{INPUT}/{d}test.csv'))]
    rows, seen = [], set()
    for r in csv.DictReader(open(tests[0], newline='')) if tests else []:
        try:
            vid, n = int(r['video_id']), round(float(r['video_duration_sec']) * float(r['frames_per_second']))
            labeled = sorted({e for e in json.loads(r['behaviors_labeled'] or '[]')
                              if re.fullmatch(r'mouse[1-9],(mouse[1-9]|self),\w+', e)})
        except (KeyError, TypeError, ValueError):
            continue
        if vid in seen or n <= 0:
            continue
        seen.add(vid)
        pairs = {}
        for e in labeled:
            pairs.setdefault(tuple(e.split(',')[:2]), []).append(e.split(',')[2])
        for (a, t), acts in pairs.items():
            step = -(-n // len(acts))
            rows += [(vid, a, t, x, k * step, min((k + 1) * step, n)) for k, x in enumerate(acts) if k * step < n]
    if not rows and seen:  # the metric rejects an empty file: one row of a triple it ignores
        rows = [(min(seen), 'mouse1', 'self', 'rest', 0, 1)]
    os.makedirs(WORKING, exist_ok=True)
    with open(OUT, 'w', newline='') as f:
        csv.writer(f).writerows([['row_id', 'video_id', 'agent_id', 'target_id', 'action', 'start_frame',
                                  'stop_frame']] + [(i, *row) for i, row in enumerate(rows)])


def missing(bundle):
    """What the bundle lists but lacks; its runs may arrive as runs.tar or, unpacked, as runs/."""
    meta = json.load(open(f'{bundle}/{MARKER}'))
    gone = [f for f in meta.get('files', []) if f != 'runs.tar' and not os.path.isfile(f'{bundle}/{f}')]
    try:
        if os.path.isdir(f'{bundle}/runs'):
            have = set(os.listdir(f'{bundle}/runs'))
        else:
            with tarfile.open(f'{bundle}/runs.tar') as tf:
                have = {n.split('/')[0] for n in tf.getnames()}
    except (OSError, tarfile.TarError) as e:
        return gone + [f'runs.tar ({type(e).__name__})']
    return gone + [f'run {r}' for r in meta.get('runs', []) if r not in have]


found = sorted(p for d in ('*', '*/*', '*/*/*') for p in glob.glob(f'{INPUT}/{d}/{MARKER}'))
BUNDLE = os.path.dirname(found[0]) if found else None
problem = None if found else f'no bundle ({MARKER}) under {INPUT}: add the bundle dataset to the notebook'
gone = missing(BUNDLE) if BUNDLE else []
if gone:
    problem = f'bundle {BUNDLE} is incomplete, missing: {", ".join(gone)}'
if problem:
    fallback(problem)
else:
    print('bundle:', BUNDLE)
READY = problem is None'''

INSTALL = '''if READY:
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', '--find-links', BUNDLE, 'mabe'])
    if r.returncode:
        READY = False
        fallback(f'pip install from the bundle failed (exit {r.returncode})')'''

SUBMIT = '''if READY:
    if os.path.exists(OUT):
        os.remove(OUT)
    r = subprocess.run([sys.executable, '-m', 'mabe_train.cli', 'kaggle', 'submit', '--bundle', BUNDLE,
                        '--input', INPUT, '--out', OUT, '--time-budget', '{TIME_BUDGET}'])
    if r.returncode or not os.path.isfile(OUT):
        fallback(f'mabe-train kaggle submit failed (exit {r.returncode})')'''

CELLS = [
    ("markdown", "# MABe — offline submission\n"
                 "Checks the bundle, installs its wheels (no internet), then `mabe-train kaggle submit` builds a "
                 "test-only store, predicts every test video with the bundled run(s) and writes `submission.csv` "
                 "(a video that cannot be predicted falls back; see the printed summary). If the bundle is "
                 "incomplete or a step fails, one line says why and the no-learning baseline is written instead."),
    ("code", FIND_AND_CHECK),
    ("code", INSTALL),
    ("code", SUBMIT),
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
    return {"id": f"{owner}/{slug}-submit", "title": f"{slug} submit", "code_file": NOTEBOOK,
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
