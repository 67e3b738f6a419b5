"""Keeping an accelerator fed: batches made ahead in a thread, or gathered on the device itself.

`WindowSampler.next_batch` gathers B windows on the CPU (one numpy index), adds noise and hands
back CPU tensors; the trainer then copies them to the device. On a GPU that host work and the
copy sit between two steps, so the GPU idles for them. Two feeders remove that gap:

- `DeviceWindowSampler` copies the staged coordinate and target blocks to the device ONCE and
  gathers each batch there with the same single vectorised index. Per step only the window
  starts and jitter offsets (2 x B integers) cross the bus instead of B x W x 144 floats (22 MB at
  batch 384), and the gather runs at device memory speed. It draws from the wrapped sampler's own
  numpy generator in the same order, so windows, jitter and the resume state are exactly the
  plain sampler's; the noise is the same slice of the sampler's pre-drawn noise bank, copied to
  the device once (16 MB at batch 64), so the batches are identical on every device.
- `Prefetcher` runs any sampler (`next_batch`, `state_dict`, `load_state_dict`: the grouped and
  the pairs samplers alike) in a daemon thread, `depth` batches ahead, optionally into pinned
  memory so the trainer's `.to(device, non_blocking=True)` does not wait for the host. Its
  `state_dict()` is the sampler's state right after the last batch the *trainer took*, not the
  one the thread reached, so a resumed run sees the same batches.

`make_feeder(sampler, device, mode)` picks: on CUDA, the device gather when the blocks fit in
`gpu_fraction` of the free device memory, else the thread with pinned memory; on a CPU, the
sampler itself. Measured on 2 CPU cores (`mabe-train bench --feeder ...`, V6 at batch 384): the
data path is 1-3 % of a 7.7 s step; the thread cuts the fetch from 34 to 5 ms but the step gets
no faster, since it competes with the step for the same cores.
"""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np
import torch

from mabe_train import MabeTrainError
from mabe_train.windows import Batch, WindowSampler

FEEDERS = ("auto", "plain", "thread", "device")


class FeederError(MabeTrainError, ValueError):
    """An unknown feeder mode, or a mode the sampler or device cannot use."""


# -- device-resident gather -------------------------------------------------------------------------
class DeviceWindowSampler:
    """`WindowSampler` batches gathered from device-resident copies of its staged blocks.

    Shares the wrapped sampler's generator and step counter, so `state_dict()` is its state and
    switching between the two mid-run changes nothing in the draw sequence.
    """

    def __init__(self, base: WindowSampler, device: torch.device | str):
        self.base, self.device = base, torch.device(device)
        s = base.staged
        self.coords = torch.as_tensor(np.asarray(s.coords)).to(self.device)
        self.targets = torch.as_tensor(np.asarray(s.targets)).to(self.device)
        self.fps = torch.as_tensor(s.fps).to(self.device)
        self.starts = torch.as_tensor(s.starts).to(self.device)
        self.ends = torch.as_tensor(s.starts + s.lengths - 1).to(self.device)
        self.offsets = torch.as_tensor(base._offsets).to(self.device)
        self._bank: tuple[int, torch.Tensor] | None = None  # (noise seed, bank on the device)

    def _upload(self, a: np.ndarray) -> torch.Tensor:
        """The per-step index arrays to the device. On CUDA through pinned memory: a copy from
        pageable memory waits until the GPU's queue is empty, so three of them per step would stall
        it as a `synchronize` does; a pinned copy is queued like a kernel."""
        t = torch.from_numpy(a)
        if self.device.type == "cuda":
            t = t.pin_memory()
        return t.to(self.device, non_blocking=True)

    def noise_bank(self) -> torch.Tensor:
        """The wrapped sampler's noise bank, copied to the device once (again after a resume
        that changes its seed)."""
        if self._bank is None or self._bank[0] != self.base.noise_seed:
            self._bank = (self.base.noise_seed, torch.from_numpy(self.base.bank).to(self.device))
        return self._bank[1]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.coords, self.targets))

    def next_batch(self) -> Batch:
        b = self.base
        j, rows = b.draw(b.batch_size)  # same draws, same order as WindowSampler.next_batch
        d = b.rng.integers(-b.jitter, b.jitter + 1, size=(len(j), 1)) if b.jitter else None
        n = b.batch_size * b.window * self.coords.shape[1]
        o = b.noise_offset(n) if b.noise_std > 0 else None
        jt, rows_t = self._upload(j), self._upload(rows)
        label_idx = rows_t[:, None] + self.offsets  # (B, W)
        feat_idx = label_idx
        if d is not None:
            shift = self._upload(d)
            feat_idx = torch.minimum(torch.maximum(label_idx + shift, self.starts[jt, None]), self.ends[jt, None])
        x = self.coords[feat_idx]
        if o is not None:
            x.add_(self.noise_bank()[o:o + n].view(x.shape))
        y = self.targets[label_idx]
        b.step += 1
        return Batch(x, y.long() if y.ndim == 2 else y, self.fps[jt], jt)  # class ids -> int64 as in CE

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return self.base.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.base.load_state_dict(state)

    def __getattr__(self, name):  # staged, n_windows, batch_size, ... of the wrapped sampler
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


# -- background thread ------------------------------------------------------------------------------
def _map_tensors(batch, fn):
    """Apply `fn` to every tensor field of a NamedTuple or dataclass batch (other fields kept)."""
    if dataclasses.is_dataclass(batch):
        return dataclasses.replace(batch, **{f.name: fn(getattr(batch, f.name)) for f in dataclasses.fields(batch)
                                             if isinstance(getattr(batch, f.name), torch.Tensor)})
    return type(batch)(*(fn(v) if isinstance(v, torch.Tensor) else v for v in batch))


class _Stop(Exception):
    pass


class Prefetcher:
    """Batches of `sampler` made `depth` ahead in a daemon thread (pinned when `pin`)."""

    def __init__(self, sampler, depth: int = 2, pin: bool = False):
        if depth < 1:
            raise FeederError(f"prefetch depth must be >= 1, got {depth}")
        self.sampler, self.depth, self.pin = sampler, depth, pin
        self._state = sampler.state_dict()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        raise _Stop

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.sampler.next_batch()
                if self.pin:
                    batch = _map_tensors(batch, lambda t: t.pin_memory() if t.device.type == "cpu" else t)
                self._put((batch, self.sampler.state_dict()))
        except _Stop:
            return
        except BaseException as e:  # surfaced in the trainer's thread by next_batch
            try:
                self._put((e, None))
            except _Stop:
                return

    def _start(self) -> None:
        self._stop.clear()
        self._queue = queue.Queue(maxsize=self.depth)
        self._thread = threading.Thread(target=self._work, name="mabe-prefetch", daemon=True)
        self._thread.start()

    def next_batch(self):
        if self._thread is None:
            self._start()
        batch, state = self._queue.get()
        if isinstance(batch, BaseException):
            self.close()
            raise batch
        self._state = state
        return batch

    def __iter__(self):
        while True:
            yield self.next_batch()

    def close(self) -> None:
        """Stop the thread; batches made ahead are dropped (the state stays the trainer's)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._state is not None and self._queue is not None:
            self.sampler.load_state_dict(self._state)  # rewind what the thread drew ahead
            self._queue = None

    def state_dict(self) -> dict:
        return self._state

    def load_state_dict(self, state: dict) -> None:
        self.close()
        self.sampler.load_state_dict(state)
        self._state = state

    def __getattr__(self, name):
        if name in ("sampler", "_thread", "_queue", "_state", "_stop"):
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def __del__(self):
        if getattr(self, "_thread", None) is not None:
            self._stop.set()


# -- choice -----------------------------------------------------------------------------------------
def fits_on_device(nbytes: int, device: torch.device, fraction: float = 0.5) -> bool:
    """True when `nbytes` is at most `fraction` of the device's free memory (CUDA only)."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= fraction * free


def make_feeder(sampler, device: torch.device | str, mode: str = "auto", depth: int = 2,
                gpu_fraction: float = 0.5):
    """The batch source the trainer should pull from: see the module docstring for `auto`."""
    device = torch.device(device)
    if mode not in FEEDERS:
        raise FeederError(f"unknown feeder {mode!r} — choose from {', '.join(FEEDERS)}")
    if mode == "auto":
        if device.type != "cuda":
            return sampler
        staged = getattr(sampler, "staged", None)
        nbytes = staged.nbytes if staged is not None else 0
        mode = "device" if isinstance(sampler, WindowSampler) and fits_on_device(nbytes, device, gpu_fraction) \
            else "thread"
    if mode == "plain":
        return sampler
    if mode == "thread":
        return Prefetcher(sampler, depth=depth, pin=device.type == "cuda")
    if not isinstance(sampler, WindowSampler):
        raise FeederError(f"feeder 'device' gathers WindowSampler batches only, not {type(sampler).__name__} — "
                          "use feeder 'thread' for this task")
    return DeviceWindowSampler(sampler, device)
