"""Pair training windows: the shared `windows.WindowSampler` over labeled ordered pairs.

A unit is one labeled ordered pair of one staged video: its feature rows are the video's rows of
the staged (n, 144) raw pixels, its target rows the pair's packed targets (mabe_train.pairs.labels).
Features are *not* computed here: the task turns the raw window into egocentric inputs on the
training device (pairs.features), with the batch's `unit` selecting the pair's agent and target.

Which windows (`windows.BalancedStarts`): the metric averages F over labs and, inside a lab, over
actions, so a rare action of a small lab weighs as much as `sniff` in CalMS21. Uniform windows
would almost never show it. A share `positive_fraction` of each batch is centred (with a random
offset) on a frame of an annotated interval, choosing first a (lab, action) uniformly, then an
interval of it uniformly; the rest are uniform over frames with every lab weighted equally.
Trade-off: the model sees rare actions far more often than they occur, so its probabilities are
biased upward; the per-lab, per-action thresholds tuned on validation videos absorb that bias.

Windows never cross a video; a video shorter than W is padded by repeating its last frame, and
the padded frames are not `valid`, so the loss ignores them. Noise is the sampler's bank, in cm,
scaled by each window's pix_per_cm (the inputs are raw pixels). Mirror augmentation (`pairs.mirror`, pairs.augment): `MirrorSampler`. No frame_gap, no temporal jitter:
a shift of inputs against pair labels only blurs bout edges, which the metric scores frame by
frame, and the fps-aware features already put every lab's motion in per-second units.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from mabe_store.reader import Staged
from mabe_train.layout import DEFAULT_LAYOUT, Layout
from mabe_train.pairs import PairsError
from mabe_train.pairs.augment import mirror
from mabe_train.pairs.labels import PairSet, unpack_bits
from mabe_train.windows import BalancedStarts, Batch, Units, WindowSampler


class MirrorSampler(WindowSampler):
    """`WindowSampler` whose batches have a share `mirror` of their windows mirrored left/right
    (pairs.augment.mirror; labels unchanged: no action is handed). The mirror draw comes last in a
    batch, from the sampler's own generator (B uniforms), so `state_dict()` still resumes exactly."""

    def __init__(self, *args, mirror: float = 0.0, layout: Layout = DEFAULT_LAYOUT, **kwargs):
        super().__init__(*args, **kwargs)
        self.mirror, self.layout = float(mirror), layout

    def next_batch(self) -> Batch:
        batch = super().next_batch()
        if self.mirror <= 0:
            return batch
        which = torch.from_numpy(self.rng.random(len(batch.unit)) < self.mirror)
        return replace(batch, x=mirror(batch.x, self.layout, which))


def pair_sampler(staged: Staged, pairs: PairSet, *, lab: np.ndarray, fps: np.ndarray, pix_per_cm: np.ndarray,
                 window: int, batch_size: int, seed: int = 0, positive_fraction: float = 0.5,
                 noise_std: float = 0.0, mirror: float = 0.0, layout: Layout = DEFAULT_LAYOUT) -> WindowSampler:
    """lab, fps, pix_per_cm: (V',) per staged video (aligned with staged.starts); noise_std in cm;
    mirror: the share of windows mirrored left/right (layout names the left/right slots)."""
    if pairs.n_pairs == 0:
        raise PairsError("no labeled pair in the staged videos — nothing to train on")
    units = Units(staged.starts[pairs.video], pairs.label_start, pairs.length, pairs.video)
    policy = BalancedStarts(pairs.length, np.asarray(lab)[pairs.video], pairs.intervals, window, positive_fraction)
    return MirrorSampler(staged.features, pairs.bits, units, policy, fps=fps, pix_per_cm=pix_per_cm,
                         window=window, batch_size=batch_size, seed=seed, noise_std=noise_std,
                         noise_in_pixels=True, mirror=mirror, layout=layout)


def pair_targets(batch: Batch, labeled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, mask), both (B, W, A) float on `labeled`'s device: the unpacked 0/1 targets, and 1 where
    the target is known (an action the pair labels, on a real frame). labeled: (P, A) float per pair."""
    dev = labeled.device
    valid, unit = batch.valid.to(dev, non_blocking=True), batch.unit.to(dev, non_blocking=True)
    mask = valid.to(torch.float32)[:, :, None] * labeled[unit][:, None, :]
    return unpack_bits(batch.y.to(dev, non_blocking=True)), mask
