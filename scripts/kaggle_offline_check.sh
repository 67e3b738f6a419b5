#!/usr/bin/env bash
# The Kaggle submission path end to end, offline, outside the test suite (minutes; needs PyPI once
# for the bundle's wheels unless WHEELS_FROM points at a folder of them):
#   1. dev env: synthetic data -> store -> a small pair model -> `mabe-train predict --split val`
#      (the reference submission) and the validation videos' solution;
#   2. dev env: `mabe-train kaggle bundle` of that run;
#   3. a fake /kaggle/input: the run's validation videos as the competition's *test* videos
#      (known labels; its train.csv is not even a csv: the test-only build must not read it) and
#      the bundle as a dataset beside it;
#   4. a FRESH venv (Python 3.11, as on Kaggle) holding every package of configs/kaggle_image.txt at
#      the image's version, installed from PyPI without dependencies (what `bundle` trusts the image
#      to have; it ships the rest) — no zarr, numcodecs, donfig, modal, kaggle, no mabe. torch is
#      the image's version when a CPU wheel of it is reachable, else this machine's CPU torch (with
#      what it needs beyond the list), and the script prints every difference from the image;
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

stamp "4. fresh venv with the Kaggle image's versions (configs/kaggle_image.txt)"
"$PY311" -m venv "$W/venv"
fresh() { (cd "$W" && env -u PYTHONPATH "$W/venv/bin/python" "$@"); }
vpip() { env -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null "$W/venv/bin/python" -m pip "$@"; }
vpip uninstall -q -y setuptools  # the image's version comes from the list below, as on Kaggle
# Every package of the list at its version, without dependencies: exactly what `bundle` trusts the
# image to have (it ships the rest), from PyPI (PIP_INDEX_URL / PIP_FIND_LINKS point elsewhere).
grep -vE '^\s*(#|$)|^torch==' configs/kaggle_image.txt > "$W/image-no-torch.txt"
vpip download -q --no-deps --only-binary :all: -d "$W/image-wheels" -r "$W/image-no-torch.txt"
vpip install -q --no-deps --no-index --find-links "$W/image-wheels" -r "$W/image-no-torch.txt"
# torch: the image's version as a CPU wheel when one is reachable; PyPI's Linux torch of that
# version is the CUDA build (~3 GB with its nvidia-* dependencies), so otherwise the CPU torch this
# machine installs (TORCH_SPEC overrides) with whatever it needs beyond the list (pip upgrades only
# what it must), and every difference from the image is printed.
img_torch=$(sed -n 's/^torch==//p' configs/kaggle_image.txt)
dev_torch=$("$PY" -c "import torch; print(torch.__version__)")
if ! vpip install -q --no-deps "${TORCH_SPEC:-torch==$img_torch+cpu}" 2>/dev/null; then
    echo "   torch: no CPU wheel of the image's $img_torch is reachable here: installing $dev_torch, this machine's CPU torch"
    vpip install -q "torch==$dev_torch"
fi
fresh - "$REPO/configs/kaggle_image.txt" <<'EOF'
"""Each package of the list whose installed version differs from the image's (the substitutes)."""
import sys
from importlib.metadata import PackageNotFoundError, version
diff = []
for line in open(sys.argv[1]):
    name, sep, want = line.split("#")[0].strip().partition("==")
    if sep:
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "missing"
        if have.split("+")[0] != want:
            diff.append(f"{name} {have} (image: {want})")
print("   differences from the image:", "; ".join(diff) or "none")
EOF
echo "   pip check: $(vpip check 2>&1 | tail -1)"
if fresh -c "import zarr" 2>/dev/null || fresh -c "import mabe_train" 2>/dev/null; then
    echo "the fresh venv already has zarr or mabe — not a Kaggle-like environment"; exit 1
fi

stamp "5. the notebook's cells (offline install + submit)"
"$PY" -m mabe_train.notebook "$W/bundle/submit.ipynb" > "$W/cells.py"
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
