"""Keeping an accelerator fed: batches gathered on the device itself, or made ahead in a thread.

`WindowSampler.next_batch` gathers B windows where its blocks live; with CPU blocks the trainer
then copies the batch to the device, and on a GPU that host work and the copy sit between two
steps, so the GPU idles for them. Two feeders remove that gap:

- "device": `WindowSampler.to(device)` copies the staged feature and target blocks to the device
  ONCE, and the sampler's one gather then runs there. Per step one host-built int64 index array
  (per window unit, video, start, first feature row and first target row: 5 x B values, 15 KB at
  batch 384, plus the rows of the few windows clipped at a unit's end) and the (B, W) valid mask
  cross the bus instead of B x W x 144 floats (22 MB), and the gather runs at device memory speed.
  The index is built on the host because a handful of numpy operations on B integers cost less
  there than a dozen small torch kernels. The draws, the noise (the same slice of the same
  pre-drawn bank, copied once) and the resume state do not depend on the device, so the batches
  are the plain sampler's on every device.
- "thread": `Prefetcher` runs any sampler (`next_batch`, `state_dict`, `load_state_dict`) in a
  daemon thread, `depth` batches ahead, optionally into pinned memory so the trainer's
  `.to(device, non_blocking=True)` does not wait for the host. Its `state_dict()` is the
  sampler's state right after the last batch the *trainer took*, not the one the thread reached,
  so a resumed run sees the same batches.

`make_feeder(sampler, device, mode)` picks: on CUDA, the device gather when the blocks fit in
`gpu_fraction` of the free device memory, else the thread with pinned memory; on a CPU, the
sampler itself. Measured on 2 CPU cores (`mabe-train bench --feeder ...`, V6 at batch 384): the
data path is 1-3 % of a 7.7 s step; the thread cuts the fetch from 34 to 5 ms but the step gets
no faster, since it competes with the step for the same cores.
"""

from __future__ import annotations

import queue
import threading

import torch

from mabe_train import MabeTrainError
from mabe_train.windows import WindowSampler

FEEDERS = ("auto", "plain", "thread", "device")


class FeederError(MabeTrainError, ValueError):
    """An unknown feeder mode, or a mode the sampler or device cannot use."""


# -- background thread ------------------------------------------------------------------------------
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
                    batch = batch.apply(lambda t: t.pin_memory() if t.device.type == "cpu" else t)
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
        mode = "device" if isinstance(sampler, WindowSampler) and fits_on_device(sampler.nbytes, device, gpu_fraction) \
            else "thread"
    if mode == "plain":
        return sampler
    if mode == "thread":
        return Prefetcher(sampler, depth=depth, pin=device.type == "cuda")
    if not isinstance(sampler, WindowSampler):
        raise FeederError(f"feeder 'device' gathers WindowSampler batches only, not {type(sampler).__name__} — "
                          "use feeder 'thread' for this task")
    return sampler.to(device)
