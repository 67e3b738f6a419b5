"""Random (pair, window) training batches gathered with one vectorised index per batch.

A batch is B windows of W frames, each from one labeled ordered pair of one staged video:
rows `video_start[pair] + start + arange(W)` of the staged (n, 144) raw features and the same
frames of the pair's packed targets (mabe_train.pairs.labels). Features are *not* computed here:
the task turns the raw window into egocentric inputs on the training device (pairs.features).

Which windows: the metric averages F over labs and, inside a lab, over actions, so a rare action
of a small lab weighs as much as `sniff` in CalMS21. Uniform windows would almost never show it.
A share `positive_fraction` of each batch is centred (with a random offset) on a frame of an
annotated interval, choosing first a (lab, action) uniformly, then an interval of it uniformly;
the rest are uniform over frames with every lab weighted equally. Trade-off: the model sees rare
actions far more often than they occur, so its probabilities are biased upward; the per-lab,
per-action thresholds tuned on validation videos absorb that bias.

Windows never cross a video; a video shorter than W is padded by repeating its last frame, and the
padded frames get `valid` 0 so the loss ignores them. Deterministic per seed; `state_dict()` holds
the numpy generator state so a resumed run draws the same windows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch

from mabe_store.reader import Staged
from mabe_train.pairs.labels import PairSet, unpack_bits


@dataclass
class PairBatch:
    """One batch; tensors on the sampler's device. x: (B, W, 144) raw pixels (NaN = untracked)."""

    x: torch.Tensor
    agent: torch.Tensor  # (B,) 0-based
    target: torch.Tensor  # (B,)
    pix_per_cm: torch.Tensor  # (B,)
    fps: torch.Tensor  # (B,)
    y: torch.Tensor  # (B, W, A) float 0/1
    mask: torch.Tensor  # (B, W, A) float: 1 where the target is known (labeled action, real frame)
    pair: np.ndarray  # (B,) pair index into the PairSet
    start: np.ndarray  # (B,) first frame of the window


class PairSampler:
    """Infinite iterator of PairBatch over a PairSet of staged videos."""

    def __init__(self, staged: Staged, pairs: PairSet, *, lab: np.ndarray, fps: np.ndarray,
                 pix_per_cm: np.ndarray, window: int, batch_size: int, seed: int = 0,
                 positive_fraction: float = 0.5, device: str | torch.device = "cpu"):
        """lab, fps, pix_per_cm: (V',) per staged video (aligned with staged.starts)."""
        if pairs.n_pairs == 0:
            raise ValueError("no labeled pair in the staged videos — nothing to train on")
        self.window, self.batch_size = int(window), int(batch_size)
        self.positive_fraction = float(positive_fraction)
        self.pairs = pairs
        self.rng = np.random.default_rng(seed)
        self.step = 0
        dev = torch.device(device)
        self.features = torch.from_numpy(staged.features).to(dev)
        self.bits = torch.from_numpy(pairs.bits).to(dev)
        self.device = dev
        self.video_start = staged.starts[pairs.video]
        self.pix = torch.as_tensor(pix_per_cm[pairs.video], dtype=torch.float32, device=dev)
        self.fps = torch.as_tensor(fps[pairs.video], dtype=torch.float32, device=dev)
        self.mask = torch.as_tensor(pairs.mask, dtype=torch.float32, device=dev)
        pair_lab = np.unique(np.asarray(lab)[pairs.video], return_inverse=True)[1]
        self._uniform_p = self._lab_balanced(pair_lab, pairs.length.astype(np.float64))
        self._setup_positives(pair_lab)

    @staticmethod
    def _lab_balanced(group: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Probabilities proportional to `weight` inside each group, every group equal in total."""
        totals = np.bincount(group, weights=weight)
        p = weight / totals[group]
        return p / p.sum()

    def _setup_positives(self, pair_lab: np.ndarray) -> None:
        iv = self.pairs.intervals
        if len(iv) == 0:
            self._pos_p = None
            return
        key = pair_lab[iv[:, 0]] * 64 + iv[:, 1]  # (lab, action) of each interval
        self._pos_p = self._lab_balanced(np.unique(key, return_inverse=True)[1], np.ones(len(iv)))

    # -- drawing ----------------------------------------------------------------------------
    def _draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(pair, start) of n windows: positives first, then uniform ones."""
        n_pos = int(round(n * self.positive_fraction)) if self._pos_p is not None else 0
        iv = self.pairs.intervals[self.rng.choice(len(self.pairs.intervals), size=n_pos, p=self._pos_p)] \
            if n_pos else np.zeros((0, 4), dtype=np.int64)
        frame = iv[:, 2] + (self.rng.random(n_pos) * (iv[:, 3] - iv[:, 2])).astype(np.int64)
        pos_start = frame - self.rng.integers(0, self.window, size=n_pos)
        uni_pair = self.rng.choice(self.pairs.n_pairs, size=n - n_pos, p=self._uniform_p)
        span = np.maximum(self.pairs.length[uni_pair] - self.window + 1, 1)
        uni_start = (self.rng.random(n - n_pos) * span).astype(np.int64)
        pair = np.concatenate([iv[:, 0], uni_pair]).astype(np.int64)
        start = np.concatenate([pos_start, uni_start])
        return pair, np.clip(start, 0, np.maximum(self.pairs.length[pair] - self.window, 0))

    def gather(self, pair: np.ndarray, start: np.ndarray) -> PairBatch:
        """The batch of the given windows (also used by tests and evaluation)."""
        frames = start[:, None] + np.arange(self.window)[None, :]  # (B, W)
        length = self.pairs.length[pair][:, None]
        valid = frames < length
        frames = np.minimum(frames, length - 1)
        rows = torch.from_numpy(self.video_start[pair][:, None] + frames).to(self.device)
        lab_rows = torch.from_numpy(self.pairs.label_start[pair][:, None] + frames).to(self.device)
        p = torch.from_numpy(pair).to(self.device)
        valid_t = torch.from_numpy(valid).to(self.device, torch.float32)
        return PairBatch(
            x=self.features[rows], agent=torch.from_numpy(self.pairs.agent[pair]).to(self.device),
            target=torch.from_numpy(self.pairs.target[pair]).to(self.device),
            pix_per_cm=self.pix[p], fps=self.fps[p], y=unpack_bits(self.bits[lab_rows]),
            mask=valid_t[:, :, None] * self.mask[p][:, None, :], pair=pair, start=start)

    def __iter__(self):
        return self

    def next_batch(self) -> PairBatch:
        self.step += 1
        return self.gather(*self._draw(self.batch_size))

    __next__ = next_batch

    def state_dict(self) -> dict:
        """Plain types only (checkpoints load with weights_only=True)."""
        return {"step": self.step, "rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.rng.bit_generator.state = json.loads(state["rng"])
