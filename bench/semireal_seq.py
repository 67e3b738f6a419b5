"""Pair-model variants on the semi-real held-out videos: which sequence-model change is worth keeping.

Why: issue 10 item 5 lists what the top write-ups credited (augmentation, flip TTA, lab
embedding, longer context, ...); each is kept only if it scores better on the held-out videos of
`bench/semireal.py` (same synthesis, same seeded split, same predict + official metric). This
script reuses that benchmark's helpers: `prepare` builds the two stores once, then each
(variant, seed) trains `configs/pairs_demo.yaml` + the bench's `--pairs-overrides` + the variant's
overrides + `train.seed=S` and predicts the held-out store with `mabe-train predict --split train`.
These are NOT leaderboard scores; 10 held-out videos make one seed's figure noisy (compare the
seed spread to the gap before believing a gap).

    .venv/bin/python bench/semireal_seq.py --real ../shared/mabe-real --work data/semireal-seq \
        --variants base,mirror,tta --seeds 0,1

Finished (variant, seed) runs are reused (their CPU seconds recorded beside them), so a killed
benchmark resumes. Writes bench/results/semireal_seq.json and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from mabe_train.run import load_checkpoint, save_checkpoint
from mabe_train.runs.files import BEST_CHECKPOINT, CONFIG_FILE, LAST_CHECKPOINT, SUMMARY_FILE
from mabe_train.runs.registry import load_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
import semireal  # noqa: E402  (bench/ is not a package)

# variant -> overrides on top of configs/pairs_demo.yaml and the bench's --pairs-overrides; every variant
# but fps30 pins common_fps=0 (the default, pinned so the rows stay what they measured if it changes)
VARIANTS = {
    "base": "pairs.mirror=0 pairs.common_fps=0",  # the pair model before these options
    "mirror": "pairs.mirror=0.5 pairs.common_fps=0",  # left/right mirror of half the training windows
    "tta": "pairs.mirror=0 pairs.common_fps=0 pairs.tta_flip=true",  # validation and predict average the mirrored input's probabilities
    "mirror_tta": "pairs.mirror=0.5 pairs.common_fps=0 pairs.tta_flip=true",
    "lab": "pairs.mirror=0 pairs.common_fps=0 pairs.lab_input=true",  # one-hot lab appended to the inputs
    "sides": "pairs.mirror=0 pairs.common_fps=0 pairs.harmonise_sides=true",  # hip and lateral points as one side family
    "mirror_sides": "pairs.mirror=0.5 pairs.common_fps=0 pairs.harmonise_sides=true",
    "stretch": "pairs.mirror=0 pairs.common_fps=0 pairs.time_stretch=0.2",  # windows resampled in time by a factor in [0.8, 1.2]
    "fps30": "pairs.mirror=0 pairs.common_fps=30",  # every window seen at 30 fps, outputs back on the video's frames
    "ctx128": "pairs.mirror=0 pairs.common_fps=0 data.sequence_length=128 data.batch_size=16",  # 2x context, same frames per step
}


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(semireal.ROOT.parent / "shared" / "mabe-real"))
    ap.add_argument("--work", default=str(semireal.ROOT / "data" / "semireal-seq"))
    ap.add_argument("--labs", default=",".join(semireal.LABS))
    ap.add_argument("--videos", type=int, default=54)
    ap.add_argument("--scale", type=float, default=0.35)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0, help="synthesis and hold-out seed (the bench's)")
    ap.add_argument("--pairs-overrides", default="train.epochs=10 train.steps_per_epoch=120")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated, from {', '.join(VARIANTS)}, or NAME=OVERRIDES;...")
    ap.add_argument("--tta-on-trained", action="store_true",
                    help="also score each run with flip TTA added after training (thresholds re-tuned)")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--out", default=str(semireal.ROOT / "bench" / "results" / "semireal_seq.json"))
    a = ap.parse_args()
    a.reuse = True  # stores and finished runs are always kept
    return a


def variants(spec: str) -> dict[str, str]:
    """{name: overrides}: known names, or `name=k=v k=v` entries separated by ';'."""
    out = {}
    for item in (s.strip() for s in spec.split(";" if "=" in spec else ",") if s.strip()):
        name, _, over = item.partition("=")
        if not over and name not in VARIANTS:
            sys.exit(f"unknown variant {name!r} (choose from {', '.join(VARIANTS)} or give NAME=OVERRIDES)")
        out[name] = over if over else VARIANTS[name]
    return out


def run_one(a, work: Path, name: str, overrides: str, seed: int, log: list[str], tta: bool = False) -> dict:
    """Train (unless done) and score one (variant, seed) on the held-out store; `tta`: with flip TTA
    added to the trained run (`with_tta`)."""
    run_name = f"{name}_s{seed}"
    run = work / "runs" / run_name
    cpu = semireal.timed(run / SUMMARY_FILE, "mabe-train", "run", "--config", "configs/pairs_demo.yaml",
                         *semireal._common(work, run_name), *a.pairs_overrides.split(), *overrides.split(),
                         f"train.seed={seed}", "--overwrite", log=log)
    if tta:
        run = with_tta(run, work / "runs" / f"{run_name}_tta")
        run_name = f"{run_name}_tta"
    row = semireal.heldout(run_name, run, work, log)
    summary = json.loads((run / SUMMARY_FILE).read_text())
    return {**row, "train_cpu_s": cpu, "validation": summary.get("val_score", summary.get("best")),
            "variant": f"{name}+tta" if tta else name, "seed": seed,
            "overrides": f"{overrides} +TTA on the trained weights".strip() if tta else overrides}


def with_tta(run: Path, out: Path) -> Path:
    """A copy of a finished run with `pairs.tta_flip: true` and its thresholds re-tuned with TTA on
    the run's own validation videos: flip TTA measured on the very same weights (a variant trained
    with `pairs.tta_flip=true` also changes which epoch is best and when the LR scheduler steps)."""
    if (out / BEST_CHECKPOINT).exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("epoch_*.pt", LAST_CHECKPOINT, "eval"))
    cfg = yaml.safe_load((out / CONFIG_FILE).read_text())
    cfg.setdefault("pairs", {})["tta_flip"] = True
    (out / CONFIG_FILE).write_text(yaml.safe_dump(cfg, sort_keys=False))
    loaded = load_run(out, progress=False)
    _, artefacts = loaded.task.validate(loaded.model, loaded.device)
    ck = load_checkpoint(out / BEST_CHECKPOINT)
    ck["artefacts"] = {**(ck.get("artefacts") or {}), **artefacts}
    save_checkpoint(out / BEST_CHECKPOINT, ck)
    return out


def report(rows: list[dict]) -> str:
    """Markdown: one line per variant, mean over seeds (and each seed's score)."""
    labs = sorted({lab for r in rows for lab in r["per_lab"]})
    lines = [f"| variant | overrides | held-out score (mean) | seeds | {' | '.join(labs)} | train CPU-s |",
             "|---|---|---|---|" + "---|" * len(labs) + "---|"]
    for name in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == name]
        per = " | ".join(f"{np.mean([r['per_lab'].get(lab, 0.0) for r in rs]):.3f}" for lab in labs)
        seeds = ", ".join(f"{r['seed']}: {r['score']:.4f}" for r in rs)
        lines.append(f"| {name} | `{rs[0]['overrides'] or '-'}` | **{np.mean([r['score'] for r in rs]):.4f}** "
                     f"| {seeds} | {per} | {np.mean([r['train_cpu_s'] for r in rs]):.0f} |")
    return "\n".join(lines)


def main() -> None:
    a = _args()
    if not (Path(a.real) / "train.csv").is_file():
        sys.exit(f"no real train.csv under {a.real} — pass --real DIR (../shared/mabe-real)")
    work, log, t0 = Path(a.work), [], time.perf_counter()
    n_held = semireal.prepare(a, work, log)
    if not (work / "holdout_solution.csv").exists():
        semireal.baseline_score(work / "holdout.zarr", work / "holdout_baseline.csv")
    rows = [run_one(a, work, name, over, int(s), log, tta)
            for name, over in variants(a.variants).items() for tta in (False, True)[:1 + a.tta_on_trained]
            for s in a.seeds.split(",")]
    result = {"heldout_videos": n_held, "pairs_overrides": a.pairs_overrides, "rows": rows,
              "seconds": round(time.perf_counter() - t0, 1), "load_average": os.getloadavg(), "commands": log}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(report(rows))
    print(f"\n{n_held} held-out videos; semi-real scores, NOT leaderboard scores; "
          f"load average {result['load_average'][0]:.1f}")


if __name__ == "__main__":
    main()
