"""`mabe-train ensemble RUN... --out E`: a run directory that blends other runs' probabilities.

Why calibrate before blending: a GBDT's and a sequence model's probabilities live on different
scales (the same frame may be 0.3 for one and 0.7 for the other, each right at its own tuned
threshold), so averaging raw probabilities lets the more confident model decide. Each member's
probability is first centred on its own (lab, action) threshold in log-odds,
    z_i = logit(p_i) - logit(thr_i(lab, action)),
so 0 means "at the member's decision boundary"; the ensemble's probability is sigmoid(sum_i w_i z_i)
(a member whose threshold is NEVER for that lab contributes logit(p_i) - logit(0.5)). The ensemble
then tunes its own per-(lab, action) thresholds (mabe_train.calibrate) on the evidence below.
Semi-real (GBDT cv + pair model, 10 held-out videos): centred 0.8375, raw weighted mean 0.8221.

Evidence for blend weights and thresholds: the members' out-of-fold predictions where a member is a
`mabe-train cv` run, otherwise its predictions of the validation videos the members share (a
sequence run's split.json "val"; optimistic for a run whose best epoch was picked on them, but
never a video it trained on). Weights: a grid over the simplex (step 0.1 for 2 members, 0.25 for
3+), each candidate scored with the official metric after its own threshold tuning; without
shared evidence, equal weights and every member's thresholds centred at 0.5.

    E/run.json        kind: ensemble, members (absolute paths, or relative to E: a bundle copies
                      them into E/members/), weights
    E/config.yaml     the first member's config (decoding settings, store)
    E/split.json      the first member's split;  E/thresholds.json  the ensemble's thresholds
A sequence `mabe-train cv` run is an ensemble of its folds with `centred: false` in run.json
(mabe_train.cv.kinds): one model's folds share a scale, so their log-odds are averaged uncentred.
`load_run(E)` gives an object with the LoadedRun interface, so predict, evaluate and bundles take it.
"""

from __future__ import annotations

import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mabe_store.log import Log, say
from mabe_train import MabeTrainError
from mabe_train.decode import (
    NEVER,
    VideoProbs,
    threshold_vector,
    thresholds_artefact,
    thresholds_from_artefact,
)

ENSEMBLE = "ensemble"
THRESHOLDS_FILE = "thresholds.json"
EPS = 1e-5


class EnsembleError(MabeTrainError, ValueError):
    """Members that cannot be blended; the message says which and why."""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def centred_logits(video: VideoProbs, thresholds) -> np.ndarray:
    """(P, T, A) log-odds of `video` minus those of its (lab, action) thresholds (NEVER -> 0.5)."""
    thr = threshold_vector(video.lab_id, thresholds, 0.5)
    thr = np.where(thr >= NEVER, 0.5, thr)
    return _logit(video.probs) - _logit(thr)[None, None, :]


def blend(videos: list[VideoProbs], thresholds: list, weights) -> VideoProbs:
    """One video's members (same pairs) -> the calibrated weighted blend."""
    first = videos[0]
    for v in videos[1:]:
        if v.pairs != first.pairs:
            raise EnsembleError(f"video {first.video_id}: members predict different pairs ({first.pairs} vs "
                                f"{v.pairs}) — were they made from stores with other behaviors_labeled?")
    z = sum(w * centred_logits(v, t) for v, t, w in zip(videos, thresholds, weights, strict=True) if w > 0)
    probs = (1.0 / (1.0 + np.exp(-z))).astype(np.float32) * first.labeled[:, None, :]
    return VideoProbs(first.video_id, first.lab_id, first.pairs, probs, first.labeled, first.fps)


def weight_grid(m: int) -> list[tuple[float, ...]]:
    step = 0.1 if m == 2 else 0.25
    n = round(1 / step)
    return [tuple(k / n for k in c) for c in itertools.product(range(n + 1), repeat=m) if sum(c) == n]


# -- evidence -------------------------------------------------------------------------------------
def evidence(runs: list, store) -> list[list[VideoProbs]]:
    """Per member, VideoProbs of the videos every member can give honest predictions of (OOF or val)."""
    from mabe_train.cv import load_oof
    oof = [{v.video_id: v for v in load_oof(r.run_dir)} for r in runs]
    own = [set(o) if o else {int(x) for x in r.split.get("val", [])} for r, o in zip(runs, oof, strict=True)]
    shared = sorted(set.intersection(*own)) if own else []
    shared = [v for v in shared if v in {int(x) for x in store.videos["video_id"]}]
    out = []
    for r, o in zip(runs, oof, strict=True):
        out.append([o[v] for v in shared] if o else r.predict_probs(shared))
    return out


def tune_blend(runs: list, store, decode_cfg, log: Log = say) -> tuple[tuple[float, ...], dict, float]:
    """(weights, ensemble thresholds, evidence score); equal weights and 0.5 without evidence."""
    from mabe_train.calibrate import present_actions, tune_thresholds
    from mabe_train.gbdt.loaded import score_videos
    ev = evidence(runs, store)
    thr = [r.thresholds for r in runs]
    if not ev or not ev[0]:
        log("no shared out-of-fold or validation videos: equal weights, thresholds 0.5")
        return tuple([1.0 / len(runs)] * len(runs)), {}, float("nan")
    present = present_actions(store, [int(x) for x in store.videos["video_id"][store.videos["split"] == "train"]])
    best = (-1.0, None, None)
    for w in weight_grid(len(runs)):
        blended = [blend(list(vs), thr, w) for vs in zip(*ev, strict=True)]
        t = tune_thresholds(blended, store, config=decode_cfg, present=present)
        s = score_videos(blended, store, decode_cfg, t).score
        log(f"  weights {', '.join(f'{x:.2f}' for x in w)}: {s:.4f} on {len(blended)} videos")
        if s > best[0]:
            best = (s, w, t)
    return best[1], best[2], best[0]


def default_thresholds(runs: list) -> dict[tuple[str, str], float]:
    """Without evidence: 0.5 (every member's boundary, after centring), NEVER where all members say NEVER."""
    keys = {k for r in runs for k in r.thresholds}
    return {k: NEVER if all(r.thresholds.get(k, NEVER) >= NEVER for r in runs) else 0.5 for k in keys}


# -- the run ---------------------------------------------------------------------------------------
def make_ensemble(members: list[str | Path], out: str | Path, *, weights: list[float] | None = None,
                  overwrite: bool = False, log: Log = say) -> Path:
    """Write ensemble run `out` over `members` (run directories of any kind)."""
    from mabe_train.run import load_run, write_atomic
    if len(members) < 2:
        raise EnsembleError("an ensemble needs at least 2 runs")
    if weights is not None and (len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0):
        raise EnsembleError(f"--weights needs {len(members)} non-negative values, not all 0; got {weights}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite or not (out / "run.json").exists():
            raise EnsembleError(f"{out} exists — pass --overwrite to replace an ensemble, or another --out")
        shutil.rmtree(out)
    runs = [load_run(m, progress=False) for m in members]
    store, decode_cfg = runs[0].store, runs[0].cfg.pairs.decode
    if weights is None:
        w, thr, score = tune_blend(runs, store, decode_cfg, log=log)
    else:
        w, thr, score = tuple(x / sum(weights) for x in weights), {}, float("nan")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "split.json"):
        shutil.copyfile(Path(members[0]) / name, out / name)
    marker = json.loads((Path(members[0]) / "run.json").read_text())
    write_atomic(out / "run.json", json.dumps({**{k: marker[k] for k in ("task", "keypoints", "n_mice")},
                                               "kind": ENSEMBLE, "members": [str(Path(m).resolve()) for m in members],
                                               "weights": list(w)}, indent=1))
    artefact = {"epoch": 1, **thresholds_artefact(thr or default_thresholds(runs), score)}
    write_atomic(out / THRESHOLDS_FILE, json.dumps(artefact, indent=1))
    log(f"weights {', '.join(f'{x:.2f}' for x in w)}; evidence score {score:.4f}")
    return out


@dataclass
class EnsembleRun:
    """An ensemble behind the LoadedRun interface (`predict_probs`, `thresholds`, `task.validate`)."""

    run_dir: Path
    cfg: object
    split: dict
    store: object
    members: list
    weights: tuple[float, ...]
    artefacts: dict
    centred: bool = True  # False: members share one scale (cv folds): log-odds averaged as they are
    device: torch.device = torch.device("cpu")
    epoch: int = 1
    model: object = None

    @property
    def task(self):
        from mabe_train.gbdt.loaded import ScoredValidation
        return ScoredValidation(self)

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list[VideoProbs]:
        ids = list(video_ids)
        extra = {"default_actions": default_actions} if default_actions else {}
        per = [m.predict_probs(ids, progress=progress, **extra) for m in self.members]
        thr = [m.thresholds if self.centred else {} for m in self.members]  # {}: centred at 0.5, i.e. not
        return [blend(list(vs), thr, self.weights) for vs in zip(*per, strict=True)]

    @property
    def thresholds(self) -> dict[tuple[str, str], float]:
        return thresholds_from_artefact(self.artefacts[THRESHOLDS_FILE])


def load_ensemble(run_dir: Path, *, data_dir=None, device=None, progress: bool = True) -> EnsembleRun:
    from mabe_train.config import load_config
    from mabe_train.run import load_run
    from mabe_train.split import load_split
    meta = json.loads((run_dir / "run.json").read_text())
    meta["members"] = [str(run_dir / m) if not Path(m).is_absolute() else m for m in meta["members"]]
    missing = [m for m in meta["members"] if not Path(m).is_dir()]
    if missing:
        raise EnsembleError(f"ensemble {run_dir}: member run(s) {', '.join(missing)} are gone — "
                            "rebuild it with `mabe-train ensemble`")
    members = [load_run(m, device=device, data_dir=data_dir, progress=progress) for m in meta["members"]]
    cfg = load_config(run_dir / "config.yaml", [f"data.data_dir={data_dir}"] if data_dir else [])
    artefacts = {THRESHOLDS_FILE: json.loads((run_dir / THRESHOLDS_FILE).read_text())}
    return EnsembleRun(run_dir, cfg, load_split(run_dir / "split.json"), members[0].store, members,
                       tuple(meta["weights"]), artefacts, meta.get("centred", True))
