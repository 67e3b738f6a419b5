"""Training windows at memory speed, and whole-video prediction for validation.

The Zarr store is read once: `stage_videos` copies the needed videos (normalised coordinates plus
the task's per-frame targets) into one contiguous block — RAM when it fits, else a local
`np.memmap` cache file — with a progress bar. `WindowSampler` then draws random windows nanoGPT
style, with ONE vectorised index `rows[:, None] + arange(window) * frame_gap` into that block, so a
batch costs one gather, not B slices. Windows never cross videos (starts are drawn only where the
whole window fits in its video; videos shorter than a window are left to validation, which takes
any length). The sampler's whole randomness is one numpy Generator, so `state_dict()` (rng state
plus step) resumes it exactly. Measured (bench/bench_train.py, 2-core CPU, 400k frames): 187k
windows/s of 64 x 100, 95-99% of a bare numpy gather of the same windows, and 74-81% (148k) with V5's
augmentation (noise from a pre-drawn bank, see `WindowSampler`); staged bytes = feature
bytes + 2 bytes/frame of targets. Trade-off: RAM (or local disk) for the whole training split,
in exchange for no per-window I/O.

Validation does not draw windows: `predict_video` slides windows over every frame of a video (all
`frame_gap` phases), averages the logits where windows overlap, and returns one row per frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from mabe_store.reader import Store
from mabe_train import MabeTrainError
from mabe_train.grouped.features import normalise_coords

TargetsFn = Callable[[Store, int, np.ndarray], np.ndarray]  # (store, video row, (T, A) actions) -> (T, ...)


class DataError(MabeTrainError, ValueError):
    """The store holds no usable videos for the request; the message says what to change."""


# -- staging --------------------------------------------------------------------------------------
@dataclass
class StagedVideos:
    """Videos in one block: rows of video j are `starts[j] : starts[j] + lengths[j]`."""

    video_ids: np.ndarray  # (V,) int64
    lab_ids: np.ndarray  # (V,) str
    fps: np.ndarray  # (V,) float32
    starts: np.ndarray  # (V,) int64
    lengths: np.ndarray  # (V,) int64
    coords: np.ndarray  # (n, 144) float32 normalised cm, NaN untracked (ndarray or memmap)
    targets: np.ndarray  # (n, ...) the task's per-frame targets

    @property
    def nbytes(self) -> int:
        return self.coords.nbytes + self.targets.nbytes

    def video(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        rows = slice(int(self.starts[j]), int(self.starts[j] + self.lengths[j]))
        return self.coords[rows], self.targets[rows]


def _ram_limit(max_ram_gb: float) -> int:
    if max_ram_gb > 0:
        return int(max_ram_gb * 2**30)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _alloc(shape, dtype, cache: Path | None, name: str) -> np.ndarray:
    if cache is None:
        return np.empty(shape, dtype=dtype)
    cache.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(cache / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)


def stage_videos(store: Store, video_ids, targets_fn: TargetsFn, *, max_ram_gb: float = 0.0,
                 cache_dir: str | Path | None = None, progress: bool = True) -> StagedVideos:
    """Read each video once (disk order), normalise it, compute its targets, pack them together."""
    rows = np.array([store.index(v) for v in video_ids], dtype=np.int64)
    if rows.size == 0:
        raise DataError("no videos to stage — the split is empty")
    v = store.videos
    lengths = v["length"][rows].astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    first = targets_fn(store, int(rows[0]), store.actions(v["video_id"][rows[0]])[:1])
    n, width = int(lengths.sum()), store.root["features"].shape[1]
    need = n * (width * 4 + first[0].nbytes)
    cache = None if need <= _ram_limit(max_ram_gb) else Path(cache_dir or "stage-cache")
    coords = _alloc((n, width), np.float32, cache, "coords")
    targets = _alloc((n, *first.shape[1:]), first.dtype, cache, "targets")
    order = np.argsort(v["offset"][rows], kind="stable")
    if progress:
        from tqdm.auto import tqdm
        order = tqdm(order, desc=f"staging {len(rows)} videos" + (f" -> {cache}" if cache else ""),
                     unit="video")
    for j in order:
        i, vid = int(rows[j]), v["video_id"][rows[j]]
        sl = slice(int(starts[j]), int(starts[j] + lengths[j]))
        coords[sl] = normalise_coords(store.features(vid), float(v["pix_per_cm"][i]))
        targets[sl] = targets_fn(store, i, store.actions(vid))
    return StagedVideos(v["video_id"][rows].astype(np.int64), np.array(v["lab_id"][rows].tolist(), dtype=object),
                        v["fps"][rows].astype(np.float32), starts, lengths, coords, targets)


# -- training windows -----------------------------------------------------------------------------
class Batch(NamedTuple):
    """One training batch: `x` (B, W, 144) float32 normalised coords (NaN untracked), `y` (B, W, ...)
    targets (int64 for class targets), `fps` (B,) float32, `video` (B,) staged-video indices."""

    x: torch.Tensor
    y: torch.Tensor
    fps: torch.Tensor
    video: torch.Tensor


NOISE_BANK = 1 << 22  # float32 gaussians pre-drawn per sampler (16 MB), or twice a batch if larger
_NOISE_STREAM = 0x6E6F697365  # SeedSequence key: the bank's stream is independent of the draws


def noise_bank(seed: int, size: int, std: float) -> np.ndarray:
    """`size` float32 values N(0, std^2), a pure function of `seed` (so a resumed run rebuilds it)."""
    bank = np.random.default_rng([seed, _NOISE_STREAM]).standard_normal(size, dtype=np.float32)
    bank *= np.float32(std)
    return bank


class WindowSampler:
    """Endless random windows from staged videos; `state_dict()` makes it resumable.

    Starts are uniform over every (video, start) where the window fits, so each frame of a long
    video is equally likely to be trained on (except within a window of the ends).
    `temporal_jitter` J shifts each window's inputs by d in [-J, J] frames against its labels
    (clipped to the video); `noise_std` adds gaussian noise to the inputs.

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
    """

    def __init__(self, store: Store | None, videos=None, window: int = 100, batch_size: int = 64,
                 seed: int = 0, frame_gap: int = 1, *, noise_std: float = 0.0, temporal_jitter: int = 0,
                 targets_fn: TargetsFn | None = None, staged: StagedVideos | None = None,
                 progress: bool = True):
        if staged is None:
            if targets_fn is None:
                from mabe_train.grouped.task import grouped_targets
                targets_fn = grouped_targets()
            staged = stage_videos(store, videos, targets_fn, progress=progress)
        self.staged, self.window, self.batch_size, self.frame_gap = staged, window, batch_size, frame_gap
        self.noise_std, self.jitter = noise_std, temporal_jitter
        span = (window - 1) * frame_gap + 1
        self.n_starts = np.maximum(staged.lengths - span + 1, 0)
        self._cum = np.cumsum(self.n_starts)
        if self._cum[-1] == 0:
            raise DataError(f"no video is as long as a window ({span} frames) — lower "
                            "data.sequence_length or data.frame_gap")
        self._offsets = np.arange(window, dtype=np.int64) * frame_gap
        self.rng = np.random.default_rng(seed)
        self.noise_seed, self._bank = seed, None
        self.step = 0

    @property
    def n_windows(self) -> int:
        """Distinct window positions (the size of the space starts are drawn from)."""
        return int(self._cum[-1])

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(video (n,), global row of the window start (n,)), uniform over valid starts."""
        u = self.rng.integers(0, self._cum[-1], size=n)
        j = np.searchsorted(self._cum, u, side="right")
        start = u - (self._cum[j] - self.n_starts[j])
        return j, self.staged.starts[j] + start

    def next_batch(self) -> Batch:
        s = self.staged
        j, rows = self.draw(self.batch_size)
        label_idx = rows[:, None] + self._offsets  # (B, W): the one vectorised gather index
        feat_idx = label_idx
        if self.jitter:
            d = self.rng.integers(-self.jitter, self.jitter + 1, size=(len(j), 1))
            first, last = s.starts[j, None], (s.starts[j] + s.lengths[j] - 1)[:, None]
            feat_idx = np.clip(label_idx + d, first, last)
        x = s.coords[feat_idx]
        if self.noise_std > 0:
            o = self.noise_offset(x.size)
            np.add(x, self.bank[o:o + x.size].reshape(x.shape), out=x)
        x = torch.from_numpy(x)
        t = s.targets[label_idx]
        y = torch.from_numpy(t.astype(np.int64) if t.ndim == 2 else t)  # class ids -> int64 for CE
        self.step += 1
        return Batch(x, y, torch.from_numpy(s.fps[j]), torch.from_numpy(j))

    @property
    def bank(self) -> np.ndarray:
        """The noise bank (built on first use; see the class docstring)."""
        if self._bank is None:
            n = self.batch_size * self.window * self.staged.coords.shape[1]
            self._bank = noise_bank(self.noise_seed, max(NOISE_BANK, 2 * n), self.noise_std)
        return self._bank

    def noise_offset(self, n: int) -> int:
        """Start of this batch's `n` noise values in the bank: one draw from the generator."""
        return int(self.rng.integers(0, len(self.bank) - n + 1))

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"step": self.step, "rng": json.dumps(self.rng.bit_generator.state), "noise_seed": self.noise_seed}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        if int(state.get("noise_seed", self.noise_seed)) != self.noise_seed:  # older states lack it
            self.noise_seed, self._bank = int(state["noise_seed"]), None


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
