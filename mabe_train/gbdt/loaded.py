"""A trained GBDT run (kind `gbdt`) behind the `Run` protocol (mabe_train.runs.protocol).

The registry loads it with `load_gbdt_run`. A GBDT run has no torch model or epochs: `model` is the
`GbdtModel`; its thresholds are thresholds.json beside gbdt.json. A `mabe-train cv` GBDT run
(run.json `cv: true`) is scored on its out-of-fold probabilities: its final model (a refit on every
video, or the folds' average) has seen every video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mabe_store.reader import Store
from mabe_train.gbdt import GbdtError
from mabe_train.gbdt.model import MODEL_FILE, GbdtModel
from mabe_train.run import load_config_for, open_run_store
from mabe_train.runs.files import (
    SPLIT_FILE,
    THRESHOLDS_FILE,
    load_oof,
    read_marker,
    read_thresholds_file,
)
from mabe_train.runs.protocol import HELD_OUT_VAL, OUT_OF_FOLD, HeldOut, StoredDecoding
from mabe_train.runs.registry import GBDT, LoadOptions
from mabe_train.split import load_split


@dataclass
class GbdtRun(StoredDecoding):
    run_dir: Path
    cfg: object  # mabe_train.config.Config
    split: dict
    store: Store
    model: GbdtModel
    artefacts: dict
    cv: bool = False  # a `mabe-train cv` run: scored out of fold
    kind: str = GBDT

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list:
        """VideoProbs of the videos that label a triple (and of the others for `default_actions`)."""
        return self.model.predict_probs(self.store, video_ids, progress=progress, default_actions=default_actions)

    @property
    def checkpoint_label(self) -> str:
        return "GBDT cv run" if self.cv else "GBDT run"

    def held_out(self) -> HeldOut:
        if self.cv:
            return HeldOut(load_oof(self.run_dir), OUT_OF_FOLD)
        return HeldOut(self.predict_probs([int(v) for v in self.split["val"]]), HELD_OUT_VAL)


def load_gbdt_run(run_dir: Path, checkpoint: str, opts: LoadOptions) -> GbdtRun:
    """The registry's loader of kind `gbdt` (use `load_run`); `checkpoint` may name a sub-folder
    holding another gbdt.json (a cv fold: cv/fold_0)."""
    cfg = load_config_for(run_dir, opts)
    store = open_run_store(run_dir, cfg)
    sub = run_dir / checkpoint if checkpoint not in ("best", "last") else run_dir
    if not (sub / MODEL_FILE).exists():
        have = ["best"] + sorted(p.parent.name for p in run_dir.glob(f"*/{MODEL_FILE}"))
        raise GbdtError(f"no GBDT model {checkpoint!r} in {run_dir} — it has: {', '.join(have)}")
    content = read_thresholds_file(sub)
    artefacts = {} if content is None else {THRESHOLDS_FILE: content}
    return GbdtRun(run_dir, cfg, load_split(run_dir / SPLIT_FILE), store, GbdtModel.load(sub), artefacts,
                   bool(read_marker(run_dir).get("cv")))
