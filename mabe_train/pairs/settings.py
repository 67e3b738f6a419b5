"""`pairs:` — the settings of the pair model's task, owned by it (mabe_train.pairs.task).

The input options (mirror, tta_flip, lab_input, harmonise_sides, time_stretch, common_fps) are explained in
mabe_train.pairs.augment. All are off by default: none won reproducibly on the semi-real held-out videos
(bench/semireal_seq.py, docs/results.md#pair-model-variants; common_fps 30, the closest, +0.016 on the mean of four
seeds against the same tree's base, one seed -0.03).
The decoder's clean-up (smoothing, minimum bout, gap filling) is `mabe_train.decode.DecodeConfig`,
validated there and nowhere else; this section only holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mabe_train.decode import DecodeConfig


def _demo_decode() -> DecodeConfig:
    return DecodeConfig(smooth=5, min_bout=3, max_gap=3)


@dataclass
class PairsSettings:
    positive_fraction: float = 0.5  # share of training windows centred on an annotated interval
    pos_weight: list[float] = field(default_factory=lambda: [1.0])  # BCE pos_weight: 1 value or 1 per action
    decode: DecodeConfig = field(default_factory=_demo_decode)  # thresholds are tuned per lab and action
    mirror: float = 0.0  # share of training windows mirrored left/right (pairs.augment)
    tta_flip: bool = False  # validation and predict average the probabilities of the input and its mirror
    lab_input: bool = False  # the video's lab as a one-hot input (pairs.augment.KNOWN_LABS; others: zeros)
    harmonise_sides: bool = False  # an untracked hip point takes the lateral point of its side, and back
    time_stretch: float = 0.0  # training windows resampled in time by a factor in [1-S, 1+S] (pairs.augment)
    common_fps: float = 0.0  # every window seen at this frame rate, outputs mapped back to the video's frames; 0 = off

    def problems(self) -> list[str]:
        p = []
        if not 0 <= self.positive_fraction <= 1:
            p.append(f"pairs.positive_fraction must be in [0, 1], got {self.positive_fraction}")
        if not 0 <= self.mirror <= 1:
            p.append(f"pairs.mirror is the share of training windows mirrored, in [0, 1], got {self.mirror}")
        if not 0 <= self.time_stretch < 1:
            p.append(f"pairs.time_stretch is the largest relative change of a window's speed, in [0, 1), "
                     f"got {self.time_stretch}")
        if not 0 <= self.common_fps <= 1000:
            p.append(f"pairs.common_fps is frames per second (0 = each video's own), in [0, 1000], got {self.common_fps}")
        if not self.pos_weight or min(self.pos_weight) <= 0:
            p.append("pairs.pos_weight needs positive values (BCE pos_weight), one or one per action of the store")
        return p

    def pos_weight_problem(self, n_actions: int) -> str | None:
        """The store's vocabulary is known only when the task is built (PairsTask checks it there)."""
        if len(self.pos_weight) not in (1, n_actions):
            return (f"pairs.pos_weight needs 1 or {n_actions} values (one per action of the store, in its "
                    f"order), got {len(self.pos_weight)}")
        return None
