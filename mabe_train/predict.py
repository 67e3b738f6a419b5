"""A trained pairs run -> a Kaggle submission for every video of one split of a store.

`predict_run` loads the run (`mabe_train.runs.registry.load_run`: config, checkpoint — `best` by default —
and the decoding thresholds tuned on its validation videos, which the checkpoint carries), predicts
every labeled ordered pair of every
video of the split (self pairs included; pairs no triple names can never score, so they are
skipped), decodes and writes the CSV through `mabe_train.submission.write_submission`, which
refuses any row the metric would reject or ignore. The triples a video may receive come from the
store's `labeled` table, i.e. the clean `behaviors_labeled` entries of train.csv or test.csv.
When the split's videos have annotations (a held-out train split), the official score is returned
as well, so one command both writes and checks a submission, with a label saying what was scored.
`--split val` means the videos the run may be scored on (`Run.held_out`): a single run's
validation videos, a cv run's out-of-fold predictions, an ensemble's members' held-out videos,
blended; any other split that holds videos the run trained on says how many.

A lab's own store (`mabe-store import`) has videos that label nothing. With `--split all` (every
video) or `--actions`, such a video is predicted for every pair of its mice and every action the
run knows (an action with a tuned threshold in some lab), or only the `--actions` given; a lab the
run never saw is decoded with each action's median threshold over the labs it did see. Without
them (the Kaggle splits) an unlabeled video is skipped: the metric ignores every row of it.

With `--split all` or `--actions` (a lab's own videos) no interval covers a frame where its pair
is not tracked (`mabe_train.tracked`): the model's output there describes the fill value, not a
mouse. The Kaggle splits (test, val, train) keep the decoded intervals as they are: the
competition's annotators labelled frames where the tracker lost a mouse, the metric scores them,
and `evaluate` (which tunes and reports on the same decoding) must agree with `predict`; cutting
them lowered the official score of a synthetic cv ensemble from 0.3363 to 0.3279 on its
validation videos (tests/mabe_train/test_cv_pairs.py's ensemble). `mabe-train report` cuts every
predictions file to tracked frames either way.

Trade-off: a submission must not be empty (the metric rejects it), and a model that emits nothing
on a whole Kaggle split has failed; we raise rather than pad the file with guesses. On a lab's own
videos (`--split all` or `--actions`) nothing detected is an answer: the CSV is written with its
header only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mabe_train.decode import NEVER, decode
from mabe_train.metric import score as official_score
from mabe_train.pairs import PairsError
from mabe_train.run import pick_device
from mabe_train.runs.files import SPLIT_FILE, RunError
from mabe_train.runs.registry import load_run
from mabe_train.split import load_split
from mabe_train.submission import (
    SUBMISSION_COLUMNS,
    labeled_entries,
    mouse_text,
    solution_from_store,
    write_submission,
)
from mabe_train.tracked import clip_to_tracked
from mabe_train.vocab import MABE, Vocabulary, group_of, vocabulary_of


@dataclass
class Prediction:
    path: Path
    n_videos: int  # videos of the split
    n_scored_videos: int  # of them, videos that label at least one triple
    n_rows: int
    score: float | None  # official score when the split has annotations, else None
    scored: str | None = None  # what the score is of (held-out, out-of-fold, or with training videos)


def split_video_ids(store, split: str, run_dir: str | Path | None = None) -> list[int]:
    """Video ids of the store's `split` (train | test), `all` of them, or `val`: the run's validation videos.

    `val` reads the run's split.json (the videos `Run.held_out` may cover), checked against the
    store. PairsError names the splits there are.
    """
    if split == "val":
        path = Path(run_dir or ".") / SPLIT_FILE
        if not path.exists():
            raise PairsError(f"no {path}: `--split val` needs the run directory printed by `mabe-train run`")
        ids = [int(x) for x in load_split(path)["val"]]
        known = set(store.videos["video_id"].tolist())
        missing = [x for x in ids if x not in known]
        if missing:
            raise PairsError(f"{len(missing)} validation video(s) of the run are not in {store.path} "
                             f"(e.g. {missing[0]}) — pass the store the run was trained on")
        return ids
    v = store.videos
    ids = [int(x) for x in v["video_id"][(v["split"] == split) | (split == "all")]]
    if not ids:
        have = sorted(set(v["split"].tolist()))
        raise PairsError(f"{store.path} has no `{split}` videos (splits: {', '.join(have) or 'none'})"
                         " — pick another --split or build the store with that split")
    return ids


def _writable_parent(path: Path, option: str) -> None:
    """Create `path`'s folder before any work, so a bad output path fails in a second, not after predicting."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PairsError(f"cannot write {path} ({e.strerror}) — pass {option} a path in a writable folder") from None
    if path.is_dir():
        raise PairsError(f"{path} is a directory — pass {option} a file name such as submission.csv")


def known_actions(thresholds, actions=None, vocab: Vocabulary = MABE) -> list[str]:
    """What to predict where a video labels nothing: `actions` (checked against the store's
    vocabulary, which the run's matches), else every action the run has a tuned threshold for in some lab."""
    if actions:
        bad = [a for a in actions if a not in vocab.index]
        if bad:
            raise PairsError(f"unknown --actions {', '.join(bad)} — choose from {', '.join(vocab.actions)}")
        return list(actions)
    return sorted({a for (_, a), t in thresholds.items() if t < NEVER})


def entries_of(videos) -> dict[str, set[str]]:
    """video_id (text) -> the "agent,target,action" entries its VideoProbs may emit."""
    return {str(v.video_id): {",".join((*mouse_text(a, t), v.vocab.actions[k]))
                              for (a, t), row in zip(v.pairs, v.labeled, strict=True) for k in np.flatnonzero(row)}
            for v in videos}


def _header_only(out: str | Path) -> Path:
    """A lab's videos where nothing was detected: the submission columns and no row."""
    Path(out).write_text(",".join(SUBMISSION_COLUMNS) + "\n")
    return Path(out)


def nothing_predicted(n_ids: int, split: str, n_labeling: int) -> str:
    """Why a Kaggle split got no interval, and what to do."""
    if n_labeling == 0:
        return (f"none of the {n_ids} `{split}` videos labels a behaviour (behaviors_labeled is empty), so "
                "there is nothing to predict — pass --split all or --actions A,B to predict the run's "
                "behaviours on every pair of their mice")
    return (f"the model predicts no interval on the {n_ids} `{split}` videos at its tuned thresholds "
            "— train longer or check that the store matches the run")


def predict_run(run_dir: str | Path, store_path: str | Path, out: str | Path, *, split: str = "test",
                checkpoint: str = "best", device: str = "cpu", progress: bool = True,
                solution_out: str | Path | None = None, actions: list[str] | None = None,
                storage_options: dict | None = None) -> Prediction:
    """Write `out` (Kaggle CSV) for every video of `split`; see the module docstring.

    `solution_out`, when given and the split has annotations, also writes the solution CSV that
    `mabe-train score --solution` reads (the metric's solution columns).
    """
    for path, option in ((out, "--out"), (solution_out, "--solution-out")):
        if path is not None:
            _writable_parent(Path(path), option)
    try:
        pick_device(device)
    except RunError as e:  # name the option the user typed
        raise PairsError(str(e).replace("device", "--device", 1)) from None
    run = load_run(run_dir, checkpoint, device=device, data_dir=store_path, progress=progress,
                   storage_options=storage_options)
    thresholds, store = run.thresholds, run.store
    ids = split_video_ids(store, split, run_dir)
    own = split == "all" or bool(actions)
    if split == "val":
        held = run.held_out()
        videos, ids, scored = held.videos, [v.video_id for v in held.videos], held.label
    else:
        videos = run.predict_probs(ids, progress=progress,
                                   default_actions=known_actions(thresholds, actions, vocabulary_of(store))
                                   if own else None)
        scored = trained_on_label(run, ids)
    sub = decode(videos, run.decode_config, thresholds)
    if own:  # a lab's videos: no behaviour where the pair is untracked (Kaggle splits: see the docstring)
        sub = clip_to_tracked(sub, store, run.decode_config.scale)
    if sub.height == 0 and not own:
        raise PairsError(nothing_predicted(len(ids), split, len(videos)))
    entries = labeled_entries(store, ids)
    entries.update({vid: e for vid, e in entries_of(videos).items() if not entries.get(vid)})
    path = write_submission(sub, out, entries, group_of(vocabulary_of(store))) if sub.height else _header_only(out)
    solution = solution_from_store(store, ids)
    score = None
    if solution.height and sub.height:
        if solution_out is not None:
            solution.write_csv(solution_out)
        score = float(official_score(solution, sub, exclusive=group_of(vocabulary_of(store))))
    return Prediction(Path(path), len(ids), len(videos), sub.height, score, scored if score is not None else None)


def trained_on_label(run, ids) -> str:
    """What a score on `ids` is of: held-out videos, or how many of them the run trained on."""
    trained = {int(v) for v in run.split.get("train", [])} & {int(v) for v in ids}
    if not trained:
        return "videos the run did not train on"
    return f"{len(trained)} of these {len(ids)} videos were training videos of the run: not a held-out score"
