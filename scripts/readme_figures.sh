#!/usr/bin/env bash
# Every figure the docs quote from `make demo` and `make test` (the table in docs/results.md, "`make demo`
# and `make test`", and its headline in README.md), measured on a fresh clone of this repository, with the
# machine facts they depend on. Prints a markdown table; writes nothing here.
#   bash scripts/readme_figures.sh            # demo + tests (~10 min on a loaded 2-core machine)
#   SKIP=test bash scripts/readme_figures.sh  # demo only
set -euo pipefail
src=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$src" "$work/mabe"
cd "$work/mabe"

seconds() {  # prints the seconds `$@` took; on failure its log's tail goes to stderr and the script stops
  local t0=$SECONDS
  "$@" >"$work/$1-$2.log" 2>&1 || { echo "'$*' failed:" >&2; tail -30 "$work/$1-$2.log" >&2; return 1; }
  echo $((SECONDS - t0))
}

setup_s=$(seconds make setup)
demo_s=$(seconds make demo)
test_s=-
if [ "${SKIP:-}" != test ]; then test_s=$(seconds make test); fi

.venv/bin/python - "$work" "$setup_s" "$demo_s" "$test_s" <<'PY'
import json, os, platform, re, subprocess, sys
from pathlib import Path
work, setup_s, demo_s, test_s = Path(sys.argv[1]), *sys.argv[2:]
runs = Path("runs")
v5 = json.loads((runs / "demo" / "summary.json").read_text())
pairs = json.loads((runs / "pairs-demo" / "summary.json").read_text())
demo_log = (work / "make-demo.log").read_text()
scores = re.findall(r"^score: (\S+)", demo_log, flags=re.M)
test_log = (work / "make-test.log").read_text() if test_s != "-" else ""
tests = re.findall(r"^(\d+ passed.*) in ", test_log, flags=re.M)
cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
import torch
rows = [
    ("machine", f"{os.cpu_count()} cores ({cpu}), load {os.getloadavg()[0]:.1f} after the runs, Python "
                f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads default)"),
    ("commit", subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()),
    ("`make setup` (fresh .venv)", f"{setup_s} s"),
    ("`make demo` after setup", f"{demo_s} s"),
    ("V5 demo: best validation macro F1", f"{v5['best']:.4f} (epoch {v5['best_epoch']})"),
    ("pair model demo: best validation score", f"{pairs['best']:.4f} (epoch {pairs['best_epoch']})"),
    ("scored validation submission (`mabe-train score`)", scores[-1] if scores else "?"),
    ("`make test`", f"{test_s} s, {tests[-1] if tests else '?'}" if test_s != "-" else "skipped"),
]
print("| what | measured |\n|---|---|")
for k, v in rows:
    print(f"| {k} | {v} |")
PY
