"""What a trained run can do, whatever its kind: the `Run` protocol every consumer types against.

predict, evaluate, submit, bundles and ensembles take any object that satisfies it; the kinds that
implement it (mabe_train.runs.registry names them) are
    torch     mabe_train.run.LoadedRun          a sequence model's checkpoint (pairs or grouped task)
    gbdt      mabe_train.gbdt.loaded.GbdtRun    LightGBM boosters (one fit, a refit, or cv folds)
    ensemble  mabe_train.ensemble.EnsembleRun   a blend of member runs (an ensemble, or a sequence cv)

`held_out()` is the notion that keeps scores honest: the probabilities of the videos the run may be
scored on — a single run's held-out validation videos, a cv run's out-of-fold predictions, an
ensemble's blend of its members' held-out probabilities on the videos they share — with a label
naming what they are, so no command prints a score on training videos without saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from mabe_train.decode import DecodeConfig, TunedThresholds, VideoProbs
from mabe_train.runs.files import load_thresholds

HELD_OUT_VAL = "held-out validation videos"
OUT_OF_FOLD = "videos, out of fold (each predicted by the fold model that did not train on it)"


@dataclass
class HeldOut:
    """Probabilities of the videos a run never trained on, and what they are (`label`, a plural noun
    phrase that reads after a count: "7 videos, out of fold ...")."""

    videos: list[VideoProbs]
    label: str

    def by_id(self) -> dict:
        return {v.video_id: v for v in self.videos}


@runtime_checkable
class Run(Protocol):
    """A trained run of any kind. Fields: `run_dir`, `kind` (its registry name), `cfg` (the resolved
    Config), `store` (the store it predicts from), `split` (its train/val videos), `checkpoint_label`
    (what evaluate names: 'best, epoch 3' for a checkpoint, the kind otherwise)."""

    run_dir: Path
    kind: str
    cfg: object
    store: object
    split: dict

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list[VideoProbs]:
        """VideoProbs of every given video that labels a triple (of all of them with `default_actions`)."""

    @property
    def thresholds(self) -> TunedThresholds:
        """Per-(lab, action) decoding thresholds (with the per-action bouts they were tuned with)."""

    @property
    def decode_config(self) -> DecodeConfig:
        """How its probabilities are decoded into intervals."""

    def held_out(self) -> HeldOut:
        """Probabilities of the videos it may be scored on (see the module docstring)."""

    @property
    def checkpoint_label(self) -> str:
        """What `evaluate` names as the scored model."""


class StoredDecoding:
    """`thresholds` and `decode_config` where every kind keeps them: the thresholds in the run's
    artefacts or its thresholds.json (runs.files.load_thresholds), the decoding settings in its
    config. A mixin of the kinds above, which supply `artefacts`, `run_dir` and `cfg`."""

    @property
    def thresholds(self) -> TunedThresholds:
        """Per-(lab, action) decoding thresholds tuned on the run's held-out (or out-of-fold) videos."""
        return load_thresholds(self.artefacts, self.run_dir)

    @property
    def decode_config(self) -> DecodeConfig:
        return self.cfg.pairs.decode
