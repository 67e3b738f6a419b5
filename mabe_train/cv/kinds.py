"""What one cv fold means per model kind: fit it, predict its held-out videos, write the final model.

The driver (mabe_train.cv) owns folds, OOF files, thresholds and resuming; a `FoldKind` owns only
these steps. Two kinds:

GBDT (`model.name: gbdt`): a fold is boosters in cv/fold_<k>/ (gbdt.json, models/), trained a fixed
`gbdt.n_estimators` with no early stopping on the fold's own validation videos (which would leak
into their OOF predictions). The run is `kind: gbdt`: its gbdt.json is the refit on every video
(`--refit`) or the K fold models blended by the one rule of mabe_train.runs.blend (centred at 0.5:
one model's folds share a scale, so their log-odds are averaged).

Sequence (`task: pairs`): a fold is a normal run directory, cv/fold_<k>/ (config.yaml, split.json
with the fold's division, last.pt, best.pt, metrics.jsonl), trained by the same `train()` with the
fold's split, so a fold killed mid-training resumes from its last.pt. Its OOF probabilities come
from its best.pt, whose epoch was picked on those same videos, as any sequence run's best.pt is:
the OOF score is optimistic by that choice among `train.epochs` epochs (a GBDT fold has none).
The run is `kind: ensemble` over the K folds (mabe_train.ensemble) with equal weights and
`centred: false`: members are one model on one probability scale, so the blend rule centres them at
0.5 (their log-odds averaged as they are) (a fold's own thresholds, tuned on its few validation videos, do not recentre it),
and thresholds.json, tuned on the raw OOF probabilities, applies to that average. No `--refit`:
a sequence model picks its epoch on validation videos, which a fit on every video would lack.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from mabe_store.log import Log, say
from mabe_store.reader import Store
from mabe_train import MabeTrainError
from mabe_train import train as torch_train
from mabe_train.gbdt import require_lightgbm
from mabe_train.gbdt import train as gtrain
from mabe_train.gbdt.model import FoldModels, GbdtModel
from mabe_train.runs.files import CV_DIR, LAST_CHECKPOINT, SUMMARY_FILE, fold_dir
from mabe_train.runs.registry import ENSEMBLE, GBDT, config_kind, load_run


class CvError(MabeTrainError, ValueError):
    """A cross-validation that cannot start or continue; the message says what to do."""


class GbdtFolds:
    run_kind = GBDT

    def check(self, cfg, refit: bool) -> None:
        require_lightgbm()

    def marker(self, k: int) -> dict:
        return {}

    @staticmethod
    def _fixed(cfg):
        return dataclasses.replace(cfg, gbdt=dataclasses.replace(cfg.gbdt, early_stopping=0))

    def train_fold(self, cfg, store: Store, out: Path, split: dict, *, hooks=None, log: Log = say) -> bool:
        model = gtrain.fit_on_videos(store, split["train"], [], self._fixed(cfg), log=log)  # module attribute: tests count the fits
        out.mkdir(parents=True, exist_ok=True)
        model.save(out)
        return True

    def predict_fold(self, out: Path, store: Store, video_ids: list[int]) -> list:
        return GbdtModel.load(out).predict_probs(store, video_ids)

    def tidy_fold(self, out: Path) -> None:
        pass

    def finish(self, cfg, store: Store, run_dir: Path, k: int, refit: bool, train_ids: list[int], log: Log = say) -> None:
        if refit:
            gtrain.fit_on_videos(store, train_ids, [], self._fixed(cfg), log=log).save(run_dir)
        else:
            FoldModels.write(run_dir, [f"{CV_DIR}/fold_{f}" for f in range(k)], tuple(cfg.gbdt.windows_s))


class SequenceFolds:
    run_kind = ENSEMBLE

    def check(self, cfg, refit: bool) -> None:
        if refit:
            raise CvError("--refit is for GBDT cv runs: a sequence model picks its epoch on validation videos, "
                          "which a fit on every video lacks — drop --refit (the result is the K fold models "
                          "averaged, an ensemble)")

    def marker(self, k: int) -> dict:
        return {"members": [f"{CV_DIR}/fold_{f}" for f in range(k)], "weights": [1.0 / k] * k, "centred": False}

    def train_fold(self, cfg, store: Store, out: Path, split: dict, *, hooks=None, log: Log = say) -> bool:
        """Train (or resume) the fold's run; True when its training has ended (summary.json)."""
        if not (out / SUMMARY_FILE).exists():
            fcfg = dataclasses.replace(cfg, train=dataclasses.replace(
                cfg.train, checkpoint_dir=str(out.parent), run_name=out.name))
            resume = (out / LAST_CHECKPOINT).exists()
            torch_train.train(fcfg, run_dir=out, resume=resume, split=None if resume else split, hooks=hooks,
                            log=log)  # looked up at call time: tests count the calls
        return (out / SUMMARY_FILE).exists()

    def predict_fold(self, out: Path, store: Store, video_ids: list[int]) -> list:
        return load_run(out, progress=False).predict_probs(video_ids)

    def tidy_fold(self, out: Path) -> None:
        shutil.rmtree(out / "stage-cache", ignore_errors=True)  # the training videos' copy: K of them add up

    def finish(self, cfg, store: Store, run_dir: Path, k: int, refit: bool, train_ids: list[int], log: Log = say) -> None:
        log(f"the {k} fold runs, averaged, are the model (run.json: kind ensemble)")


def kind_of(cfg):
    """The cv steps of a config's run kind (mabe_train.runs.registry); CvError for a task cv cannot
    validate (grouped behaviour classes have no competition actions to score out of fold)."""
    if cfg.task != "pairs":
        raise CvError(f"mabe-train cv scores the competition's actions: it needs a `task: pairs` config "
                      f"(configs/pairs_demo.yaml) or a `model.name: gbdt` one (configs/gbdt.yaml), not task {cfg.task!r}")
    return config_kind(cfg).fold_steps()


__all__ = ["CvError", "GbdtFolds", "SequenceFolds", "fold_dir", "kind_of"]
