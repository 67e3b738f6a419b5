"""Training windows at memory speed from staged blocks, and whole-video prediction for validation.

One sampler serves every task. A task stages its videos once (`Store.load`: RAM, or a local
memory-mapped cache when the split does not fit), derives its blocks on top (the grouped task
normalises the coordinates in place and adds class targets; the pairs task keeps raw pixels and
packs per-pair targets) and describes its *units*: for the grouped task a unit is a video, for the
pairs task a labeled ordered pair of a video. A unit has a feature-row start, a target-row start,
a length and a video. A draw policy picks (unit, start) pairs — `UniformStarts`: uniform over every
start where the window fits; `BalancedStarts`: a share of windows centred on annotated intervals
with (group, class) balanced, the rest uniform with every group weighted equally — and
`WindowSampler` turns them into one vectorised index `rows[:, None] + arange(window) * frame_gap`
and ONE gather (torch `index_select`) on whatever device holds the blocks: CPU blocks are
`torch.from_numpy` views (zero-copy, memmaps too), device blocks are copied there once by
`to(device)`, after which only the window indices (one int64 array) cross the bus per step.

Windows never cross a unit. A unit shorter than the window is padded by repeating its last frame,
with `valid` False on the padded frames (`UniformStarts` never draws such units). The sampler's
whole randomness is one numpy Generator plus a pre-drawn noise bank that depends only on the seed,
so `state_dict()` (rng state, step, seed) resumes it exactly, on any device.

Per batch the host builds only B integers per field (unit, video, start, first feature row, first
target row), plus the frame-by-frame rows of the few windows clipped at a unit's end; features
and targets each come from one `index_select` over an overlapping window view (a contiguous copy
per window, as fast as numpy's row gather). Why: a B x W row index built for every window costs
~110 us more per batch of 64 x 100 (fastest batches 600 vs 487 us, the bare gather 469-520 us),
a fixed cost as large as a quarter of the copy. Measured on a shared 2-core CPU (load 7.9-9.7),
400k frames, batch 64 x 100, one thread, five fresh processes per variant, each timing the
sampler and a bare numpy gather in interleaved chunks (`bench/bench_train.py --sampler-only`):
fastest batch 0.96x the bare gather's rate (0.87x with the full row index), with V5's
augmentation (noise 0.01 + jitter 2) 0.54x: adding the noise is a second pass over the batch,
about as long as the gather.

Validation does not draw windows: `predict_video` slides windows over every frame of a video (all
`frame_gap` phases), averages the logits where windows overlap, and returns one row per frame.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from mabe_train import MabeTrainError


class DataError(MabeTrainError, ValueError):
    """The store holds no usable videos for the request; the message says what to change."""


# -- units and draw policies ----------------------------------------------------------------------
@dataclass
class Units:
    """What windows are drawn from: unit u covers feature rows `feature_start[u] + [0, length[u])`
    and target rows `target_start[u] + [0, length[u])` of frames of staged video `video[u]`."""

    feature_start: np.ndarray  # (U,) int64
    target_start: np.ndarray  # (U,) int64
    length: np.ndarray  # (U,) int64
    video: np.ndarray  # (U,) int64 index into the per-video tables (fps, pix_per_cm)

    @classmethod
    def videos(cls, starts: np.ndarray, lengths: np.ndarray) -> Units:
        """One unit per staged video, targets aligned row for row with the features."""
        starts = np.asarray(starts, dtype=np.int64)
        return cls(starts, starts, np.asarray(lengths, dtype=np.int64), np.arange(len(starts), dtype=np.int64))


def window_span(window: int, frame_gap: int) -> int:
    """Frames a window of `window` samples `frame_gap` apart covers."""
    return (window - 1) * frame_gap + 1


class UniformStarts:
    """Uniform over every (unit, start) where the whole window fits: each frame of a long unit is
    equally likely to be trained on (except within a window of the ends). Units shorter than the
    window are never drawn. Consumes one `integers(0, n_windows, size=n)` per batch."""

    def __init__(self, length: np.ndarray, span: int):
        self.n_starts = np.maximum(np.asarray(length, dtype=np.int64) - span + 1, 0)
        self._cum = np.cumsum(self.n_starts)
        self._first = self._cum - self.n_starts  # window number of each unit's start 0
        if len(self._cum) == 0 or self._cum[-1] == 0:
            raise DataError(f"no video is as long as a window ({span} frames) — lower "
                            "data.sequence_length or data.frame_gap")

    @property
    def n_windows(self) -> int:
        """Distinct window positions (the size of the space starts are drawn from)."""
        return int(self._cum[-1])

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(unit (n,), start frame inside the unit (n,))."""
        u = rng.integers(0, self._cum[-1], size=n)
        j = np.searchsorted(self._cum, u, side="right")
        return j, u - self._first[j]


def balanced(group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Probabilities proportional to `weight` inside each group, every group equal in total."""
    totals = np.bincount(group, weights=weight)
    p = weight / totals[group]
    return p / p.sum()


class BalancedStarts:
    """A share `positive_fraction` of each batch centred (random offset) on a frame of an
    annotated interval, choosing a (group, class) uniformly, then one of its intervals uniformly;
    the rest uniform over frames with every group weighted equally. Short units are drawn too
    (the sampler pads them). `group` (U,) is e.g. each unit's lab; `intervals` (K, 4) rows are
    (unit, class, start, stop). Other weights (action-balanced uniform windows, ...) fit here."""

    def __init__(self, length: np.ndarray, group: np.ndarray, intervals: np.ndarray, span: int,
                 positive_fraction: float = 0.5):
        self.length, self.span = np.asarray(length, dtype=np.int64), int(span)
        self.intervals, self.positive_fraction = np.asarray(intervals, dtype=np.int64), float(positive_fraction)
        group = np.unique(np.asarray(group), return_inverse=True)[1]
        self._uniform_p = balanced(group, self.length.astype(np.float64))
        self._pos_p = None
        if len(self.intervals):
            iv = self.intervals
            key = group[iv[:, 0]] * (int(iv[:, 1].max()) + 1) + iv[:, 1]  # (group, class) of each interval
            self._pos_p = balanced(np.unique(key, return_inverse=True)[1], np.ones(len(iv)))

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(unit, start) of n windows: positives first, then uniform ones; starts clipped into the unit."""
        w = self.span
        n_pos = int(round(n * self.positive_fraction)) if self._pos_p is not None else 0
        iv = self.intervals[rng.choice(len(self.intervals), size=n_pos, p=self._pos_p)] \
            if n_pos else np.zeros((0, 4), dtype=np.int64)
        frame = iv[:, 2] + (rng.random(n_pos) * (iv[:, 3] - iv[:, 2])).astype(np.int64)
        pos_start = frame - rng.integers(0, w, size=n_pos)
        uni = rng.choice(len(self.length), size=n - n_pos, p=self._uniform_p)
        uni_start = (rng.random(n - n_pos) * np.maximum(self.length[uni] - w + 1, 1)).astype(np.int64)
        unit = np.concatenate([iv[:, 0], uni]).astype(np.int64)
        start = np.concatenate([pos_start, uni_start])
        return unit, np.clip(start, 0, np.maximum(self.length[unit] - w, 0))


# -- batches --------------------------------------------------------------------------------------
@dataclass
class Batch:
    """One training batch, every field a tensor on the sampler's device.

    x (B, W, F) float32 feature rows (NaN untracked) plus noise; y (B, W, ...) target rows (integer
    targets as int64); valid (B, W) bool, False on padding past a short unit's end; unit, video,
    start (B,) int64 (start: the window's first frame inside its unit); fps, pix_per_cm (B,) float32.
    """

    x: torch.Tensor
    y: torch.Tensor
    valid: torch.Tensor
    unit: torch.Tensor
    video: torch.Tensor
    start: torch.Tensor
    fps: torch.Tensor
    pix_per_cm: torch.Tensor

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """A batch of `fn(field)` for every field (pinning, device moves)."""
        return replace(self, **{f.name: fn(getattr(self, f.name)) for f in fields(self)})


NOISE_BANK = 1 << 22  # float32 gaussians pre-drawn per sampler (16 MB), or twice a batch if larger
_NOISE_STREAM = 0x6E6F697365  # SeedSequence key: the bank's stream is independent of the draws


def noise_bank(seed: int, size: int, std: float) -> np.ndarray:
    """`size` float32 values N(0, std^2), a pure function of `seed` (so a resumed run rebuilds it)."""
    bank = np.random.default_rng([seed, _NOISE_STREAM]).standard_normal(size, dtype=np.float32)
    bank *= np.float32(std)
    return bank


def _tensor(a) -> torch.Tensor:
    """A numpy block (memmap included) as a zero-copy CPU tensor; tensors pass through."""
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(a if isinstance(a, np.ndarray) else np.asarray(a))


class WindowSampler:
    """Endless random windows of `units` over `features`/`targets` blocks; resumable.

    features (n, F) float32 and targets (m, ...) are numpy arrays or memmaps (wrapped zero-copy)
    or tensors; fps and pix_per_cm (V,) are per video. Augmentation: `temporal_jitter` J shifts
    each window's inputs by d in [-J, J] frames against its targets (clipped to the unit);
    `noise_std` adds gaussian noise, in feature units, or in cm scaled by each window's
    pix_per_cm when `noise_in_pixels` (raw-pixel features).

    Noise comes from a bank: `noise_bank(seed, max(NOISE_BANK, 2 * batch elements), std)` drawn
    once, and each batch adds the contiguous slice at a random offset (one integer from the
    sampler's generator). Why: drawing B x W x 144 fresh gaussians per batch (0.92 M at batch 64)
    cost ~8 ms, 20x the gather itself (4% of the gather rate); a slice and one add keep the sampler
    at over half of it. What it keeps: every element is N(0, std^2) and the elements of one batch are
    independent (distinct draws). What it gives up: batches draw from a finite pool — with
    2+ M offsets, two batches share an offset with odds ~1e-6 per pair, while overlapping slices
    put the same values on other (window, frame, coordinate) slots, shifted; a model cannot tie
    that to the data, since the windows are drawn independently of the offset. The bank costs
    16 MB and ~40 ms once per sampler. Resume stays exact: the bank depends only on the seed,
    which `state_dict()` carries.

    Per batch the generator is consumed in a fixed order: the policy's draw, then the jitter
    (B integers, when J > 0), then the noise offset (one integer, when noise_std > 0).
    """

    def __init__(self, features, targets, units: Units, policy, *, fps, pix_per_cm=None,
                 window: int, batch_size: int, seed: int = 0, frame_gap: int = 1,
                 temporal_jitter: int = 0, noise_std: float = 0.0, noise_in_pixels: bool = False):
        self.policy, self.window, self.batch_size, self.frame_gap = policy, int(window), int(batch_size), int(frame_gap)
        self.jitter, self.noise_std, self.noise_in_pixels = int(temporal_jitter), float(noise_std), noise_in_pixels
        self.features, self.targets = _tensor(features), _tensor(targets)
        n_videos = len(fps)
        self.units = Units(*(np.asarray(getattr(units, f.name), dtype=np.int64) for f in fields(units)))
        ppc = np.ones(n_videos) if pix_per_cm is None else pix_per_cm
        self._fps, self._ppc = np.asarray(fps, dtype=np.float32), np.asarray(ppc, dtype=np.float32)
        self._ppc_t = torch.from_numpy(self._ppc)  # on the blocks' device, to scale noise
        self._offsets = np.arange(self.window, dtype=np.int64) * self.frame_gap
        self.device = self.features.device
        self._windows, self._target_windows = self._window_view(self.features), self._window_view(self.targets)
        self._noise_n = self.batch_size * self.window * int(np.prod(self.features.shape[1:]))
        self._bank_size = max(NOISE_BANK, 2 * self._noise_n)
        self.rng = np.random.default_rng(seed)
        self.noise_seed, self._bank = seed, None
        self.step = 0

    @property
    def n_units(self) -> int:
        return len(self.units.length)

    @property
    def nbytes(self) -> int:
        """Bytes of the feature and target blocks (what `to(device)` copies)."""
        return sum(t.numel() * t.element_size() for t in (self.features, self.targets))

    def to(self, device: torch.device | str) -> WindowSampler:
        """Move the blocks to `device` once (in place); batches are then gathered there."""
        dev = torch.device(device)
        self.features, self.targets = self.features.to(dev), self.targets.to(dev)
        self._windows, self._target_windows = self._window_view(self.features), self._window_view(self.targets)
        self._ppc_t, self.device = self._ppc_t.to(dev), dev
        if self._bank is not None:
            self._bank = (self._bank[0], self._bank[1].to(dev))
        return self

    # -- drawing ----------------------------------------------------------------------------------
    def next_batch(self) -> Batch:
        unit, start = self.policy.draw(self.rng, self.batch_size)
        shift = self.rng.integers(-self.jitter, self.jitter + 1, size=(len(unit), 1)) if self.jitter else None
        offset = self.noise_offset() if self.noise_std > 0 else None
        self.step += 1
        return self.gather(unit, start, shift, offset)

    def noise_offset(self) -> int:
        """Start of this batch's noise values in the bank: one draw from the generator."""
        return int(self.rng.integers(0, self._bank_size - self._noise_n + 1))

    def bank(self) -> torch.Tensor:
        """The noise bank on the blocks' device (built on first use; see the class docstring)."""
        if self._bank is None or self._bank[0] != self.noise_seed:
            bank = torch.from_numpy(noise_bank(self.noise_seed, self._bank_size, self.noise_std))
            self._bank = (self.noise_seed, bank.to(self.device))
        return self._bank[1]

    def _upload(self, a: np.ndarray) -> torch.Tensor:
        """A host array on the device: a zero-copy view on a CPU; on CUDA through pinned memory
        (a copy from pageable memory waits until the GPU's queue is empty, as a `synchronize`
        does; a pinned copy is queued like a kernel)."""
        t = torch.from_numpy(a)
        if self.device.type == "cpu":
            return t
        return t.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else t.to(self.device)

    def _window_view(self, block: torch.Tensor) -> torch.Tensor | None:
        """(n - span + 1, W, ...) overlapping view of a block, entry s the window of rows s + k * frame_gap
        (a batch of whole windows is one `index_select` of B starts); None when the block is shorter."""
        span = window_span(self.window, self.frame_gap)
        if len(block) < span:
            return None
        return block.as_strided((len(block) - span + 1, self.window, *block.shape[1:]),
                                (block.stride(0), self.frame_gap * block.stride(0), *block.stride()[1:]))

    def _rows(self, which: np.ndarray, start: np.ndarray, shift: np.ndarray | None, block_start: np.ndarray,
              length: np.ndarray) -> np.ndarray:
        """(len(which) x W,) block rows of the windows `which`, frame by frame: frames past the unit's
        end repeat its last frame, shifted inputs are clipped into the unit."""
        if not len(which):
            return which
        rel = start[which, None] + self._offsets
        last = (length[which] - 1)[:, None]
        rel = np.clip(rel + shift[which], 0, last) if shift is not None else np.minimum(rel, last)
        return (rel + block_start[which, None]).ravel()

    def _index(self, unit: np.ndarray, start: np.ndarray, shift: np.ndarray | None, length: np.ndarray,
               video: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """The one int64 array a step sends to the device, and its parts' sizes: per window unit,
        video, start, first feature row and first target row (for the window views); then the
        windows the views cannot serve (features clipped past a unit's end or shifted out of it,
        targets past a unit's end; their first rows set to 0, a valid index) and their rows."""
        u, b, reach = self.units, len(unit), (self.window - 1) * self.frame_gap
        short = np.flatnonzero(start + reach >= length)  # windows past their unit's end
        if shift is None:
            first, ragged = start, short
        else:
            first = start + shift[:, 0]  # the window's first input frame
            ragged = np.flatnonzero((first < 0) | (first + reach >= length))
        ragged = np.arange(b) if self._windows is None else ragged
        short = np.arange(b) if self._target_windows is None else short
        f0, t0 = u.feature_start[unit], u.target_start[unit]
        first_row, first_target = f0 + first, t0 + start
        first_row[ragged], first_target[short] = 0, 0
        parts = (unit, video, start, first_row, first_target, ragged, short,
                 self._rows(ragged, start, shift, f0, length), self._rows(short, start, None, t0, length))
        return np.concatenate(parts, dtype=np.int64), tuple(len(p) for p in parts)

    def _take(self, view: torch.Tensor | None, block: torch.Tensor, first: torch.Tensor, which: torch.Tensor,
              rows: torch.Tensor) -> torch.Tensor:
        """(B, W, ...) windows of `block`: whole ones from its window view, `which` row by row."""
        w, row = self.window, block.shape[1:]
        if view is None:  # the block is shorter than a window: every window row by row
            return block.index_select(0, rows).view(len(which), w, *row)
        out = view.index_select(0, first)
        if len(which):
            out.index_copy_(0, which, block.index_select(0, rows).view(len(which), w, *row))
        return out

    def gather(self, unit: np.ndarray, start: np.ndarray, shift: np.ndarray | None = None,
               noise_offset: int | None = None) -> Batch:
        """The batch of the given windows: (B,) units and starts, optional (B, 1) input shifts.
        Index arithmetic runs in numpy on the host; gather, noise and dtype in torch on the device."""
        unit, start = np.asarray(unit), np.asarray(start)
        video, length = self.units.video[unit], self.units.length[unit]
        buf, sizes = self._index(unit, start, shift, length, video)
        unit_t, video_t, start_t, first_t, tfirst_t, ragged_t, short_t, feat_rows, label_rows = \
            self._upload(buf).split_with_sizes(sizes)
        x = self._take(self._windows, self.features, first_t, ragged_t, feat_rows)
        if noise_offset is not None:
            noise = self.bank()[noise_offset:noise_offset + x.numel()].view(x.shape)
            x.add_(noise * self._ppc_t[video_t][:, None, None] if self.noise_in_pixels else noise)
        y = self._take(self._target_windows, self.targets, tfirst_t, short_t, label_rows)
        if not y.is_floating_point() and y.dtype != torch.int64:
            y = y.long()  # class ids as cross-entropy takes them
        valid = self._offsets < (length - start)[:, None]  # frame offsets inside the unit
        return Batch(x, y, self._upload(valid), unit_t, video_t, start_t, self._upload(self._fps[video]),
                     self._upload(self._ppc[video]))

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        """Plain types only (checkpoints load with weights_only=True)."""
        return {"step": self.step, "rng": json.dumps(self.rng.bit_generator.state), "noise_seed": self.noise_seed}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.noise_seed = int(state["noise_seed"])


# -- whole videos ---------------------------------------------------------------------------------
def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Starts of windows that cover [0, length): every `stride`, plus one flush with the end."""
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    return starts if starts[-1] == length - window else np.append(starts, length - window)


@torch.no_grad()
def predict_video(forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], coords: np.ndarray,
                  fps: float, window: int, frame_gap: int = 1, stride: int = 0, batch_size: int = 64,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """(T, C) logits for every frame of one video: windows over each frame_gap phase, averaged.

    forward maps (b, w, 144) coords and (b,) fps on `device` to (b, w, C) logits.
    """
    stride = stride or max(window // 2, 1)
    x_all = torch.from_numpy(np.ascontiguousarray(coords))
    out = None
    for phase in range(frame_gap):
        sub = x_all[phase::frame_gap]
        w = min(window, len(sub))
        starts = torch.from_numpy(window_starts(len(sub), w, stride))
        idx = starts[:, None] + torch.arange(w)  # (n_windows, w)
        total = count = None
        for b in range(0, len(idx), batch_size):
            ib = idx[b:b + batch_size]
            xb = sub[ib].to(device)
            logits = forward(xb, torch.full((len(ib),), float(fps), device=device)).float().cpu()
            if total is None:
                total = torch.zeros(len(sub), logits.shape[-1])
                count = torch.zeros(len(sub), 1)
            total.index_add_(0, ib.reshape(-1), logits.reshape(-1, logits.shape[-1]))
            count.index_add_(0, ib.reshape(-1), torch.ones(ib.numel(), 1))
        if out is None:
            out = torch.zeros(len(coords), total.shape[-1])
        out[phase::frame_gap] = total / count
    return out
