"""Body geometry from pose keypoints, defined once for every model.

Why one home: the GBDT features (numpy, one video at a time) and the pair model's features (torch,
batched on the device) both need a mouse's centre, its heading and the speed of a point. Two
definitions drift apart (a group gains a point in one file, a fallback in the other), so the rules
live here and `mabe_train.geometry.arrays` (numpy) and `mabe_train.geometry.tensors` (torch)
implement the same rules; tests/mabe_train/test_geometry.py feeds both the same points with holes
and asserts the same numbers.

The rules (NaN = untracked throughout; keypoints are looked up by name in the store's layout, and a
point the store has no slot for is simply never tracked):
- a group's centroid is the mean of its points that are tracked on that frame, x and y each on its
  own; NaN on a frame where none is. The points are summed in the group's order (fixed here, so
  both implementations round alike).
- the body centre is `body_center`, else the centroid of the `TORSO`, else of every point.
- the heading is the unit vector from the tail end (`TAIL_END` centroid, else the body centre) to
  the head end (`HEAD_END` centroid); NaN when the two are closer than `MIN_DIRECTION_CM` or either is
  unknown. `hold=True` carries the last known heading over untracked frames (a frame of
  reference stays defined through a gap); `hold=False` leaves them unknown.
- a velocity (rate of change) is a difference over a span of frames scaled to per second, so a
  10 fps and a 120 fps lab see the same cm/s: `Velocity(span_s, centred)` names the time span and
  whether the difference is centred on the frame or ends at it. A frame without both ends is NaN.
- a turn rate (angular velocity) is the heading's turn over a `Velocity` span, per second.
  `unwrapped=False`: the signed angle from the heading at the span's start to the one at its end,
  the short way round, NaN unless both are known. `unwrapped=True`: the rate of the heading angle
  unwrapped frame to frame from the start (a turn of more than half a circle within a span counts
  in full; frames before the first known heading count as angle 0), NaN where the heading is unknown.

What may differ between models is a parameter here, set by the model's settings: the GBDT uses
`Velocity(0.1, centred=True)` (a tree sees one frame at a time, so the span smooths 120 fps
tracking jitter) and unwrapped turn rates, the pair model `Velocity(1/30, centred=False)` (one
frame at 30 fps) and short-way turns; which headings are held is each model's choice too.
Array dimensions are named in the docstrings, e.g. `(frames, keypoints, xy)`; the torch
implementation adds a leading `batch` dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

CENTRE_POINT = "body_center"
HEAD_END = ("nose", "ear_left", "ear_right", "neck", "head", "headpiece")
TAIL_END = ("tail_base", "hip_left", "hip_right")
TORSO = ("neck", "lateral_left", "lateral_right", "hip_left", "hip_right", "spine_1", "spine_2", "tail_base")
MIN_DIRECTION_CM = 1e-6  # a vector shorter than this has no direction (e.g. head end on tail end)


@dataclass(frozen=True)
class Velocity:
    """How a rate of change is taken: over ~`span_s` seconds, centred on the frame or ending at it."""

    span_s: float
    centred: bool

    def frames(self, fps: float) -> int:
        """The span in whole frames at `fps`: the nearest to span_s, at least 1 (centred: even, >= 2)."""
        step = 2 if self.centred else 1
        return step * max(1, round(fps * self.span_s / step))

    def lead(self, lag: int) -> int:
        """Frames after the frame a difference over `lag` frames is reported at (0: it ends there)."""
        return lag // 2 if self.centred else 0
