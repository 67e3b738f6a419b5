"""Reference (test oracle): the Kaggle "MABe F Beta" metric, frame sets and all.

Source: the competition's metric code (`mouse_fbeta` / `single_lab_f1`, raising HostVisibleError),
as reproduced in public Kaggle notebooks, e.g. the GitHub mirror of
ravaghi/social-action-recognition-in-mice-xgboost. Its text is not copied into this repository;
this module re-states the same algorithm step for step (per-frame Python sets, keys
"video_agent_target_action", the whitelist from each video's first solution row, the
first-come overlap check, F = 0 when TP + FP + FN = 0) so that the vectorised metric in
mabe_train.metric has a slow, obvious twin. `golden_official.json` holds scores computed by the
original code itself on the seeded cases of `cases.py` (see make_golden.py).
"""

from __future__ import annotations

import json
from collections import defaultdict

import pandas as pd


class OfficialError(Exception):
    """Raised where the official metric raises (HostVisibleError / ValueError / AssertionError)."""


def _key(row) -> str:
    return "_".join(str(row[c]) for c in ("video_id", "agent_id", "target_id", "action"))


def _lab_f(sol: pd.DataFrame, sub: pd.DataFrame, beta: float) -> float:
    truth: dict[str, set[int]] = defaultdict(set)
    for _, r in sol.iterrows():
        truth[_key(r)].update(range(r.start_frame, r.stop_frame))
    pred: dict[str, set[int]] = defaultdict(set)
    for video in sol.video_id.unique():
        allowed = set(json.loads(sol[sol.video_id == video].behaviors_labeled.iloc[0]))
        by_pair: dict[str, set[int]] = defaultdict(set)
        for _, r in sub[sub.video_id == video].iterrows():
            if f"{r.agent_id},{r.target_id},{r.action}" not in allowed:
                continue
            frames = set(range(r.start_frame, r.stop_frame)) - pred[_key(r)]
            pair = f"{r.agent_id},{r.target_id}"
            if by_pair[pair] & frames:
                raise OfficialError("Multiple predictions for the same frame from one agent/target pair")
            pred[_key(r)] |= frames
            by_pair[pair] |= frames
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    for key in set(truth) | set(pred):
        action = key.split("_")[-1]
        tp[action] += len(pred[key] & truth[key])
        fp[action] += len(pred[key] - truth[key])
        fn[action] += len(truth[key] - pred[key])
    b2 = beta * beta
    fs = [(1 + b2) * tp[a] / ((1 + b2) * tp[a] + b2 * fn[a] + fp[a]) if tp[a] + fn[a] + fp[a] else 0.0
          for a in {k.split("_")[-1] for k in set(truth) | set(pred)}]
    return sum(fs) / len(fs)


def official_score(solution: pd.DataFrame, submission: pd.DataFrame, beta: float = 1.0) -> float:
    """Score like the official code; raises OfficialError where it raises."""
    if len(solution) == 0 or len(submission) == 0:
        raise OfficialError("Missing solution or submission data")
    for col in ("video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"):
        if col not in solution.columns or col not in submission.columns:
            raise OfficialError(f"missing column {col}")
    if (solution.start_frame > solution.stop_frame).any() or (submission.start_frame > submission.stop_frame).any():
        raise OfficialError("start_frame > stop_frame")
    submission = submission[submission.video_id.isin(set(solution.video_id))]
    scores = []
    for lab in solution.lab_id.unique():
        lab_sol = solution[solution.lab_id == lab]
        scores.append(_lab_f(lab_sol, submission[submission.video_id.isin(set(lab_sol.video_id))], beta))
    return sum(scores) / len(scores)
