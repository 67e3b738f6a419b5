"""Per-frame features of every labeled (agent, target) pair of a video, from the store, in numpy.

Why hand-made features: a tree model cannot learn geometry from raw pixels, and the features that
matter for social actions are relations between two bodies (how far, which way each faces, who
approaches whom) at several time scales. Everything is in physical units so the 10-120 fps labs
and their cameras share one model: positions in cm (`pix_per_cm`), speeds in cm/s and angular
speeds in rad/s (centred differences over 0.1 s whatever the frame rate: `VELOCITY`; the body
geometry itself, centre, heading and rates, follows the rules of `mabe_train.geometry`), rolling statistics over
windows given in seconds (`windows_s`, converted to frames with the video's fps).

Two feature sets, chosen by the pair:
- `pair` (agent != target): the agent's and the target's body features, their relation
  (distances between noses, tails and centres, the closest keypoint pair, the target in the
  agent's frame, the agent's nose in the target's frame, relative heading, bearings, approach
  speed), both mice's POSE points in the agent's frame, and centred rolling mean/std of the
  relation and motion columns;
- `self` (agent == target): the agent's body features, the nearest other mouse (distance, its
  speed, whether the agent faces it), its POSE points in its own frame (posture: rear, groom, rest),
  and rolling mean/std of the body columns.
The POSE points were worth +0.005 mean validation score on the semi-real store (2 split seeds:
0.8299 -> 0.8351) and +0.006 held-out for a single split.
Keypoints are looked up by name in the store's layout (`Layout.of(store)`); a body part the lab
does not track is NaN, which LightGBM treats as missing (a lab tracking only ears, head and
tail base gets its nose from `head`, then from the ears' midpoint).

Cost, single thread: ~20 us per pair-frame (6 semi-real videos, 26,440 pair-frames, 0.53 CPU-s);
the whole semi-real training store (44 videos, 278k frames) in ~8 CPU-s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from mabe_store.reader import Store
from mabe_train.geometry import Velocity
from mabe_train.geometry.arrays import (
    body_centre,
    centroid,
    fill,
    forward_fill,
    group_centroid,
    heading,
    point,
    rate,
    to_ego,
    turn_rate,
    unit,
)
from mabe_train.layout import Layout
from mabe_train.pairs.labels import video_pairs

VELOCITY = Velocity(span_s=0.1, centred=True)  # whole videos: centred differences smooth 120 fps jitter

BODY = ("speed", "nose_speed", "tail_speed", "accel", "ang_vel", "length", "length_rel", "nose_centre",
        "ear_spread", "spread", "edge", "tracked")
PAIR = ("d_cc", "d_nn", "d_an_tt", "d_tn_at", "d_an_tc", "d_tn_ac", "d_min", "tx", "ty", "nx", "ny",
        "rel_cos", "rel_sin", "bearing_a", "bearing_t", "approach", "v_a_to_t", "v_t_to_a", "rel_speed")
NEAR = ("near_d_cc", "near_d_nc", "near_speed", "near_bearing", "n_mice")
POSE = ("nose", "ear_left", "ear_right", "head", "neck", "body_center", "hip_left", "hip_right", "tail_base",
        "tail_tip")  # posture: these points in the agent's frame (centre at 0, facing +x), NaN when absent
PAIR_ROLLED = ("d_cc", "d_nn", "d_an_tt", "d_an_tc", "d_min", "tx", "ty", "approach", "bearing_a",
               "v_a_to_t", "a_speed", "t_speed", "a_ang_vel", "rel_cos")
SELF_ROLLED = ("speed", "nose_speed", "tail_speed", "ang_vel", "length", "length_rel", "nose_centre",
               "spread", "edge", "near_d_cc")


@cache
def feature_names(kind: str, windows_s: tuple[float, ...]) -> tuple[str, ...]:
    """Column names of the `pair` or `self` matrix for these rolling windows."""
    pose = [f"pose_{k}_{c}" for k in POSE for c in "xy"]
    if kind == "pair":
        base = ([f"a_{n}" for n in BODY] + [f"t_{n}" for n in BODY] + list(PAIR) + [f"a_{n}" for n in pose]
                + [f"t_{n}" for n in pose])
        rolled = PAIR_ROLLED
    else:
        base, rolled = list(BODY) + list(NEAR) + pose, SELF_ROLLED
    return tuple(base + [f"{n}_{stat}_{w:g}s" for w in windows_s for n in rolled for stat in ("mean", "std")])


@dataclass
class PairRows:
    """One labeled ordered pair's per-frame features: X (frames, features) float32 in `feature_names(kind)`."""

    agent: int  # 1-based
    target: int
    mask: np.ndarray  # (actions,) bool, the actions the video labels for this pair
    kind: str  # "pair" | "self"
    X: np.ndarray


# -- small numeric helpers (NaN = unknown throughout) ---------------------------------------------
def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt((v * v).sum(axis=-1))


def _cos(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (unit(u) * unit(v)).sum(axis=-1)


def rolling(v: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred NaN-aware rolling (mean, std) of (frames, columns) over `window` frames; NaN where all missing."""
    t = len(v)
    ok = np.isfinite(v)
    x = np.where(ok, v, 0.0)
    zero = np.zeros((1, v.shape[1]))
    c1, c2, cn = (np.concatenate([zero, np.cumsum(a, axis=0)]) for a in (x, x * x, ok.astype(np.float64)))
    lo = np.clip(np.arange(t) - window // 2, 0, t)
    hi = np.clip(np.arange(t) - window // 2 + window, 0, t)
    n = cn[hi] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (c1[hi] - c1[lo]) / n, np.nan)
        var = np.where(n > 0, (c2[hi] - c2[lo]) / n - mean * mean, np.nan)
    return mean, np.sqrt(np.maximum(var, 0.0))


# -- one mouse --------------------------------------------------------------------------------------
@dataclass
class Body:
    """One mouse's points (frames, keypoints, xy) in cm and what the features derive from them."""

    pts: np.ndarray
    centre: np.ndarray  # (frames, xy) geometry.body_centre, as tracked (NaN when untracked)
    centre_ff: np.ndarray  # forward-filled
    nose: np.ndarray  # (frames, xy) nose, else head, headpiece, the ears' midpoint
    tail: np.ndarray  # (frames, xy) tail_base, else the hips' midpoint
    u: np.ndarray  # (frames, xy) geometry.heading, held over gaps
    cols: dict[str, np.ndarray]  # BODY features, each (frames,)


def body(pts: np.ndarray, layout: Layout, fps: float, arena_cm: tuple[float, float]) -> Body:
    """The Body of one mouse from its (frames, keypoints, xy) points in cm."""
    centre = body_centre(pts, layout)
    ears = group_centroid(pts, layout, ("ear_left", "ear_right"))
    nose = fill(point(pts, layout, "nose"), point(pts, layout, "head"), point(pts, layout, "headpiece"), ears)
    tail = fill(point(pts, layout, "tail_base"), group_centroid(pts, layout, ("hip_left", "hip_right")))
    u = heading(pts, layout, centre, hold=True)
    speed = _norm(rate(centre, fps, VELOCITY))
    length = _norm(nose - tail)
    with np.errstate(invalid="ignore"):
        med = np.nanmedian(length) if np.isfinite(length).any() else np.nan
    w, hgt = arena_cm
    edge = np.minimum.reduce([centre[:, 0], w - centre[:, 0], centre[:, 1], hgt - centre[:, 1]]) \
        if w > 0 and hgt > 0 else np.full(len(pts), np.nan)
    cols = {
        "speed": speed, "nose_speed": _norm(rate(nose, fps, VELOCITY)), "tail_speed": _norm(rate(tail, fps, VELOCITY)),
        "accel": rate(speed, fps, VELOCITY), "ang_vel": turn_rate(u, fps, VELOCITY, unwrapped=True),
        "length": length, "length_rel": length / med, "nose_centre": _norm(nose - centre),
        "ear_spread": _norm(point(pts, layout, "ear_left") - point(pts, layout, "ear_right")),
        "spread": centroid(_norm(pts - centre[:, None])[..., None].repeat(2, -1))[:, 0],
        "edge": edge, "tracked": np.isfinite(pts[..., 0]).mean(axis=1),
    }
    return Body(pts, centre, forward_fill(centre), nose, tail, u, cols)


def pose_columns(pts: np.ndarray, layout: Layout, origin: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """The POSE points of (frames, keypoints, xy) `pts` in the frame at `origin` facing `u`: pose_<point>_<x|y>."""
    out = {}
    for k in POSE:
        e = to_ego(point(pts, layout, k), origin, u)
        out[f"pose_{k}_x"], out[f"pose_{k}_y"] = e[:, 0], e[:, 1]
    return out


def _min_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(frames,) closest distance between any keypoint of a and any of b (frames, keypoints, xy)."""
    d = _norm(a[:, :, None] - b[:, None, :]).reshape(len(a), -1)
    d = np.where(np.isnan(d), np.inf, d).min(axis=1)
    return np.where(np.isinf(d), np.nan, d)


def pair_columns(a: Body, t: Body, fps: float) -> dict[str, np.ndarray]:
    """The PAIR relation columns of agent `a` towards target `t`."""
    d_cc = _norm(a.centre - t.centre)
    to_t = t.centre - a.centre
    v_a, v_t = rate(a.centre, fps, VELOCITY), rate(t.centre, fps, VELOCITY)
    tc, an = to_ego(t.centre, a.centre_ff, a.u), to_ego(a.nose, t.centre_ff, t.u)
    return {
        "d_cc": d_cc, "d_nn": _norm(a.nose - t.nose), "d_an_tt": _norm(a.nose - t.tail),
        "d_tn_at": _norm(t.nose - a.tail), "d_an_tc": _norm(a.nose - t.centre), "d_tn_ac": _norm(t.nose - a.centre),
        "d_min": _min_dist(a.pts, t.pts), "tx": tc[:, 0], "ty": tc[:, 1], "nx": an[:, 0], "ny": an[:, 1],
        "rel_cos": (a.u * t.u).sum(axis=1), "rel_sin": a.u[:, 0] * t.u[:, 1] - a.u[:, 1] * t.u[:, 0],
        "bearing_a": _cos(a.u, to_t), "bearing_t": _cos(t.u, -to_t), "approach": -rate(d_cc, fps, VELOCITY),
        "v_a_to_t": (v_a * unit(to_t)).sum(axis=1), "v_t_to_a": (v_t * unit(-to_t)).sum(axis=1),
        "rel_speed": _norm(v_a - v_t),
    }


def near_columns(a: Body, others: list[Body], fps: float) -> dict[str, np.ndarray]:
    """The NEAR columns: the other mouse whose centre is closest on each frame."""
    n = len(a.centre)
    if not others:
        return {k: np.full(n, np.nan) for k in NEAR[:-1]} | {"n_mice": np.ones(n)}
    d = np.stack([_norm(a.centre - o.centre) for o in others])  # (other mice, frames)
    pick = np.where(np.isnan(d), np.inf, d).argmin(axis=0)
    take = lambda arrs: np.stack(arrs)[pick, np.arange(n)]  # noqa: E731
    oc = take([o.centre for o in others])
    return {"near_d_cc": take(list(d)), "near_d_nc": _norm(a.nose - oc),
            "near_speed": take([o.cols["speed"] for o in others]), "near_bearing": _cos(a.u, oc - a.centre),
            "n_mice": np.full(n, len(others) + 1.0)}


def _with_rolling(base: dict[str, np.ndarray], source: dict[str, np.ndarray], rolled: tuple[str, ...],
                  fps: float, windows_s: tuple[float, ...]) -> np.ndarray:
    """(frames, features) float32: the base columns, then rolling mean/std of `rolled` (looked up in `source`)."""
    cols = list(base.values())
    r = np.stack([source[k] for k in rolled], axis=1)
    for w in windows_s:
        mean, std = rolling(r, max(2, round(w * fps)))
        cols += [c for i in range(len(rolled)) for c in (mean[:, i], std[:, i])]
    return np.stack(cols, axis=1).astype(np.float32)


def video_features(store: Store, video_id, windows_s=(0.25, 0.5, 1.0, 2.0, 4.0),
                   layout: Layout | None = None, default_actions=None) -> list[PairRows]:
    """PairRows of every labeled ordered pair of one video; a video that labels none gets none, or,
    with `default_actions`, every pair of its mice for those actions (`pairs.labels.video_pairs`)."""
    pairs = video_pairs(store, video_id, default_actions) if default_actions else video_pairs(store, video_id)
    if not pairs:
        return []
    layout = layout or Layout.of(store)
    v, i = store.videos, store.index(video_id)
    fps, ppc = float(v["fps"][i]), float(v["pix_per_cm"][i])
    arena = (float(v["width_pix"][i]) / ppc, float(v["height_pix"][i]) / ppc)
    n_mice = int(v["n_mice"][i])
    k = len(layout.keypoints)
    raw = np.asarray(store.features(video_id), dtype=np.float64)
    pts = raw.reshape(len(raw), layout.n_mice, k, 2)[:, :n_mice] / ppc
    with np.errstate(invalid="ignore"):
        bodies = {m + 1: body(pts[:, m], layout, fps, arena) for m in range(n_mice)}
    windows_s = tuple(windows_s)
    out = []
    for agent, target, mask in pairs:
        a = bodies[agent]
        with np.errstate(invalid="ignore"):
            a_pose = pose_columns(a.pts, layout, a.centre_ff, a.u)
            if agent == target:
                base = a.cols | near_columns(a, [b for m, b in bodies.items() if m != agent], fps) | a_pose
                x = _with_rolling(base, base, SELF_ROLLED, fps, windows_s)
            else:
                t = bodies[target]
                base = ({f"a_{n}": c for n, c in a.cols.items()} | {f"t_{n}": c for n, c in t.cols.items()}
                        | pair_columns(a, t, fps) | {f"a_{n}": c for n, c in a_pose.items()}
                        | {f"t_{n}": c for n, c in pose_columns(t.pts, layout, a.centre_ff, a.u).items()})
                x = _with_rolling(base, base | {"a_speed": a.cols["speed"], "t_speed": t.cols["speed"],
                                                "a_ang_vel": a.cols["ang_vel"]}, PAIR_ROLLED, fps, windows_s)
        kind = "self" if agent == target else "pair"
        out.append(PairRows(agent, target, mask, kind, x))
    return out
