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
scaled by each window's pix_per_cm (the inputs are raw pixels). Mirror augmentation (`pairs.mirror`,
pairs.augment), time stretch (`pairs.time_stretch`) and a common frame rate (`pairs.common_fps`):
`MirrorSampler`. No frame_gap, no temporal jitter:
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
from mabe_train.pairs.augment import mirror, stretch_window
from mabe_train.pairs.labels import PairSet, unpack_bits
from mabe_train.windows import BalancedStarts, Batch, Units, WindowSampler


class MirrorSampler(WindowSampler):
    """`WindowSampler` whose batches have a share `mirror` of their windows mirrored left/right
    (pairs.augment.mirror; labels unchanged: no action is handed), then every window resampled in
    time (pairs.augment.stretch_window) by a factor fps / common_fps (when common_fps > 0) times a
    uniform draw in [1 - time_stretch, 1 + time_stretch]. The draws come last in a batch, from the
    sampler's own generator, in a fixed order (B uniforms for the mirror when mirror > 0, then B
    for the stretch when time_stretch > 0), so `state_dict()` still resumes exactly."""

    def __init__(self, *args, mirror: float = 0.0, time_stretch: float = 0.0, common_fps: float = 0.0,
                 layout: Layout = DEFAULT_LAYOUT, **kwargs):
        super().__init__(*args, **kwargs)
        self.mirror, self.layout = float(mirror), layout
        self.time_stretch, self.common_fps = float(time_stretch), float(common_fps)

    def next_batch(self) -> Batch:
        batch = super().next_batch()
        b = len(batch.unit)
        if self.mirror > 0:
            which = torch.from_numpy(self.rng.random(b) < self.mirror)
            batch = replace(batch, x=mirror(batch.x, self.layout, which))
        factor = np.ones(b)
        if self.time_stretch > 0:
            factor = self.rng.uniform(1 - self.time_stretch, 1 + self.time_stretch, b)
        if self.common_fps > 0:
            factor = factor * self._fps[batch.video.cpu().numpy()] / self.common_fps
        if self.time_stretch <= 0 and self.common_fps <= 0:
            return batch
        return stretch_window(batch, torch.from_numpy(factor.astype(np.float32)))


def pair_sampler(staged: Staged, pairs: PairSet, *, lab: np.ndarray, fps: np.ndarray, pix_per_cm: np.ndarray,
                 window: int, batch_size: int, seed: int = 0, positive_fraction: float = 0.5,
                 noise_std: float = 0.0, mirror: float = 0.0, time_stretch: float = 0.0,
                 common_fps: float = 0.0, layout: Layout = DEFAULT_LAYOUT) -> WindowSampler:
    """lab, fps, pix_per_cm: (V',) per staged video (aligned with staged.starts); noise_std in cm;
    mirror: the share of windows mirrored left/right (layout names the left/right slots);
    time_stretch, common_fps: the time resampling of `MirrorSampler` (0: off)."""
    if pairs.n_pairs == 0:
        raise PairsError("no labeled pair in the staged videos — nothing to train on")
    units = Units(staged.starts[pairs.video], pairs.label_start, pairs.length, pairs.video)
    policy = BalancedStarts(pairs.length, np.asarray(lab)[pairs.video], pairs.intervals, window, positive_fraction)
    return MirrorSampler(staged.features, pairs.bits, units, policy, fps=fps, pix_per_cm=pix_per_cm,
                         window=window, batch_size=batch_size, seed=seed, noise_std=noise_std,
                         noise_in_pixels=True, mirror=mirror, time_stretch=time_stretch,
                         common_fps=common_fps, layout=layout)


def pair_targets(batch: Batch, labeled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, mask), both (B, W, A) float on `labeled`'s device: the unpacked 0/1 targets, and 1 where
    the target is known (an action the pair labels, on a real frame). labeled: (P, A) float per pair."""
    dev = labeled.device
    valid, unit = batch.valid.to(dev, non_blocking=True), batch.unit.to(dev, non_blocking=True)
    mask = valid.to(torch.float32)[:, :, None] * labeled[unit][:, None, :]
    return unpack_bits(batch.y.to(dev, non_blocking=True), labeled.shape[-1]), mask
