"""A trained GBDT run behind the interface of `mabe_train.run.LoadedRun`.

`load_run` dispatches here on run.json's `kind: gbdt`. Consumers use `predict_probs`,
`thresholds`, `cfg` (its `pairs.decode` decodes), `store`, `split`, and `task.validate(model,
device)` for `mabe-train evaluate`; a GBDT run has no torch model or epochs, so `model` is the
`GbdtModel`, `device` is the CPU and `epoch` is 1.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from mabe_store.reader import Store
from mabe_train.decode import DecodeConfig, decode, thresholds_from_artefact
from mabe_train.gbdt import GbdtError
from mabe_train.gbdt.model import GbdtModel
from mabe_train.metric import ScoreDetails, score_details
from mabe_train.submission import solution_from_store

THRESHOLDS_FILE = "thresholds.json"


def score_videos(videos, store: Store, decode_cfg: DecodeConfig, thresholds) -> ScoreDetails:
    """Official score details of decoded probabilities against the store's annotations."""
    solution = solution_from_store(store, [v.video_id for v in videos])
    sub = decode(videos, decode_cfg, thresholds)
    if sub.height == 0 or solution.height == 0:
        from mabe_train.pairs.scoring import empty_details
        return empty_details()
    return score_details(solution, sub)


class ScoredValidation:
    """`task` of a non-torch run: re-scores the validation videos with the run's thresholds — for a
    `mabe-train cv` run its saved out-of-fold probabilities (its refit has seen every video)."""

    monitor = "score"

    def __init__(self, run):
        self.run = run

    def validate(self, model=None, device=None) -> tuple[dict, dict]:
        from mabe_train.cv import load_oof
        from mabe_train.pairs.task import per_lab_table
        run = self.run
        videos = load_oof(run.run_dir) or run.predict_probs(run.split["val"])
        details = score_videos(videos, run.store, run.cfg.pairs.decode, run.thresholds)
        labs = run.store.videos["lab_id"]
        n_videos = Counter(str(labs[run.store.index(v.video_id)]) for v in videos)
        per_lab = {r["lab_id"]: r["score"] for r in details.per_lab.iter_rows(named=True)}
        return {"score": details.score, "val_videos": len(videos), "per_lab_score": per_lab,
                "per_lab": per_lab_table(details, n_videos)}, {}


@dataclass
class GbdtRun:
    run_dir: Path
    cfg: object  # mabe_train.config.Config
    split: dict
    store: Store
    model: GbdtModel
    artefacts: dict
    device: torch.device = torch.device("cpu")
    epoch: int = 1

    @property
    def task(self) -> ScoredValidation:
        return ScoredValidation(self)

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list:
        """VideoProbs of the videos that label a triple (and of the others for `default_actions`)."""
        return self.model.predict_probs(self.store, video_ids, progress=progress, default_actions=default_actions)

    @property
    def thresholds(self) -> dict[tuple[str, str], float]:
        if THRESHOLDS_FILE not in self.artefacts:
            raise GbdtError(f"{self.run_dir} has no {THRESHOLDS_FILE} — its training did not finish; "
                            "train it again with --overwrite")
        return thresholds_from_artefact(self.artefacts[THRESHOLDS_FILE])


def load_gbdt_run(run_dir: Path, cfg, store: Store, checkpoint: str = "best") -> GbdtRun:
    """The GBDT run in `run_dir` (config and store already resolved by `load_run`)."""
    from mabe_train.split import load_split
    sub = run_dir / checkpoint if checkpoint not in ("best", "last") else run_dir
    if not (sub / "gbdt.json").exists():
        have = ["best"] + sorted(p.parent.name for p in run_dir.glob("*/gbdt.json"))
        raise GbdtError(f"no GBDT model {checkpoint!r} in {run_dir} — it has: {', '.join(have)}")
    artefacts = {}
    if (sub / THRESHOLDS_FILE).exists():
        artefacts[THRESHOLDS_FILE] = json.loads((sub / THRESHOLDS_FILE).read_text())
    return GbdtRun(run_dir, cfg, load_split(run_dir / "split.json"), store, GbdtModel.load(sub), artefacts)
