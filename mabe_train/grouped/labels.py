"""Frame classes of the grouped (V5) task: the 37 actions folded into 4 groups, with "unknown".

The original design mapped actions to other/social/mating/aggressive and called every frame
without an annotation `other` — including every frame of the unlabeled videos and frames of labs
that never annotate, say, mating. That teaches the model that an unwatched attack is background.
Here a frame's class is only used where the video's labels make it knowable:

* Groups are ranked other(0) < social(1) < mating(2) < aggressive(3); a frame with several active
  actions takes the highest-ranked group among them (so an attack during a sniff is aggressive).
* A video *covers* a group when its clean `behaviors_labeled` names at least one of the group's
  actions (the lab watched for that kind of behaviour). `other` is covered by definition.
* A frame's class c is known iff the video covers every group ranked above c: only then do we know
  that nothing more important happened. Otherwise the frame gets `IGNORE_INDEX` (-100) and the loss
  never sees it. In particular every frame of a video that labels nothing is ignored, a frame with
  no annotation is `other` only in videos that cover social, mating and aggressive, and an active
  aggressive action is always known.
* `assume_absent` (config `data.assume_absent`) names groups to treat as covered by every labeled
  video — an explicit, documented relaxation for data where a lab's silence is trusted.

Trade-off: on the real data only ~18% of labeled videos cover all three groups, so far fewer
`other` frames are trained than in the original design — fewer but correct labels.
"""

from __future__ import annotations

import numpy as np

from mabe_store.vocabulary import MABE
from mabe_train import MabeTrainError

GROUPS: tuple[str, ...] = ("other", "social", "mating", "aggressive")  # class index = rank
IGNORE_INDEX = -100

_SOCIAL = (
    "allogroom", "approach", "avoid", "disengage", "dominancegroom", "escape", "flinch", "follow",
    "reciprocalsniff", "shepherd", "sniff", "sniffbody", "sniffface", "sniffgenital",
)
_MATING = ("attemptmount", "ejaculate", "intromit", "mount")
_AGGRESSIVE = ("attack", "chase", "chaseattack", "defend", "dominance", "dominancemount", "submit", "tussle")
# Self actions (biteobject, climb, dig, ..., selfgroom) are `other`.
DEFAULT_LABEL_GROUPS: dict[str, str] = {
    a: ("social" if a in _SOCIAL else "mating" if a in _MATING
        else "aggressive" if a in _AGGRESSIVE else "other")
    for a in MABE.actions
}


class LabelError(MabeTrainError, ValueError):
    """label_groups does not map the store's actions onto GROUPS."""


def group_matrix(label_groups: dict[str, str], actions=MABE.actions) -> np.ndarray:
    """(A, G) 0/1 matrix: action a belongs to group g; actions: the store's (grouped/task passes
    `store.action_names`). Raises LabelError listing every problem."""
    problems = [f"action {a!r} has no group" for a in actions if a not in label_groups]
    problems += [f"{a!r}: unknown group {g!r} (use one of {', '.join(GROUPS)})"
                 for a, g in label_groups.items() if g not in GROUPS]
    problems += [f"{a!r} is not an action of the store" for a in label_groups if a not in actions]
    if problems:
        hint = ("" if set(actions) <= set(MABE.actions) else
                " (the default groups map MABe's actions: give grouped.label_groups for the store's own "
                "behaviours, or train them with `task: pairs`)")
        raise LabelError("invalid data.label_groups: " + "; ".join(problems) + hint)
    m = np.zeros((len(actions), len(GROUPS)), dtype=bool)
    for i, a in enumerate(actions):
        m[i, GROUPS.index(label_groups[a])] = True
    return m


def covered_groups(labeled_actions: np.ndarray, groups: np.ndarray, assume_absent=()) -> np.ndarray:
    """(G,) bool: the video labels at least one action of each group (`other` always True)."""
    labeled = np.asarray(labeled_actions).astype(bool)
    cov = (labeled[:, None] & groups).any(axis=0)
    cov[0] = True
    if labeled.any():
        for g in assume_absent:
            cov[GROUPS.index(g)] = True
    return cov


def frame_classes(actions: np.ndarray, labeled_actions: np.ndarray, groups: np.ndarray,
                  assume_absent=()) -> np.ndarray:
    """(T,) int8 classes of one video's frames, IGNORE_INDEX where unknown (see module doc).

    actions: (T, A) uint8 frame labels; labeled_actions: (A,) the video's labeled mask.
    """
    n_groups = groups.shape[1]
    if not np.asarray(labeled_actions).any():
        return np.full(len(actions), IGNORE_INDEX, dtype=np.int16)
    active = actions.astype(bool) @ groups  # (T, G) any action of the group active
    rank = np.arange(n_groups)
    cls = np.where(active, rank, 0).max(axis=1)  # highest active group, 0 (other) when none
    cov = covered_groups(labeled_actions, groups, assume_absent)
    # known iff every group ranked above the class is covered: suffix-all over the ranks
    above_ok = np.ones(n_groups, dtype=bool)
    for g in range(n_groups - 2, -1, -1):
        above_ok[g] = above_ok[g + 1] and cov[g + 1]
    return np.where(above_ok[cls], cls, IGNORE_INDEX).astype(np.int16)
