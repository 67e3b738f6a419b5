"""Egocentric (agent, target) features computed on the fly, on the device, from the raw columns.

Why: the store keeps raw pixel coordinates so a feature change never rebuilds it. A social action
is a relation between two mice, so the model sees the target *as the agent sees it*: both mice's
keypoints centred on the agent's body centre, rotated so the agent faces +x, in cm (pix_per_cm).
Distances, relative heading and speeds are invariant to where the arena is and how the camera was
mounted, which is what lets 19 labs with different cameras share one model.

Layout of the output (B, T, `PairFeatures.width`), in `PairFeatures.names` order, for a store with
K keypoint slots (K = 18 by default: 149 features):
  agent K keypoints (x, y) ego           2K   positions / POS_SCALE_CM
  target K keypoints (x, y) ego          2K
  agent / target keypoint present        K + K
  pair scalars (`SCALARS`)               20   distances, relative pose, speeds, body lengths
  pair scalar present                    20
  is_self                                 1
The slots come from the store (mabe_train.layout): the named points the scalars use (nose,
tail_base, body_center, the head-end/tail-end/torso groups of `mabe_train.geometry`) are looked up
by name, and a slot the store lacks is simply never present (NaN -> 0 with flag 0), like an
untracked point. Centre, heading and rates follow the rules of `mabe_train.geometry`: the agent's
centre and heading are held over gaps for its frame of reference only; the target's heading and
every measured value are not (unknown stays unknown).
A value that cannot be computed (untracked point, first frames of a velocity) is 0 with its
present-flag 0 — the network is told "unknown" rather than given a fake coordinate.
Self pairs (agent == target) keep the agent block and the agent-only scalars; every target-derived
value is unknown (0, flag 0) and `is_self` is 1, so one model serves both kinds of pair.

Fps: velocities are fps-aware rather than resampled. Each is a backward difference over a lag of
`k = max(1, round(fps / 30))` frames (`VELOCITY`) scaled to cm/s, so a 10 fps and a 120 fps lab see
the same speed for the same motion and 120 fps tracking jitter is averaged over ~33 ms. Resampling
would give the temporal layers one time scale too, but it moves every prediction off the native
frame grid the metric scores; the trade-off we accept is that a window of W frames spans a
different duration per lab (100 frames: 10 s at 10 fps, 0.8 s at 120 fps).

Everything is batched torch on the input's device: no Python loop over frames or samples.
Mouse indices here are 0-based (mouse_id - 1).
"""

from __future__ import annotations

import math

import torch

from mabe_train.geometry import HEAD_END, TAIL_END, Velocity
from mabe_train.geometry.tensors import (
    body_centre,
    forward_fill,
    group_centroid,
    heading,
    point,
    rate,
    to_ego,
    turn_rate,
)
from mabe_train.layout import DEFAULT_LAYOUT, Layout

POS_SCALE_CM = 10.0  # positions and lengths in units of 10 cm (a mouse is ~1)
SPEED_SCALE_CM_S = 50.0  # speeds in units of 50 cm/s (a running mouse is ~1)
ANG_SCALE_RAD_S = 2 * math.pi  # angular velocity in turns per second
VELOCITY = Velocity(span_s=1 / 30, centred=False)  # one frame at 30 fps, ending at the frame

SCALARS: tuple[str, ...] = (
    "dist_nose_nose", "dist_anose_ttail", "dist_tnose_atail", "dist_centre_centre",
    "dist_anose_tcentre", "target_centre_x", "target_centre_y", "rel_heading_cos",
    "rel_heading_sin", "agent_speed", "target_speed", "agent_vel_fwd", "agent_vel_side",
    "target_vel_x", "target_vel_y", "approach_rate", "agent_angular_vel", "agent_nose_speed",
    "agent_length", "target_length",
)


def feature_names(layout: Layout = DEFAULT_LAYOUT) -> tuple[str, ...]:
    """The output columns for a store's keypoint slots (see the module docstring)."""
    xy = [f"{k}_{c}" for k in layout.keypoints for c in "xy"]
    return tuple([f"agent_{n}" for n in xy] + [f"target_{n}" for n in xy]
                 + [f"agent_has_{k}" for k in layout.keypoints] + [f"target_has_{k}" for k in layout.keypoints]
                 + list(SCALARS) + [f"has_{s}" for s in SCALARS] + ["is_self"])


def n_pair_features(layout: Layout = DEFAULT_LAYOUT) -> int:
    return len(feature_names(layout))


FEATURE_NAMES = feature_names()  # with the default 18 slots
N_PAIR_FEATURES = len(FEATURE_NAMES)


def mouse_pose(x: torch.Tensor, mouse: torch.Tensor, layout: Layout = DEFAULT_LAYOUT) -> torch.Tensor:
    """(B, T, 2MK) raw columns, (B,) 0-based mouse index -> (B, T, K, 2) that mouse's keypoints."""
    b, t, _ = x.shape
    k = len(layout.keypoints)
    poses = x.reshape(b, t, layout.n_mice, k, 2)
    idx = mouse.long().view(b, 1, 1, 1, 1).expand(b, t, 1, k, 2)
    return poses.gather(2, idx).squeeze(2)


def _dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(dim=-1)


def _scalars(ag: torch.Tensor, tg: torch.Tensor, c_a: torch.Tensor, c_a_ff: torch.Tensor,
             u_a: torch.Tensor, fps: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The SCALARS block (batch, frames, 20) from agent/target poses (batch, frames, keypoints, xy)
    in cm (NaN-propagating).

    c_a (batch, frames, xy) is the agent's centre as tracked, c_a_ff and u_a its forward-filled
    centre and its held heading.
    """
    c_t = body_centre(tg, layout)
    u_t = heading(tg, layout, c_t, hold=False)
    nose_a, nose_t = point(ag, layout, "nose"), point(tg, layout, "nose")
    tail_a, tail_t = point(ag, layout, "tail_base"), point(tg, layout, "tail_base")
    v_a, v_t = rate(c_a, fps, VELOCITY), rate(c_t, fps, VELOCITY)
    zero = torch.zeros_like(c_a)
    rel_u = to_ego(u_t, zero, u_a)
    d_cc = _dist(c_a, c_t)
    cols = [
        _dist(nose_a, nose_t), _dist(nose_a, tail_t), _dist(nose_t, tail_a), d_cc,
        _dist(nose_a, c_t), *to_ego(c_t, c_a_ff, u_a).unbind(-1), *rel_u.unbind(-1),
    ]
    cols = [c / POS_SCALE_CM for c in cols[:7]] + cols[7:]
    speeds = [v_a.norm(dim=-1), v_t.norm(dim=-1), *to_ego(v_a, zero, u_a).unbind(-1),
              *to_ego(v_t, zero, u_a).unbind(-1), -rate(d_cc, fps, VELOCITY)]
    cols += [s / SPEED_SCALE_CM_S for s in speeds]
    cols += [turn_rate(u_a, fps, VELOCITY, unwrapped=False) / ANG_SCALE_RAD_S,
             rate(nose_a, fps, VELOCITY).norm(dim=-1) / SPEED_SCALE_CM_S,
             _dist(group_centroid(ag, layout, HEAD_END), group_centroid(ag, layout, TAIL_END)) / POS_SCALE_CM,
             _dist(group_centroid(tg, layout, HEAD_END), group_centroid(tg, layout, TAIL_END)) / POS_SCALE_CM]
    return torch.stack(cols, dim=-1)


def _known(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values with NaN -> 0, 1.0 where finite)."""
    ok = torch.isfinite(v)
    return torch.where(ok, v, torch.zeros_like(v)), ok.to(v.dtype)


def pair_features(x: torch.Tensor, agent: torch.Tensor, target: torch.Tensor,
                  pix_per_cm: torch.Tensor, fps: torch.Tensor, layout: Layout = DEFAULT_LAYOUT) -> torch.Tensor:
    """Egocentric pair features (batch, frames, n_pair_features(layout)) from raw pixel columns.

    x: (batch, frames, layout.width) float, NaN = untracked. agent, target: (batch,) 0-based mouse
    indices (target == agent for a self pair). pix_per_cm, fps: (batch,) per-sample video constants.
    """
    x = x.float()
    scale = pix_per_cm.float().view(-1, 1, 1, 1)
    ag = mouse_pose(x, agent, layout) / scale
    is_self = (agent == target).view(-1, 1, 1, 1)
    tg = torch.where(is_self, torch.full_like(ag, float("nan")), mouse_pose(x, target, layout) / scale)
    c_a = body_centre(ag, layout)
    c_a_ff = forward_fill(c_a)
    u_a = heading(ag, layout, c_a, hold=True)
    b, t = x.shape[:2]
    ego = torch.cat((to_ego(ag, c_a_ff, u_a).reshape(b, t, -1),
                     to_ego(tg, c_a_ff, u_a).reshape(b, t, -1)), dim=-1) / POS_SCALE_CM
    pos, pos_ok = _known(ego)
    sc, sc_ok = _known(_scalars(ag, tg, c_a, c_a_ff, u_a, fps, layout))
    flag = is_self.view(b, 1, 1).expand(b, t, 1).to(x.dtype)
    # a keypoint counts as present when its egocentric x is known (point tracked, frame defined)
    return torch.cat((pos, pos_ok[..., 0::2], sc, sc_ok, flag), dim=-1)
