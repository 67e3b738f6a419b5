#!/usr/bin/env bash
# GPU check: on a CUDA machine, in well under 10 minutes — a small synthetic store, `mabe-train
# bench` for V5 and V6 (plus the V6 speed-up candidates: feeders, cuDNN autotune, torch.compile,
# fp32/fp16 against bf16) and one short V6 training run; prints one table and writes
# gpu_check.txt + gpu_check.json (+ the log) into OUT_DIR.
#
#   scripts/gpu_check.sh [OUT_DIR]        on the GPU machine, from the repository root
#   scripts/gpu_check.sh --fetch-wheels   here (with a package index): the wheels the GPU machine lacks
#
# The GPU machine may have torch, numpy, typer, pyyaml and tqdm but not polars or zarr, and both
# are needed (mabe_train imports polars through the pairs task's decoder, the store is zarr).
# Carry them as wheels: run `--fetch-wheels` on a machine with pip access (it writes .whl/ for
# CPython 3.12, x86-64 manylinux, at the versions of this checkout's .venv), send .whl/ along with
# the tree, and this script installs them into /tmp/site with `pip --no-index` before anything
# else. Measured: the six wheels are 64.5 MB (polars-runtime-32 alone 54 MB) and the tree 0.65 MB,
# just inside a 64 MiB (67.1 MB) transfer limit.
# The project is used from the checkout (PYTHONPATH), so nothing needs installing beyond that.
# Dry run on a CPU (checks the script, not the figures):
#   GPU_CHECK_CPU=1 STEPS=2 WARM=1 OVERRIDES="data.batch_size=8 data.sequence_length=16" SKIP=compile \
#     scripts/gpu_check.sh /tmp/gpu-check-dry
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
STEPS=${STEPS:-30} WARM=${WARM:-5} SKIP=${SKIP:-}
read -r -a OVR <<< "${OVERRIDES:-}"
WHEELS="zarr numcodecs donfig google-crc32c polars polars-runtime-32"

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  VPY=${VPY:-.venv/bin/python}
  mkdir -p .whl && grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  for name in $WHEELS; do
    ver=$("$VPY" -c "import importlib.metadata as m; print(m.version('$name'))") || exit 1
    "$VPY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "$name==$ver" || { echo "could not fetch $name==$ver — try another --platform"; exit 1; }
  done
  ls -la .whl; exit 0
fi

OUT_DIR=${1:-${OUT:-gpu-check}}
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/mabe-gpu-check.XXXX)
LOG="$OUT_DIR/gpu_check.log"
exec > >(tee "$LOG") 2>&1
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "installing .whl/ failed"; exit 1; }
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
[[ -n "${GPU_CHECK_CPU:-}" ]] || "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "no CUDA device visible to torch — this script is for a GPU machine"; exit 1; }
"$PY" -c "import zarr, polars" 2>/dev/null \
  || { echo "zarr or polars is missing — run scripts/gpu_check.sh --fetch-wheels where pip works and carry .whl/"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

MSTORE=("$PY" -c 'from mabe_store.cli import app; app()')  # the CLIs without installing the project
MTRAIN=("$PY" -c 'from mabe_train.cli import app; app()')

synthetic_store() {  # the bench's own store (synth + build, one thread), ~150k frames like the small profile
  "$PY" -c "from mabe_train.bench import write_synthetic_store as w; w('$WORK/store.zarr', 16, scale=150_000 / 160_000)"
}
echo "== store: synth --profile small + build ($(date +%T))"
timeout 180 "${MSTORE[@]}" synth --profile small --out "$WORK/raw" && \
  timeout 180 "${MSTORE[@]}" build --raw "$WORK/raw" --out "$WORK/store.zarr" --jobs 8 --no-progress \
  || { echo "store build failed — using the bench's synthetic store"; synthetic_store; }
STORE_ARGS=(--store "$WORK/store.zarr")

echo "== sampler: batches gathered on the device equal the CPU sampler's ($(date +%T))"
DEV=cuda; [[ -n "${GPU_CHECK_CPU:-}" ]] && DEV=cpu
timeout 120 "$PY" - "$DEV" <<'EOF' || echo "sampler device check failed"
import sys
from dataclasses import fields
import numpy as np, torch
from mabe_train.prefetch import make_feeder
from mabe_train.windows import Batch, BalancedStarts, UniformStarts, Units, WindowSampler, window_span
dev, rng = sys.argv[1], np.random.default_rng(0)
lengths = np.array([4000, 90, 2500, 30])  # two units shorter than a window: padded, row by row
n, starts = int(lengths.sum()), np.concatenate([[0], np.cumsum(lengths)[:-1]])
feats = rng.normal(size=(n, 144)).astype(np.float32)
feats[:, 72:] = np.nan  # untracked mice
def make(pairs, seed=1):
    if pairs:  # pair-like: raw pixels, noise in cm x pix_per_cm, 2-D uint8 targets, short units drawn
        units, w, gap = Units(starts, np.arange(4) * 4000, lengths, np.arange(4)), 64, 1
        targets = np.random.default_rng(1).integers(0, 255, (16000, 3)).astype(np.uint8)
        policy = BalancedStarts(lengths, np.arange(4) % 2, np.array([[0, 1, 10, 50], [2, 0, 5, 9]]), w)
        kw = {"noise_std": 0.05, "noise_in_pixels": True, "pix_per_cm": np.array([9.0, 12.0, 7.5, 10.0])}
    else:  # grouped-like: int16 classes, frame gap, jitter, noise
        units, w, gap = Units.videos(starts, lengths), 100, 2
        targets = np.random.default_rng(1).integers(-1, 4, n).astype(np.int16)
        policy, kw = UniformStarts(lengths, window_span(w, gap)), {"noise_std": 0.01, "temporal_jitter": 2}
    return WindowSampler(feats, targets, units, policy, fps=np.array([30.0, 25, 30, 60]), window=w,
                         batch_size=384, seed=seed, frame_gap=gap, **kw)
for pairs in (False, True):
    cpu, fed = make(pairs), make_feeder(make(pairs), dev, "device")
    for _ in range(20):
        a, b = cpu.next_batch(), fed.next_batch()
        for f in fields(Batch):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert y.device.type == dev and torch.equal(x.nan_to_num(), y.cpu().nan_to_num()), f.name
    resumed = make_feeder(make(pairs, seed=7), dev, "device")
    resumed.load_state_dict(cpu.state_dict())
    assert torch.equal(resumed.next_batch().x.cpu().nan_to_num(), cpu.next_batch().x.nan_to_num())
    print(f"{'pairs' if pairs else 'grouped'}-like sampler on {dev}: 20 batches of 384 equal the CPU's, resume exact")
EOF

bench() {  # name, then bench arguments
  local name=$1; shift
  [[ " $SKIP " == *" ${name#v6_} "* ]] && { echo "== bench $name skipped"; return; }
  echo "== bench $name ($(date +%T))"
  timeout 150 "${MTRAIN[@]}" bench "${STORE_ARGS[@]}" --steps "$STEPS" --warmup "$WARM" --json "$WORK/bench_$name.json" \
    "$@" "${OVR[@]}" \
    || echo "bench $name failed or timed out"
}
bench v5 --config configs/v5.yaml
bench v6 --config configs/v6.yaml
bench v6_plain --config configs/v6.yaml --feeder plain
bench v6_thread --config configs/v6.yaml --feeder thread
bench v6_cudnn --config configs/v6.yaml --cudnn-benchmark
bench v6_fp32 --config configs/v6.yaml train.amp=none
bench v6_fp16 --config configs/v6.yaml train.amp=fp16
bench v6_compile --config configs/v6.yaml --compile

echo "== train v6: 1 epoch of 100 steps ($(date +%T))"
timeout 240 "${MTRAIN[@]}" run --config configs/v6.yaml "data.data_dir=$WORK/store.zarr" train.epochs=1 \
  train.steps_per_epoch=100 train.max_val_videos=4 train.progress=false "train.checkpoint_dir=$WORK/runs" \
  train.run_name=v6-gpu-check "${OVR[@]}" || echo "training run failed or timed out"

"$PY" - "$WORK" "$OUT_DIR" <<'EOF'
import glob, json, os, sys
work, out = sys.argv[1], sys.argv[2]
rows, allres = [], {}
head = f"{'run':<12}{'device':<26}{'batch':>6}{'amp':>6}{'feeder':>22}{'train win/s':>13}{'data %':>8}" \
       f"{'infer win/s':>13}{'peak MB':>9}"
for path in sorted(glob.glob(f"{work}/bench_*.json")):
    r = json.load(open(path))
    name = os.path.basename(path)[6:-5]
    allres[name] = r
    t, i = r["train"], r["inference"]
    rows.append(f"{name:<12}{r['device'][:25]:<26}{r['batch_size']:>6}{r['amp']:>6}{r['feeder']:>22}"
                f"{t['windows_per_s']:>13.0f}{100 * t['data_share']:>8.1f}{i['windows_per_s']:>13.0f}{t['peak_mb']:>9.0f}")
metrics = f"{work}/runs/v6-gpu-check/metrics.jsonl"
if os.path.exists(metrics):
    m = json.loads(open(metrics).read().splitlines()[-1])
    allres["train_run"] = m
    share = m["data_s"] / max(m["data_s"] + m["compute_s"], 1e-9)
    rows.append(f"{'train run':<12}{'(mabe-train run, v6)':<26}{'':>6}{'':>6}{'':>22}{m['windows_per_s']:>13.0f}"
                f"{100 * share:>8.1f}   epoch {m['train_s']:.1f}s train + {m['val_s']:.1f}s val")
table = "\n".join([head, *rows])
print(table)
open(f"{out}/gpu_check.txt", "w").write(table + "\n")
json.dump(allres, open(f"{out}/gpu_check.json", "w"), indent=1)
EOF
rm -rf "$WORK"
