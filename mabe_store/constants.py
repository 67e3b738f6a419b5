"""Fixed vocabularies of the MABe 2025 data and of the store format.

Everything that both the store builder and its readers must agree on lives here, so that the
store's column order is defined once. The module needs only the standard library.
"""

from __future__ import annotations

from mabe_store.errors import MabeStoreError

FORMAT_VERSION = 2  # see mabe_store/format.py for what changed
N_MICE = 4
FRAME_SLACK = 1.5  # rows past FRAME_SLACK x the metadata's duration (+ 10 s) are corrupt frame numbers
GENERATION_FILE = "generation"  # a fresh build's id, beside zarr.json: readers notice a rebuild under them
N_COORDS = 2  # x, y

# The 37 actions of the competition, in the store's `actions` column order (alphabetical).
SELF_ACTIONS: tuple[str, ...] = (
    "biteobject", "climb", "dig", "exploreobject", "freeze", "genitalgroom", "huddle", "rear",
    "rest", "run", "selfgroom",
)
PAIR_ACTIONS: tuple[str, ...] = (
    "allogroom", "approach", "attack", "attemptmount", "avoid", "chase", "chaseattack", "defend",
    "disengage", "dominance", "dominancegroom", "dominancemount", "ejaculate", "escape", "flinch",
    "follow", "intromit", "mount", "reciprocalsniff", "shepherd", "sniff", "sniffbody",
    "sniffface", "sniffgenital", "submit", "tussle",
)
ACTIONS: tuple[str, ...] = tuple(sorted(SELF_ACTIONS + PAIR_ACTIONS))
ACTION_INDEX: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}

# The default 18 keypoint slots (configurable in configs/store.yaml). A body part whose name is a
# slot name goes into that slot; `headpiece` is the mean of AdaptableSnail's 8 headpiece_* points.
DEFAULT_KEYPOINTS: tuple[str, ...] = (
    "nose", "ear_left", "ear_right", "neck", "head", "headpiece", "body_center",
    "lateral_left", "lateral_right", "hip_left", "hip_right", "spine_1", "spine_2",
    "tail_base", "tail_midpoint", "tail_middle_1", "tail_middle_2", "tail_tip",
)

SPLITS: tuple[str, ...] = ("train", "test")


def feature_column(mouse_id: int, keypoint: int, coord: int, n_keypoints: int = 18) -> int:
    """Column of (mouse_id in 1..4, keypoint slot, coord 0=x/1=y) in the (N, 144) features."""
    return ((mouse_id - 1) * n_keypoints + keypoint) * N_COORDS + coord


def mouse_name(mouse_id: int) -> str:
    """`mouse3` for 3: the id form of train.csv's columns, behaviors_labeled and submissions."""
    return f"mouse{mouse_id}"


def entry_text(agent: int, target: int, action: str) -> str:
    """`mouse1,self,rear` / `mouse1,mouse2,sniff`: a clean behaviors_labeled entry, as the metric
    compares it verbatim."""
    return f"{mouse_name(agent)},{'self' if agent == target else mouse_name(target)},{action}"


def split_choice(value: str) -> tuple[str, ...]:
    """`--split`: ("train",), ("test",), or both for "all"; anything else names the choices."""
    if value == "all":
        return SPLITS
    if value in SPLITS:
        return (value,)
    raise MabeStoreError(f"--split must be train, test or all, got {value!r}")
