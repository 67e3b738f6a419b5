"""The body geometry rules (`mabe_train.geometry`) in torch, batched on the input's device.

Points are `(batch, frames, keypoints, xy)`; per-sample video constants (fps) are `(batch,)`.
NaN = untracked. No Python loop over frames or samples.
"""

from __future__ import annotations

import math

import torch

from mabe_train.geometry import CENTRE_POINT, HEAD_END, MIN_DIRECTION_CM, TAIL_END, TORSO, Velocity
from mabe_train.geometry.arrays import slots
from mabe_train.layout import Layout


def point(pose: torch.Tensor, layout: Layout, name: str) -> torch.Tensor:
    """(batch, frames, xy) keypoint `name`; NaN when the store has no such slot."""
    i = layout.index(name)
    return pose[:, :, i] if i is not None else torch.full_like(pose[:, :, 0], float("nan"))


def centroid(pose: torch.Tensor) -> torch.Tensor:
    """(batch, frames, points, xy) -> (batch, frames, xy): mean of the tracked points, NaN where none."""
    return torch.nanmean(pose, dim=2)


def group_centroid(pose: torch.Tensor, layout: Layout, names) -> torch.Tensor:
    """(batch, frames, keypoints, xy) -> (batch, frames, xy) centroid of the group `names`."""
    kps = slots(layout, names)
    if not kps:
        return torch.full_like(pose[:, :, 0], float("nan"))
    return centroid(pose[:, :, kps])


def fill(first: torch.Tensor, *fallbacks: torch.Tensor) -> torch.Tensor:
    """`first`, each NaN taken from the first fallback that has a value there."""
    for f in fallbacks:
        first = torch.where(torch.isnan(first), f, first)
    return first


def body_centre(pose: torch.Tensor, layout: Layout) -> torch.Tensor:
    """(batch, frames, keypoints, xy) -> (batch, frames, xy): body_center, else the torso's centroid,
    else all points'."""
    return fill(point(pose, layout, CENTRE_POINT), group_centroid(pose, layout, TORSO), centroid(pose))


def forward_fill(v: torch.Tensor) -> torch.Tensor:
    """Carry the last finite row of (batch, frames, C) forward in time; rows before the first stay NaN."""
    t = torch.arange(v.shape[1], device=v.device).view(1, -1)
    ok = torch.isfinite(v).all(-1)
    last = torch.where(ok, t, torch.zeros_like(t)).cummax(dim=1).values
    return v.gather(1, last.unsqueeze(-1).expand_as(v))


def unit(v: torch.Tensor) -> torch.Tensor:
    """(..., xy) scaled to length 1; NaN where shorter than MIN_DIRECTION_CM."""
    norm = v.norm(dim=-1, keepdim=True)
    return torch.where(norm > MIN_DIRECTION_CM, v / norm.clamp_min(MIN_DIRECTION_CM), torch.full_like(v, float("nan")))


def heading(pose: torch.Tensor, layout: Layout, centre: torch.Tensor, hold: bool) -> torch.Tensor:
    """(batch, frames, xy) unit vector tail end -> head end; `centre` (batch, frames, xy) stands in for
    an untracked tail end; `hold` carries the last known heading over gaps."""
    rear = fill(group_centroid(pose, layout, TAIL_END), centre)
    u = unit(group_centroid(pose, layout, HEAD_END) - rear)
    return forward_fill(u) if hold else u


def span_frames(fps: torch.Tensor, velocity: Velocity) -> torch.Tensor:
    """(batch,) `Velocity.frames` of each sample's fps, in float64 like the numpy side (an fps such as
    75 sits on a rounding edge in float32); on the host where the device has no float64 (mps)."""
    step = 2 if velocity.centred else 1
    f = fps.double() if fps.device.type != "mps" else fps.cpu().double()
    return torch.clamp(torch.round(f * velocity.span_s / step), min=1).long().to(fps.device) * step


def shifted(v: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """v[t - back] for (batch, frames, ...) with per-sample `back` (batch,) frames (negative: ahead);
    NaN where that frame is outside the window."""
    b, t = v.shape[:2]
    steps = torch.arange(t, device=v.device).view(1, t) - back.view(b, 1)
    idx = steps.clamp(0, t - 1).view(b, t, *([1] * (v.dim() - 2))).expand_as(v)
    out = v.gather(1, idx)
    valid = ((steps >= 0) & (steps < t)).view(b, t, *([1] * (v.dim() - 2)))
    return torch.where(valid, out, torch.full_like(out, float("nan")))


def _span_ends(v: torch.Tensor, fps: torch.Tensor, velocity: Velocity):
    """v at the first and at the last frame of each frame's span, and the per-second scale (batch,)."""
    lag = span_frames(fps, velocity).to(v.device)
    scale = fps.float() / lag.float()
    if not velocity.centred:
        return shifted(v, lag), v, scale
    lead = lag // 2
    return shifted(v, lag - lead), shifted(v, -lead), scale


def rate(v: torch.Tensor, fps: torch.Tensor, velocity: Velocity) -> torch.Tensor:
    """Per-second rate of change of (batch, frames, ...) under `velocity`, fps (batch,); NaN where a
    span leaves the window."""
    start, end, scale = _span_ends(v, fps, velocity)
    return (end - start) * scale.view(-1, *([1] * (v.dim() - 1)))


def unwrap(angle: torch.Tensor) -> torch.Tensor:
    """numpy.unwrap of (batch, frames) angles along the frames: steps over half a circle wrapped."""
    d = angle.diff(dim=1)
    wrapped = torch.remainder(d + math.pi, 2 * math.pi) - math.pi
    wrapped = torch.where((wrapped == -math.pi) & (d > 0), torch.full_like(d, math.pi), wrapped)
    correction = torch.where(d.abs() < math.pi, torch.zeros_like(d), wrapped - d)
    return angle + torch.cat((torch.zeros_like(angle[:, :1]), correction.cumsum(dim=1)), dim=1)


def turn_rate(u: torch.Tensor, fps: torch.Tensor, velocity: Velocity, unwrapped: bool) -> torch.Tensor:
    """(batch, frames) per-second turn of the heading `u` (batch, frames, xy) under `velocity`; NaN
    where a span leaves the window or the heading is unknown (see `mabe_train.geometry`)."""
    if unwrapped:
        angle = unwrap(torch.nan_to_num(torch.atan2(u[..., 1], u[..., 0])))
        return torch.where(torch.isnan(u[..., 0]), torch.full_like(angle, float("nan")), rate(angle, fps, velocity))
    a, b, scale = _span_ends(u, fps, velocity)
    return torch.atan2(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], (a * b).sum(-1)) * scale.view(-1, 1)


def to_ego(p: torch.Tensor, centre: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Points (batch, frames, ..., xy) into the frame centred on `centre` with `u` (batch, frames, xy)
    along +x."""
    extra = p.dim() - 3
    c = centre.view(*centre.shape[:2], *([1] * extra), 2)
    uu = u.view(*u.shape[:2], *([1] * extra), 2)
    d = p - c
    ux, uy = uu[..., 0], uu[..., 1]
    return torch.stack((d[..., 0] * ux + d[..., 1] * uy, -d[..., 0] * uy + d[..., 1] * ux), dim=-1)
