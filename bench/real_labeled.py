"""The real-data measurement: 14 two-rat videos, 4-fold cross-validation by video, GBDT vs pair model
vs their ensemble, per behaviour. Writes bench/results/real_labeled.json (the docs' real-data table).

The recordings are real: multi-animal DeepLabCut tracking of two rats with human Caltech Behavior
Annotator labels (dyad-level, two streams) from ../shared/real-labeled/rat (README there). Every
step is the documented command, run as a user runs it:

    mabe-store import --manifest configs/rat_manifest.csv --keypoints configs/rat_keypoints.yaml --raw W/rat
    mabe-store build --raw W/rat --out W/rat.zarr;  mabe-store verify --store W/rat.zarr --raw W/rat
    mabe-train cv --config configs/gbdt.yaml --folds 4 data.data_dir=W/rat.zarr train.checkpoint_dir=W/runs train.run_name=gbdt
    mabe-train cv --config configs/pairs_demo.yaml --folds 4 train.epochs=E ... train.run_name=pairs_eE
    mabe-train ensemble W/runs/gbdt W/runs/pairs_eE --out W/runs/ensemble_eE

The rat files give no pixel scale; the manifest's pix_per_cm 8.8 makes the median head-to-tail-base
distance (~175 px) about 20 cm, an adult rat's. Both models read positions in cm and speeds in cm/s,
so it sets the units of the same features (no parameter was tuned to it); without a scale the store
holds NaN and the models' features would be empty.

Per-behaviour F1 is the competition metric's per-action F1 of each run's held-out intervals: the
out-of-fold predictions of a cv run, and for the ensemble the same videos blended (its weights and
thresholds were tuned on them, as the cv runs' thresholds were). A cv pair fold picks its best
epoch on its own held-out videos (mabe_train.cv.kinds), a small optimism the GBDT does not have.

    python bench/real_labeled.py [--work data/real_labeled] [--pair-epochs 20] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from mabe_train.cv.outputs import labeled_behaviours, per_behaviour_table
from mabe_train.pairs.scoring import score_probs
from mabe_train.runs.registry import load_run
from mabe_train.submission import solution_from_store

RAT = Path("../shared/real-labeled/rat")
PIX_PER_CM = 8.8  # the manifest's (configs/rat_manifest.csv), recorded in the results
OUT = Path(__file__).parent / "results" / "real_labeled.json"  # real_labeled_e<N>.json for other --pair-epochs
DEFAULT_EPOCHS = 20


def run(cmd: list[str], log: Path) -> dict:
    """One documented command, its wall and CPU seconds (children's user + system)."""
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    with log.open("a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        sys.exit(f"{' '.join(cmd[:3])} failed (exit {r.returncode}) — see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(cmd), "wall_s": round(time.time() - t0, 1), "cpu_s": round(cpu, 1)}


def pair_run(epochs: int) -> str:
    """The pair cv run's name says its epochs: a resumed run of another length is never mistaken for it."""
    return f"pairs_e{epochs}"


def commands(work: Path, epochs: int) -> dict[str, list[list[str]]]:
    raw, store, runs = work / "rat", work / "rat.zarr", work / "runs"
    cv = ["mabe-train", "cv", "--folds", "4", f"data.data_dir={store}", f"train.checkpoint_dir={runs}"]
    return {
        "store": [["mabe-store", "import", "--manifest", "configs/rat_manifest.csv", "--keypoints",
                   "configs/rat_keypoints.yaml", "--raw", str(raw)],
                  ["mabe-store", "build", "--raw", str(raw), "--out", str(store), "--no-progress"],
                  ["mabe-store", "verify", "--store", str(store), "--raw", str(raw)]],
        "gbdt": [[*cv, "--config", "configs/gbdt.yaml", "train.run_name=gbdt", "train.progress=false"]],
        "pairs": [[*cv, "--config", "configs/pairs_demo.yaml", f"train.epochs={epochs}",
                   f"train.run_name={pair_run(epochs)}", "train.progress=false"]],
        "ensemble": [["mabe-train", "ensemble", str(runs / "gbdt"), str(runs / pair_run(epochs)), "--out",
                      str(runs / f"ensemble_e{epochs}")]],
    }


def held_out_table(run_dir: Path) -> tuple[pl.DataFrame, float, int]:
    """(per-behaviour table, overall score, videos) of a run's held-out intervals."""
    r = load_run(run_dir, progress=False)
    videos = r.held_out().videos
    solution = solution_from_store(r.store, [v.video_id for v in videos])
    _, details = score_probs(videos, solution, r.decode_config, r.thresholds)
    return per_behaviour_table(details.per_action, labeled_behaviours(videos)), details.score, len(videos)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("data/real_labeled"))
    ap.add_argument("--pair-epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--reuse", action="store_true", help="keep finished steps (a cv run resumes its folds)")
    a = ap.parse_args()
    if not RAT.is_dir():
        sys.exit(f"no {RAT} — this measurement needs the real recordings (see its README)")
    a.work.mkdir(parents=True, exist_ok=True)
    log, timing = a.work / "real_labeled.log", {}
    for step, cmds in commands(a.work, a.pair_epochs).items():
        done = {"store": a.work / "rat.zarr", "ensemble": a.work / "runs" / f"ensemble_e{a.pair_epochs}"}.get(step)
        if a.reuse and done is not None and done.exists():
            continue
        timing[step] = [run(c, log) for c in cmds]
    result = {"data": "14 real two-rat videos (DeepLabCut tracking, human Caltech annotations, dyad labels)",
              "folds": "4, by video", "pix_per_cm": PIX_PER_CM, "pair_epochs": a.pair_epochs,
              "reused": a.reuse,  # True: `steps` timed only what was left (fold CPU seconds: fold_cpu_s)
              "load_average_at_end": [round(x, 2) for x in os.getloadavg()], "steps": timing,
              "models": {}}
    names = {"gbdt": "gbdt", "pairs": pair_run(a.pair_epochs), "ensemble": f"ensemble_e{a.pair_epochs}"}
    for name, folder in names.items():
        table, score, n = held_out_table(a.work / "runs" / folder)
        folds = sorted((a.work / "runs" / folder).glob("cv/fold_*/done.json"))
        cpu = sum(json.loads(f.read_text())["cpu_s"] for f in folds)
        result["models"][name] = {"score": round(score, 4), "videos": n, "fold_cpu_s": round(cpu, 1) if folds else None,
                                  "mean_f1": round(float(table["f1"].mean()), 4),
                                  "per_behaviour": table.with_columns(pl.col("f1", "precision", "recall").round(4))
                                  .to_dicts()}
        print(f"{name:9s} mean F1 over behaviours {table['f1'].mean():.3f}  (metric score {score:.3f}, {n} videos)")
    out = OUT if a.pair_epochs == DEFAULT_EPOCHS else OUT.with_name(f"real_labeled_e{a.pair_epochs}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
