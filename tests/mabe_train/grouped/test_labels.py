"""Grouped frame classes: priority among groups, and frames whose group cannot be known ignored."""

import numpy as np
import pytest

from mabe_store.constants import ACTION_INDEX, ACTIONS, SELF_ACTIONS
from mabe_train.grouped.labels import (
    DEFAULT_LABEL_GROUPS,
    GROUPS,
    IGNORE_INDEX,
    LabelError,
    frame_classes,
    group_matrix,
)

G = group_matrix(DEFAULT_LABEL_GROUPS)
OTHER, SOCIAL, MATING, AGGR = range(4)


def mask(*actions):
    m = np.zeros(len(ACTIONS), dtype=np.uint8)
    for a in actions:
        m[ACTION_INDEX[a]] = 1
    return m


def frames(*rows):
    return np.stack([mask(*r) for r in rows])


ALL = mask("sniff", "mount", "attack", "rear")


def test_priority_aggressive_over_mating_over_social_over_other():
    acts = frames((), ("rear",), ("sniff",), ("sniff", "mount"), ("mount", "attack", "sniff"), ("rear", "sniff"))
    assert frame_classes(acts, ALL, G).tolist() == [OTHER, OTHER, SOCIAL, MATING, AGGR, SOCIAL]


def test_unlabeled_video_is_entirely_ignored_even_with_annotations():
    acts = frames((), ("sniff",), ("attack",))
    assert (frame_classes(acts, mask(), G) == IGNORE_INDEX).all()


def test_frames_are_ignored_when_a_higher_group_is_not_covered():
    labeled = mask("sniff", "attack")  # the video never labels mating
    acts = frames((), ("sniff",), ("attack",))
    # 'other' and 'social' could hide an unlabeled mount; 'aggressive' is above mating, so known
    assert frame_classes(acts, labeled, G).tolist() == [IGNORE_INDEX, IGNORE_INDEX, AGGR]


def test_social_only_video_knows_nothing_below_aggressive_unless_assumed_absent():
    labeled, acts = mask("sniff"), frames((), ("sniff",))
    assert frame_classes(acts, labeled, G).tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    relaxed = frame_classes(acts, labeled, G, assume_absent=("mating", "aggressive"))
    assert relaxed.tolist() == [OTHER, SOCIAL]


def test_default_groups_cover_every_action_and_self_actions_are_other():
    assert set(DEFAULT_LABEL_GROUPS) == set(ACTIONS)
    assert all(DEFAULT_LABEL_GROUPS[a] == "other" for a in SELF_ACTIONS)
    for a, g in (("sniff", "social"), ("approach", "social"), ("follow", "social"), ("allogroom", "social"),
                 ("mount", "mating"), ("intromit", "mating"), ("attemptmount", "mating"),
                 ("ejaculate", "mating"), ("attack", "aggressive"), ("chase", "aggressive"),
                 ("chaseattack", "aggressive"), ("tussle", "aggressive"), ("dominance", "aggressive")):
        assert DEFAULT_LABEL_GROUPS[a] == g
    assert set(DEFAULT_LABEL_GROUPS.values()) == set(GROUPS)


def test_bad_label_groups_list_every_problem():
    groups = dict(DEFAULT_LABEL_GROUPS)
    del groups["sniff"]
    groups["attack"] = "violent"
    groups["dance"] = "social"
    with pytest.raises(LabelError) as e:
        group_matrix(groups)
    assert all(s in str(e.value) for s in ("'sniff' has no group", "'violent'", "'dance'"))
