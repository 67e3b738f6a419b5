"""The one in-memory shape every reader returns, and the errors a reader raises.

A `Poses` is what DeepLabCut, SLEAP and movement files have in common: positions named by
individual and keypoint, an optional confidence per point, and maybe a frame rate. Readers only
translate a file into it; everything the store needs (which names go to which slot, which tracks
are mice, which points are dropped) is decided once, in `mabe_store.importers.raw`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mabe_store.errors import MabeStoreError, MissingExtra
from mabe_store.errors import require as require_extra


class ImportFailure(MabeStoreError):
    """One tracking file cannot be imported; the message is the one-line reason (without the path)."""


MissingDependency = MissingExtra  # a reader's optional package is missing: the whole command stops, in one line


@dataclass
class Poses:
    """Pose tracks of one video. Frame t is row t: frame numbers are positions, starting at 0."""

    position: np.ndarray  # (frames, individuals, keypoints, 2) float64, x then y, NaN where untracked
    confidence: np.ndarray | None  # (frames, individuals, keypoints) float64, or None when the file has none
    individuals: list[str]
    keypoints: list[str]
    fps: float | None = None
    source: str = ""  # the tracking software, for train.csv's tracking_method

    def __post_init__(self) -> None:
        problems = []
        p = self.position
        if p.ndim != 4 or p.shape[3] != 2:
            problems.append(f"positions have shape {p.shape}, expected (frames, individuals, keypoints, 2)")
        elif p.shape[1:3] != (len(self.individuals), len(self.keypoints)):
            problems.append(f"positions hold {p.shape[1]} individuals x {p.shape[2]} keypoints but the "
                            f"file names {len(self.individuals)} x {len(self.keypoints)}")
        if self.confidence is not None and self.confidence.shape != p.shape[:3]:
            problems.append(f"confidence has shape {self.confidence.shape}, positions {p.shape[:3]}")
        if len(set(self.individuals)) != len(self.individuals):
            problems.append("individual names repeat")
        if len(set(self.keypoints)) != len(self.keypoints):
            problems.append("keypoint names repeat")
        if problems:
            raise ImportFailure("mismatched lengths: " + "; ".join(problems))

    @property
    def n_frames(self) -> int:
        return int(self.position.shape[0])


def require(module: str):
    """Import an optional reader dependency, or fail in one line naming the extra that has it."""
    return require_extra(module, extra="io", feature="reading this format")


def text(values) -> list[str]:
    """Names stored as bytes (h5py, SLEAP) or str, as str."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel().tolist()]
