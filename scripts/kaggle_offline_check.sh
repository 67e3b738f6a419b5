#!/usr/bin/env bash
# The Kaggle submission path end to end, offline, outside the test suite (minutes; needs PyPI once
# for the bundle's wheels unless WHEELS_FROM points at a folder of them):
#   1. dev env: synthetic data -> store -> a small pair model -> `mabe-train predict --split val`
#      (the reference submission) and the validation videos' solution;
#   2. dev env: `mabe-train kaggle bundle` of that run;
#   3. a fake /kaggle/input: the run's validation videos as the competition's *test* videos
#      (known labels; its train.csv is not even a csv: the test-only build must not read it) and
#      the bundle as a dataset beside it;
#   4. a FRESH venv holding only what the Kaggle image has (torch CPU, numpy, polars, pyarrow,
#      typer, matplotlib, pyyaml, tqdm and the rest of configs/kaggle_image.txt that this dev env
#      has, with their dependencies, linked from the dev env: the same packages at this machine's
#      versions) — no zarr, numcodecs, donfig, modal, kaggle, no mabe;
#   5. the notebook's code cells, extracted from the bundle's submit.ipynb and run with python
#      (they pip install --no-index from the bundle, then run mabe-train kaggle submit);
#   6. `mabe-train score` of the result, and the check that it equals the reference submission.
# Usage: scripts/kaggle_offline_check.sh [WORK_DIR]    (PY=dev python, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
W=$(realpath -m "${1:-/tmp/mabe-kaggle-check}")
PY=${PY:-$REPO/.venv/bin/python}
PY311=${PY311:-python3.11}
EPOCHS=${EPOCHS:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH=$REPO
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
rm -rf "$W" && mkdir -p "$W"

stamp "1. data, store, pair model, reference prediction (dev env)"
"$PY" -m mabe_store.cli synth --out "$W/raw" >/dev/null 2>&1
"$PY" -m mabe_store.cli build --raw "$W/raw" --out "$W/store.zarr" --jobs 2 >/dev/null 2>&1
"$PY" -m mabe_train.cli run --config configs/pairs_demo.yaml data.data_dir="$W/store.zarr" \
    train.checkpoint_dir="$W/runs" train.run_name=pairs train.epochs="$EPOCHS" train.progress=false | tail -1
"$PY" -m mabe_train.cli predict --run "$W/runs/pairs" --store "$W/store.zarr" --split val \
    --out "$W/predict.csv" --solution-out "$W/solution.csv" 2>/dev/null

stamp "2. bundle"
"$PY" -m mabe_train.cli kaggle bundle --run "$W/runs/pairs" --out "$W/bundle" ${WHEELS_FROM:+--wheels-from "$WHEELS_FROM"} | tail -4

stamp "3. fake /kaggle/input"
comp=$("$PY" -m tests.mabe_train.kaggle_input "$W/raw" "$W/runs/pairs" "$W/kaggle/input")
ln -s "$W/bundle" "$W/kaggle/input/mabe-bundle"
mkdir -p "$W/kaggle/working"
echo "   $comp: $(($(wc -l < "$comp/test.csv") - 1)) test videos"

stamp "4. fresh venv with only the image's packages"
"$PY311" -m venv "$W/venv"
"$W/venv/bin/python" -m pip uninstall -q -y setuptools  # the image's (linked below) must win, as on Kaggle
"$PY" - "$W/image-site" configs/kaggle_image.txt <<'EOF'
"""Link the image's packages (configs/kaggle_image.txt, the list the bundle trusts, that this dev env
has; with their dependencies) from the dev env into one folder."""
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
dest = Path(sys.argv[1]); dest.mkdir()
listed = [ln.split("==")[0] for ln in Path(sys.argv[2]).read_text().splitlines() if ln.strip() and ln[0] != "#"]
todo, seen = ["torch", "numpy", "polars", "pyarrow", "typer", "matplotlib", "pyyaml", "tqdm", *listed], set()
while todo:
    name = canonicalize_name(todo.pop())
    if name in seen:
        continue
    try:
        distribution(name)
    except PackageNotFoundError:
        continue
    seen.add(name)
    dist = distribution(name)
    for r in dist.requires or []:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            todo.append(req.name)
    site = Path(dist.locate_file(""))
    for top in {Path(f).parts[0] for f in dist.files or [] if not Path(f).parts[0].startswith("..")}:
        if (site / top).exists() and not (dest / top).exists() and top != "__pycache__":
            (dest / top).symlink_to(site / top)
print("   linked:", ", ".join(sorted(seen)))
EOF
site=$("$W/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$W/image-site" > "$site/kaggle_image.pth"
fresh() { (cd "$W" && env -u PYTHONPATH "$W/venv/bin/python" "$@"); }
if fresh -c "import zarr" 2>/dev/null || fresh -c "import mabe_train" 2>/dev/null; then
    echo "the fresh venv already has zarr or mabe — not a Kaggle-like environment"; exit 1
fi

stamp "5. the notebook's cells (offline install + submit)"
"$PY" -m mabe_train.notebook "$W/bundle/notebook/submit.ipynb" > "$W/cells.py"
ts=$(date +%s)
(cd "$W" && env -u PYTHONPATH -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null MABE_KAGGLE_INPUT="$W/kaggle/input" MABE_KAGGLE_WORKING="$W/kaggle/working" \
    PIP_NO_INDEX=1 "$W/venv/bin/python" cells.py)
notebook_s=$(( $(date +%s) - ts ))

stamp "6. score and compare with mabe-train predict"
fresh -m mabe_train.cli score --solution "$W/solution.csv" \
    --submission "$W/kaggle/working/submission.csv" | tail -1 | sed 's/^/   submit  /'
"$PY" -m mabe_train.cli score --solution "$W/solution.csv" --submission "$W/predict.csv" | tail -1 | sed 's/^/   predict /'
"$PY" - "$W/predict.csv" "$W/kaggle/working/submission.csv" <<'EOF'
import sys
import polars as pl
cols = ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]
a, b = (pl.read_csv(p, infer_schema=False).select(cols).sort(cols) for p in sys.argv[1:3])
assert a.equals(b), f"submit and predict differ: {a.height} vs {b.height} rows"
print(f"   submission.csv equals the predict CSV ({b.height} rows)")
EOF
stamp "OK — the notebook's cells took ${notebook_s} s; total $(( $(date +%s) - t0 )) s"
