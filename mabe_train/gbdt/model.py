"""A fitted GBDT: one LightGBM booster per (feature kind, action), saved as text files in the run.

`GbdtModel.predict_probs` gives the same `decode.VideoProbs` as the sequence models: (P, T, A)
probabilities over the video's labeled ordered pairs, 0 for an action the pair does not label or
that no booster covers (an action never positive in training is never emitted).

Files in the run directory:
  gbdt.json              feature windows, feature names per kind, one entry per booster
  models/<kind>__<action>.txt   LightGBM's text format (portable across platforms and versions)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mabe_store.log import progress_bar
from mabe_store.reader import Store
from mabe_train.decode import VideoProbs
from mabe_train.gbdt import GbdtError, require_lightgbm
from mabe_train.gbdt.features import feature_names, video_features
from mabe_train.runs.blend import blend_logodds, equal_weights, logit
from mabe_train.vocab import MABE, check_same, vocabulary_of

MODEL_FILE = "gbdt.json"


@dataclass
class GbdtModel:
    windows_s: tuple[float, ...]
    boosters: dict[tuple[str, str], object] = field(default_factory=dict)  # (kind, action) -> Booster
    info: dict[tuple[str, str], dict] = field(default_factory=dict)  # rows, positives, iterations
    labs: tuple[str, ...] = ()  # the lab vocabulary of the categorical `lab` column (() = no such column)
    actions: tuple[str, ...] = MABE.actions  # the store vocabulary it was fitted on, in column order
    # prediction threads: 0 = LightGBM's OpenMP default (every core the machine offers, or
    # OMP_NUM_THREADS when set, as in the tests); rows are independent, so any count gives the same
    # probabilities. Not saved with the model: the predicting machine decides (mabe_train.budget.set_threads).
    num_threads: int = 0

    def with_lab(self, X: np.ndarray, lab) -> np.ndarray:
        """X plus the lab's code as a last column (NaN for a lab training never saw), if the model has one."""
        if not self.labs:
            return X
        names, inverse = np.unique(np.broadcast_to(np.asarray(lab, dtype=str), (len(X),)), return_inverse=True)
        codes = np.array([self.labs.index(n) if n in self.labs else np.nan for n in names], dtype=np.float32)
        return np.hstack([X, codes[inverse].reshape(-1, 1)])

    # -- files --------------------------------------------------------------------------------------
    def save(self, run_dir: Path) -> None:
        (run_dir / "models").mkdir(exist_ok=True)
        entries = []
        for (kind, action), booster in sorted(self.boosters.items()):
            name = f"models/{kind}__{action}.txt"
            booster.save_model(str(run_dir / name))
            entries.append({"kind": kind, "action": action, "file": name, **self.info.get((kind, action), {})})
        meta = {"windows_s": list(self.windows_s), "labs": list(self.labs), "actions": list(self.actions),
                "models": entries,
                "features": {k: list(feature_names(k, self.windows_s)) for k in ("pair", "self")}}
        (run_dir / MODEL_FILE).write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, run_dir: Path) -> GbdtModel | FoldModels:
        lgb = require_lightgbm()
        path = run_dir / MODEL_FILE
        if not path.exists():
            raise GbdtError(f"{run_dir} has no {MODEL_FILE} — train it with `mabe-train run --config "
                            "configs/gbdt.yaml` (the run may have been killed before its models were saved)")
        meta = json.loads(path.read_text())
        if "members" in meta:
            return FoldModels(tuple(meta["windows_s"]), [cls.load(run_dir / m) for m in meta["members"]])
        model = cls(tuple(meta["windows_s"]), labs=tuple(meta.get("labs", ())),
                    actions=tuple(meta.get("actions", MABE.actions)))  # a model saved before it recorded them: MABe's
        for e in meta["models"]:
            key = (e["kind"], e["action"])
            model.boosters[key] = lgb.Booster(model_file=str(run_dir / e["file"]))
            model.info[key] = {k: v for k, v in e.items() if k not in ("kind", "action", "file")}
        return model

    # -- prediction -----------------------------------------------------------------------------------
    def video_probs(self, store: Store, video_id, default_actions=None) -> VideoProbs | None:
        """VideoProbs of one video, or None when it labels no triple (and no `default_actions`)."""
        check_same(self.actions, vocabulary_of(store))
        rows = video_features(store, video_id, self.windows_s, default_actions=default_actions)
        lab = str(store.videos["lab_id"][store.index(video_id)])
        return _video_probs(store, video_id, rows, self.rows_probs(rows, lab)) if rows else None

    def rows_probs(self, rows, lab: str) -> np.ndarray:
        """(P, T, A) probabilities of one video's PairRows."""
        t = rows[0].X.shape[0]
        probs = np.zeros((len(rows), t, len(self.actions)), dtype=np.float32)
        for p, r in enumerate(rows):
            for a in np.flatnonzero(r.mask):
                booster = self.boosters.get((r.kind, self.actions[a]))
                if booster is not None and t:
                    probs[p, :, a] = booster.predict(self.with_lab(r.X, lab), num_threads=self.num_threads)
        return probs

    def predict_probs(self, store: Store, video_ids, *, progress: bool = False,
                      default_actions=None) -> list[VideoProbs]:
        ids = list(video_ids)
        ids = progress_bar(ids, desc="predicting", unit="video", enabled=progress, leave=False)
        return [vp for vp in (self.video_probs(store, v, default_actions) for v in ids) if vp is not None]


def _video_probs(store: Store, video_id, rows, probs: np.ndarray) -> VideoProbs:
    i = store.index(video_id)
    return VideoProbs(int(store.videos["video_id"][i]), str(store.videos["lab_id"][i]),
                      [(r.agent, r.target) for r in rows], probs, np.stack([r.mask for r in rows]),
                      float(store.videos["fps"][i]), vocab=vocabulary_of(store))


@dataclass
class FoldModels:
    """The K fold models of a GBDT cv run, blended by the one rule (mabe_train.runs.blend: the mean
    of their log-odds, centred at 0.5 — one model's folds share a scale) over one feature
    computation. An action is blended over the folds that have a booster for it."""

    windows_s: tuple[float, ...]
    members: list[GbdtModel]

    @staticmethod
    def write(run_dir: Path, members: list[str], windows_s: tuple[float, ...]) -> None:
        (run_dir / MODEL_FILE).write_text(json.dumps({"windows_s": list(windows_s), "members": members}, indent=1))

    def video_probs(self, store: Store, video_id, default_actions=None) -> VideoProbs | None:
        for m in self.members:
            check_same(m.actions, vocabulary_of(store))
        rows = video_features(store, video_id, self.windows_s, default_actions=default_actions)
        if not rows:
            return None
        lab = str(store.videos["lab_id"][store.index(video_id)])
        zs = [logit(m.rows_probs(rows, lab)) for m in self.members]
        has = np.array([[[(r.kind, a) in m.boosters for a in m.actions] for r in rows] for m in self.members])
        return _video_probs(store, video_id, rows, blend_logodds(zs, equal_weights(len(self.members)), has))

    predict_probs = GbdtModel.predict_probs
