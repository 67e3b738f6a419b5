"""The store's keypoint layout as mabe_train sees it: read from the store's attrs, never assumed.

A store built with other keypoint slots (configs/store.yaml) has other feature columns: column
((mouse - 1) * K + k) * 2 + c for K slots. Every input width and every named keypoint the models
use comes from here, and a run records the layout it was trained on (run.json), so a run used on a
store with another layout fails with one line instead of a torch shape error.
"""

from __future__ import annotations

from dataclasses import dataclass

from mabe_store.reader import Store
from mabe_train import MabeTrainError


class LayoutError(MabeTrainError, ValueError):
    """A store whose keypoint layout does not fit the run or the task."""


@dataclass(frozen=True)
class Layout:
    keypoints: tuple[str, ...]  # slot names in column order
    n_mice: int

    @classmethod
    def of(cls, store: Store) -> Layout:
        return cls(tuple(store.keypoints), int(store.attrs.get("n_mice", 4)))

    @property
    def n_points(self) -> int:
        return self.n_mice * len(self.keypoints)

    @property
    def width(self) -> int:
        """Columns of the store's `features` array: x and y of every (mouse, slot)."""
        return 2 * self.n_points

    def index(self, name: str) -> int | None:
        """The slot of keypoint `name`, or None when the store has no such slot."""
        return self.keypoints.index(name) if name in self.keypoints else None

    def to_dict(self) -> dict:
        return {"keypoints": list(self.keypoints), "n_mice": self.n_mice}

    def check_same(self, other: Layout, what: str) -> None:
        """LayoutError (one line) when `other` (e.g. the run's) differs from this (the store's)."""
        if other != self:
            raise LayoutError(
                f"{what} was trained on {other.n_mice} mice x {len(other.keypoints)} keypoints "
                f"({', '.join(other.keypoints[:4])}, ...), the store has {self.n_mice} x "
                f"{len(self.keypoints)} ({', '.join(self.keypoints[:4])}, ...) — use a store built with "
                "the run's configs/store.yaml keypoints")


DEFAULT_LAYOUT = Layout(
    ("nose", "ear_left", "ear_right", "neck", "head", "headpiece", "body_center", "lateral_left",
     "lateral_right", "hip_left", "hip_right", "spine_1", "spine_2", "tail_base", "tail_midpoint",
     "tail_middle_1", "tail_middle_2", "tail_tip"), 4)
