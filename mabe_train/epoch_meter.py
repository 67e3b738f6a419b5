"""The running epoch's loss and data/compute timing, kept without a GPU sync per step (train.py)."""

from __future__ import annotations

import time

import torch


class EpochMeter:
    """The running epoch's loss and timing sums, kept without a device sync per step.

    Reading the loss back (`float(loss)`) or `synchronize` makes the host wait for an empty CUDA
    queue, so the next step's kernels are not queued while the current ones run. The loss is summed
    in a device tensor (float64; float32 on mps) started from the checkpointed sum, so the additions
    are the ones python floats made, and read back by `flush`: on logged steps (`train.log_every`),
    before a checkpoint, at the epoch's end. On CUDA the data vs compute split is *sampled*: only
    logged steps are synchronised and timed; other steps' wall time (and the drain before a timed
    step) goes to `untimed_s`, shared out in the timed steps' proportion. Elsewhere a sync costs
    nothing, so every step is timed and the figures are exact.
    """

    def __init__(self, sums: dict, device: torch.device, log_every: int):
        self.sums, self.device, self.log_every = sums, device, log_every
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.loss_sum = torch.tensor(sums["loss"], dtype=dtype, device=device)
        self.last_loss: torch.Tensor | None = None
        self.bar_t, self.bar_steps = time.perf_counter(), 0

    def timed(self, epoch_step: int, steps: int) -> bool:
        """Whether step `epoch_step` (0-based) is synchronised and split into data and compute."""
        return self.device.type != "cuda" or self.logged(epoch_step + 1, steps)

    def logged(self, done: int, steps: int) -> bool:
        return done % self.log_every == 0 or done == steps

    def add(self, loss: torch.Tensor, laps: tuple[float, float, float, float], timed: bool) -> None:
        """One step: its loss and its times (before the sync, start, after data, end)."""
        pre, t0, t1, t2 = laps
        self.loss_sum += loss.to(self.loss_sum.dtype)
        self.last_loss = loss
        s = self.sums
        s["steps"] += 1
        if self.device.type == "cuda":  # the queue drained by a timed step's first sync
            s["untimed_s"] += t0 - pre
        if timed:
            s["timed_steps"] += 1
            s["data_s"] += t1 - t0
            s["compute_s"] += t2 - t1
        else:
            s["untimed_s"] += t2 - t0
        self.bar_steps += 1

    def flush(self) -> None:
        """Read the loss sum back into the (checkpointed) plain-float sums: one device sync."""
        self.sums["loss"] = self.loss_sum.item()

    def postfix(self, batch_size: int) -> dict:
        """Progress-bar fields: this step's loss, windows/s since the last refresh."""
        now = time.perf_counter()
        rate = self.bar_steps * batch_size / max(now - self.bar_t, 1e-9)
        self.bar_t, self.bar_steps = now, 0
        return {"loss": f"{self.last_loss.item():.4f}", "win_s": f"{rate:.0f}"}


def split_time(sums: dict) -> tuple[float, float]:
    """(data_s, compute_s) of the epoch: the timed steps' sums plus the untimed wall time shared
    out in their proportion (on CUDA only logged steps are timed; elsewhere untimed_s is 0)."""
    data, compute, rest = sums["data_s"], sums["compute_s"], sums["untimed_s"]
    if rest == 0.0:
        return data, compute
    share = data / max(data + compute, 1e-12)
    return data + rest * share, compute + rest * (1 - share)
