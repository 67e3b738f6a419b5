"""`mabe-train ensemble RUN... --out E`: a run directory that blends other runs' probabilities.

The blend is the one rule of mabe_train.runs.blend (centred log-odds: each member's probability
centred on its own (lab, action) threshold, weighted, back through a sigmoid); the ensemble then
tunes its own per-(lab, action) thresholds (mabe_train.calibrate) on the evidence below.

Evidence for blend weights and thresholds: every member's held-out probabilities (`Run.held_out`:
out-of-fold predictions of a `mabe-train cv` member, the validation videos of a single run) on the
videos the members share. Weights: a grid over the simplex (step 0.1 for 2 members, 0.25 for 3+),
each candidate scored with the official metric after its own threshold tuning; without shared
evidence, equal weights and every member's thresholds centred at 0.5. The ensemble's own held-out
figure is that same evidence, blended: no member trained on it, but weights and thresholds were
picked on it (its label says so).

    E/run.json        kind: ensemble, members (absolute paths, or relative to E: a bundle copies
                      them into E/members/), weights, centred
    E/config.yaml     the first member's config (decoding settings, store)
    E/split.json      the first member's split (loaded with `train` = every member's training
                      videos);  E/thresholds.json  the ensemble's thresholds
A sequence `mabe-train cv` run is an ensemble of its folds with `centred: false` and `cv: true` in
run.json (mabe_train.cv.kinds): one model's folds share a scale, so they are centred at 0.5 (their
log-odds averaged as they are), and its held-out figure is its out-of-fold predictions.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mabe_store.log import Log, say
from mabe_train.calibrate import present_actions, tune_thresholds
from mabe_train.decode import DecodeConfig
from mabe_train.pairs.scoring import score_videos
from mabe_train.run import load_config_for
from mabe_train.runs.blend import (
    AT_HALF,
    BlendError,
    blend,
    blend_all,
    centred_logits,
    default_thresholds,
    equal_weights,
    weight_grid,
)
from mabe_train.runs.files import (
    CONFIG_FILE,
    SPLIT_FILE,
    THRESHOLDS_FILE,
    fresh_dir,
    load_oof,
    read_marker,
    read_thresholds_file,
    save_thresholds,
    thresholds_content,
    write_marker,
)
from mabe_train.runs.protocol import OUT_OF_FOLD, HeldOut, StoredDecoding
from mabe_train.runs.registry import ENSEMBLE, LoadOptions, load_run
from mabe_train.split import load_split

EnsembleError = BlendError  # members that cannot be blended, or an ensemble that cannot be made
__all__ = ["ENSEMBLE", "EnsembleError", "EnsembleRun", "blend", "blend_of", "centred_logits", "default_thresholds",
           "load_ensemble", "make_ensemble", "weight_grid"]


# -- evidence -------------------------------------------------------------------------------------
def evidence(runs: list, store) -> list[list]:
    """Per member, its held-out VideoProbs of the videos every member has held out (and the store has)."""
    held = [r.held_out().by_id() for r in runs]
    known = {int(x) for x in store.videos["video_id"]}
    shared = sorted(v for v in set.intersection(*(set(h) for h in held)) if int(v) in known) if held else []
    return [[h[v] for v in shared] for h in held]


def tune_blend(runs: list, store, decode_cfg: DecodeConfig, log: Log = say) -> tuple[tuple[float, ...], dict, float]:
    """(weights, ensemble thresholds, evidence score); equal weights and 0.5 without evidence."""
    ev = evidence(runs, store)
    centres = [r.thresholds for r in runs]
    if not ev or not ev[0]:
        log("no shared out-of-fold or validation videos: equal weights, thresholds 0.5")
        return equal_weights(len(runs)), {}, float("nan")
    present = present_actions(store, [int(x) for x in store.videos["video_id"][store.videos["split"] == "train"]])
    best = (-1.0, None, None)
    for w in weight_grid(len(runs)):
        blended = blend_all(ev, centres, w)
        t = tune_thresholds(blended, store, config=decode_cfg, present=present)
        s = score_videos(blended, store, decode_cfg, t).score
        log(f"  weights {', '.join(f'{x:.2f}' for x in w)}: {s:.4f} on {len(blended)} videos")
        if s > best[0]:
            best = (s, w, t)
    return best[1], best[2], best[0]


# -- the run ---------------------------------------------------------------------------------------
def make_ensemble(members: list[str | Path], out: str | Path, *, weights: list[float] | None = None,
                  overwrite: bool = False, log: Log = say) -> Path:
    """Write ensemble run `out` over `members` (run directories of any kind)."""
    if len(members) < 2:
        raise EnsembleError("an ensemble needs at least 2 runs")
    if weights is not None and (len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0):
        raise EnsembleError(f"--weights needs {len(members)} non-negative values, not all 0; got {weights}")
    out = Path(out)
    fresh_dir(out, overwrite, error=EnsembleError).rmdir()  # checked (and emptied) now, written last
    runs = [load_run(m, progress=False) for m in members]
    store, decode_cfg = runs[0].store, runs[0].decode_config
    if weights is None:
        w, thr, score = tune_blend(runs, store, decode_cfg, log=log)
    else:
        w, thr, score = tuple(x / sum(weights) for x in weights), {}, float("nan")
    out.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, SPLIT_FILE):
        shutil.copyfile(Path(members[0]) / name, out / name)
    marker = read_marker(Path(members[0]))
    write_marker(out, ENSEMBLE, {**{k: marker[k] for k in ("task", "keypoints", "n_mice", "vocabulary") if k in marker},
                                 "members": [str(Path(m).resolve()) for m in members], "weights": list(w)})
    save_thresholds(out, thr or default_thresholds([r.thresholds for r in runs]), score)
    log(f"weights {', '.join(f'{x:.2f}' for x in w)}; evidence score {score:.4f}")
    return out


@dataclass
class EnsembleRun(StoredDecoding):
    """An ensemble (or a sequence cv run) behind the `Run` protocol (mabe_train.runs.protocol)."""

    run_dir: Path
    cfg: object
    split: dict
    store: object
    members: list
    weights: tuple[float, ...]
    artefacts: dict
    centred: bool = True  # False: members share one scale (cv folds): centred at 0.5
    cv: bool = False  # a `mabe-train cv` run: its held-out figure is its out-of-fold predictions
    kind: str = ENSEMBLE

    def _centres(self) -> list:
        return [m.thresholds if self.centred else AT_HALF for m in self.members]

    def predict_probs(self, video_ids, *, progress: bool = False, default_actions=None) -> list:
        ids = list(video_ids)
        extra = {"default_actions": default_actions} if default_actions else {}
        per = [m.predict_probs(ids, progress=progress, **extra) for m in self.members]
        return blend_all(per, self._centres(), self.weights)

    @property
    def checkpoint_label(self) -> str:
        return f"cv run of {len(self.members)} folds" if self.cv else f"ensemble of {len(self.members)} runs"

    def held_out(self) -> HeldOut:
        """A cv run: its out-of-fold predictions. An ensemble: its members' held-out probabilities on
        the videos they share, blended (its weights and thresholds were tuned on them)."""
        if self.cv:
            return HeldOut(load_oof(self.run_dir), OUT_OF_FOLD)
        ev = evidence(self.members, self.store)
        return HeldOut(blend_all(ev, self._centres(), self.weights) if ev and ev[0] else [],
                       "videos every member held out (out of fold or validation), blended; the ensemble's "
                       "weights and thresholds were tuned on them")


def members_split(first_split: dict, members: list) -> dict:
    """The ensemble's split: the first member's, with `train` the union of every member's training
    videos (what a score must not count as held out)."""
    train = sorted({int(v) for m in members for v in m.split.get("train", [])})
    return {**first_split, "train": train}


def blend_of(runs: list) -> EnsembleRun:
    """Several loaded runs as one in-memory ensemble: equal weights, each centred on its own
    thresholds, decoded at the blend's default thresholds (what `submit` does with a bundle of
    several runs; one run is returned as it is, so it decodes exactly as `predict`)."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    content = thresholds_content(default_thresholds([r.thresholds for r in runs]), float("nan"))
    return EnsembleRun(first.run_dir, first.cfg, members_split(first.split, runs), first.store, list(runs),
                       equal_weights(len(runs)),
                       {THRESHOLDS_FILE: content})


def load_ensemble(run_dir: Path, checkpoint: str, opts: LoadOptions) -> EnsembleRun:
    """The registry's loader of kind `ensemble` (use `load_run`): every member through `load_run`."""
    meta = read_marker(run_dir)
    paths = [str(run_dir / m) if not Path(m).is_absolute() else m for m in meta["members"]]
    missing = [m for m in paths if not Path(m).is_dir()]
    if missing:
        raise EnsembleError(f"ensemble {run_dir}: member run(s) {', '.join(missing)} are gone — "
                            "rebuild it with `mabe-train ensemble`")
    members = [load_run(m, device=opts.device, data_dir=opts.data_dir, progress=opts.progress,
                        storage_options=opts.storage_options) for m in paths]
    cfg = load_config_for(run_dir, LoadOptions(data_dir=opts.data_dir))
    content = read_thresholds_file(run_dir)
    return EnsembleRun(run_dir, cfg, members_split(load_split(run_dir / SPLIT_FILE), members), members[0].store, members,
                       tuple(meta["weights"]), {} if content is None else {THRESHOLDS_FILE: content},
                       meta.get("centred", True), bool(meta.get("cv")))
