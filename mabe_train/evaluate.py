"""`mabe-train evaluate RUN_DIR`: score a run, of any kind, on the videos it did not train on, and draw it.

What it means, for every kind: the run's stored thresholds and decoding settings applied to its
held-out probabilities (`Run.held_out`, mabe_train.runs.protocol) — a single run's validation
videos, a cv run's out-of-fold predictions, an ensemble's members' held-out videos blended — and
the report names which (`scored`). Nothing is re-tuned, so the figure is the one `predict --split
val` prints. A `task: grouped` run (behaviour groups, no thresholds) is scored by its task's own
validation on its validation videos. Pure: the run's files are untouched; it writes RUN_DIR/eval/:
report.json (every metric, overall and per lab), report.txt (the tables printed), confusion.png
and curves.png, each with the JSON it was drawn from. It recomputes instead of trusting
metrics.jsonl, so it also works for another store (`--data-dir`), at the cost of one pass.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mabe_train.grouped.labels import GROUPS
from mabe_train.pairs.scoring import score_videos
from mabe_train.pairs.task import per_lab_table
from mabe_train.plots import confusion_data, curves_data, plot_confusion, plot_curves
from mabe_train.run import read_history
from mabe_train.runs.files import EVAL_DIR
from mabe_train.runs.protocol import HELD_OUT_VAL
from mabe_train.runs.registry import load_run


@dataclass
class EvalResult:
    report: dict
    summary: str
    files: list[Path]


def held_out_metrics(run) -> dict:
    """The official score of the run's held-out probabilities at its stored thresholds, overall and per lab."""
    held = run.held_out()
    details = score_videos(held.videos, run.store, run.decode_config, run.thresholds)
    labs = run.store.videos["lab_id"]
    n_videos = Counter(str(labs[run.store.index(v.video_id)]) for v in held.videos)
    per_lab = {r["lab_id"]: r["score"] for r in details.per_lab.iter_rows(named=True)}
    return {"monitor": "score", "score": details.score, "val_videos": len(held.videos), "scored": held.label,
            "per_lab_score": per_lab, "per_lab": per_lab_table(details, n_videos)}


def evaluate_run(run_dir: str | Path, checkpoint: str = "best", data_dir: str | None = None,
                 progress: bool = True) -> EvalResult:
    run = load_run(run_dir, checkpoint, data_dir=data_dir, progress=progress)
    if run.cfg.task == "pairs":
        metrics = held_out_metrics(run)
    else:  # behaviour groups: no thresholds to apply, the task's validation of its validation videos
        metrics, _ = run.task.validate(run.model, run.device)
        metrics = {"monitor": run.task.monitor, "scored": HELD_OUT_VAL, **metrics}
    report = {"run_dir": str(run.run_dir), "checkpoint": checkpoint, "model": run.checkpoint_label,
              "epoch": getattr(run, "epoch", None), **metrics}
    out = run.run_dir / EVAL_DIR
    out.mkdir(exist_ok=True)
    files = _figures(report, read_history(run.run_dir), out, report["monitor"])
    summary = format_report(report)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.txt").write_text(summary + "\n")
    return EvalResult(report, summary, [out / "report.json", out / "report.txt", *files])


def _figures(report: dict, history: list[dict], out: Path, monitor: str) -> list[Path]:
    files = []
    if "confusion" in report:
        names = list(report.get("per_class", {})) or list(GROUPS)
        title = f"validation confusion, epoch {report['epoch']} ({report.get('n_frames', 0):,} frames)"
        files.append(plot_confusion(confusion_data(report["confusion"], names, title), out / "confusion.png"))
    if history:
        files.append(plot_curves(curves_data(history, monitor), out / "curves.png"))
    return files


# Per-lab columns after the monitored metric: (report key, header, format). A report prints the
# ones its labs carry (grouped: accuracy, frames; pairs: videos, actions), never a made-up 0.
_LAB_COLUMNS = (("accuracy", "accuracy", ".3f"), ("n_frames", "frames", ","),
                ("n_videos", "videos", ","), ("n_actions", "actions", ","))


def format_report(r: dict) -> str:
    """Plain-text tables: headline, per class (grouped), per lab (the columns the report has),
    per (lab, action) F (pairs)."""
    m = r["monitor"]
    what = r.get("model") or f"{r['checkpoint']}, epoch {r['epoch']}"
    lines = [f"{r['run_dir']} ({what}): {m} {r[m]:.4f}"
             + (f", accuracy {r['accuracy']:.4f}" if "accuracy" in r else "")
             + (f", majority baseline {r['majority_macro_f1']:.4f}" if "majority_macro_f1" in r else "")
             + (f" on {r['val_videos']:,} {_scored(r)}" if "val_videos" in r else "")]
    if "per_class" in r:
        lines += ["", f"{'class':<12}{'f1':>8}{'prec':>8}{'recall':>8}{'frames':>10}"]
        lines += [f"{k:<12}{v['f1']:>8.3f}{v['precision']:>8.3f}{v['recall']:>8.3f}{v['support']:>10,}"
                  for k, v in r["per_class"].items()]
    if r.get("per_lab"):
        lines += ["", *_lab_table(r["per_lab"], m)]
    if any(v.get("f") for v in (r.get("per_lab") or {}).values()):
        lines += ["", *_action_table(r["per_lab"])]
    return "\n".join(lines)


def _action_table(per_lab: dict[str, dict]) -> list[str]:
    """One row per (lab, action) the metric counts: its F, weakest first within each lab, so the
    actions that hold a lab's score down are at the top of it."""
    rows = [f"{lab:<24}{action:<20}{f:>8.3f}" for lab, v in per_lab.items()
            for action, f in sorted((v.get("f") or {}).items(), key=lambda kv: (kv[1], kv[0]))]
    return [f"{'lab':<24}{'action':<20}{'F':>8}", *rows]


def _scored(r: dict) -> str:
    """'5 validation videos' (a report without a label), else the label of what was scored."""
    if "scored" not in r:
        return f"validation video{'s' * (r['val_videos'] != 1)}"
    return r["scored"]


def _lab_table(per_lab: dict[str, dict], monitor: str) -> list[str]:
    """One row per lab: the monitored metric, then each of `_LAB_COLUMNS` some lab carries."""
    cols = [(monitor, monitor, ".3f")] + [c for c in _LAB_COLUMNS if any(c[0] in v for v in per_lab.values())]
    width = max(10, *(len(h) + 2 for _, h, _ in cols))
    head = f"{'lab':<24}" + "".join(f"{h:>{width}}" for _, h, _ in cols)
    rows = [f"{lab:<24}" + "".join(f"{format(v[k], f) if k in v else '-':>{width}}" for k, _, f in cols)
            for lab, v in per_lab.items()]
    return [head, *rows]
