"""Behaviours planted as body motion: each action is a pose of the agent relative to its target.

Why: a model should learn behaviours from the same cues real ones carry — egocentric agent/target
geometry and motion — not from an artefact. Each event (agent, target, action, start, stop) sets
the agent's body state over the interval to an action pose computed from the target's state
(e.g. sniffgenital: agent nose at the target's tail base, headings aligned), blended in and out
over 0.4 s ramps before `start` and after `stop`. Some actions also move the target (chase makes it
run, mount makes it slow down). Unlabeled look-alike events use the same poses at partial weight.
Trade-off: one pose family per action, so actions of one family (mount/intromit) differ subtly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mabe_store.synth.motion import Bodies, fold, heading_of, local_offset, noise, part_xy

RAMP_SEC = 0.4


@dataclass(frozen=True)
class Event:
    """One planted behaviour; mice are 0-based here; `weight` < 1 for unlabeled look-alikes."""

    agent: int
    target: int
    action: str
    start: int
    stop: int
    weight: float = 1.0


@dataclass
class Ctx:
    b: Bodies
    a: int
    g: int
    sl: slice
    t: np.ndarray  # frame numbers of the window
    s: int
    e: int
    fps: float
    rng: np.random.Generator
    obj: tuple[float, float]

    def at(self, arr: np.ndarray, frame: int, m: int) -> float:
        return float(arr[min(max(frame, 0), len(arr) - 1), m])

    def osc(self, hz: float, amp: float) -> np.ndarray:
        return amp * np.sin(2 * np.pi * hz * self.t / self.fps + self.rng.uniform(0, 6))

    def jitter(self, amp: float, sigma: float = 1.0) -> np.ndarray:
        return amp * noise(self.rng, len(self.t), sigma)

    def hold(self, arr: np.ndarray, m: int | None = None) -> np.ndarray:
        return np.full(len(self.t), self.at(arr, self.s, self.a if m is None else m))


def _rel(c: Ctx, frame: int) -> tuple[float, float, float]:
    """Unit vector from target to agent at `frame`, and their distance (cm)."""
    dx = c.at(c.b.cx, frame, c.a) - c.at(c.b.cx, frame, c.g)
    dy = c.at(c.b.cy, frame, c.a) - c.at(c.b.cy, frame, c.g)
    d = max(np.hypot(dx, dy), 1e-6)
    return dx / d, dy / d, d


def _contact(c: Ctx, part: str, ax, ay, h, length=None, yaw=None) -> dict:
    """Agent pose with its `part` at (ax, ay) and heading h."""
    length = np.full(len(c.t), 1.0) if length is None else length
    yaw = np.zeros(len(c.t)) if yaw is None else yaw
    lx, ly = local_offset(part, c.b.size[c.a], length, yaw, 0.0)
    return {"cx": ax - lx * np.cos(h) + ly * np.sin(h), "cy": ay - lx * np.sin(h) - ly * np.cos(h),
            "heading": h, "length": length, "yaw": yaw}


def _sniff_at(c: Ctx, part: str, rel: float) -> dict:
    px, py = part_xy(c.b, part, c.sl, c.g)
    h = c.b.heading[c.sl, c.g] + rel + c.jitter(0.2, c.fps * 0.3)
    gap = 0.6 + c.jitter(0.3, c.fps * 0.2)
    return _contact(c, "nose", px - gap * np.cos(h), py - gap * np.sin(h), h)


_SNIFF_SITES = (("nose", np.pi), ("tail_base", 0.0), ("lateral_left", -np.pi / 2),
                ("lateral_right", np.pi / 2))


def sniff(c: Ctx) -> dict:
    return _sniff_at(c, *_SNIFF_SITES[int(c.rng.integers(4))])


def sniffbody(c: Ctx) -> dict:
    return _sniff_at(c, *_SNIFF_SITES[2 + int(c.rng.integers(2))])


def groom(c: Ctx, rel: float) -> dict:
    pose = _sniff_at(c, "neck", rel)
    pose["yaw"] = c.osc(5.0, 0.25) + c.jitter(0.1)
    return pose


def _slow_target(c: Ctx, keep: float) -> None:
    """The target (partly) stops: its centre is pulled towards its position at `start`."""
    for arr in (c.b.cx, c.b.cy):
        arr[c.sl, c.g] += keep * (c.at(arr, c.s, c.g) - arr[c.sl, c.g])


def mount(c: Ctx, thrust: float = 0.0, lateral: float = 0.0, back: float = 1.5) -> dict:
    _slow_target(c, 0.8)
    h = c.b.heading[c.sl, c.g] + c.jitter(0.08, c.fps * 0.3)
    along = -back + c.osc(4.0, thrust)
    side = lateral * noise(c.rng, len(c.t), c.fps * 0.3)
    px = c.b.cx[c.sl, c.g] + along * np.cos(h) - side * np.sin(h)
    py = c.b.cy[c.sl, c.g] + along * np.sin(h) + side * np.cos(h)
    return _contact(c, "body_center", px, py, h, length=np.full(len(c.t), 0.85))


def attack(c: Ctx, dist: float = 4.5, amp: float = 0.8) -> dict:
    ux, uy, _ = _rel(c, c.s)
    phi = np.arctan2(uy, ux) + np.cumsum(c.jitter(0.15, 2.0))
    tx = c.b.cx[c.sl, c.g] + c.jitter(amp * 0.6)
    ty = c.b.cy[c.sl, c.g] + c.jitter(amp * 0.6)
    c.b.cx[c.sl, c.g], c.b.cy[c.sl, c.g] = tx, ty
    cx = tx + dist * np.cos(phi) + c.jitter(amp)
    cy = ty + dist * np.sin(phi) + c.jitter(amp)
    return {"cx": cx, "cy": cy, "heading": phi + np.pi + c.jitter(0.3), "yaw": c.jitter(0.3)}


def _run_path(c: Ctx, m: int, x0: float, y0: float, h0: float, speed: float, curve: float):
    """A fast path from (x0, y0) with heading h0, speeding up with the ramp, inside the arena."""
    ramp = np.clip((c.t - (c.s - RAMP_SEC * c.fps)) / (RAMP_SEC * c.fps), 0, 1)
    h = h0 + np.cumsum(curve * noise(c.rng, len(c.t), c.fps * 0.5) / c.fps)
    x = fold(x0 + np.cumsum(speed * ramp * np.cos(h) / c.fps), c.b.box[0], c.b.box[2])
    y = fold(y0 + np.cumsum(speed * ramp * np.sin(h) / c.fps), c.b.box[1], c.b.box[3])
    return x, y, heading_of(x[:, None], y[:, None], c.fps)[:, 0]


def chase(c: Ctx, speed: float = 28.0, lag_s: float = 0.3, behind: float = 5.0, side: float = 0.0):
    i0 = c.sl.start
    x, y, h = _run_path(c, c.g, c.at(c.b.cx, i0, c.g), c.at(c.b.cy, i0, c.g),
                        c.at(c.b.heading, i0, c.g), speed, 1.2)
    c.b.cx[c.sl, c.g], c.b.cy[c.sl, c.g], c.b.heading[c.sl, c.g] = x, y, h
    lag = np.maximum(np.arange(len(c.t)) - int(lag_s * c.fps), 0)
    hl = h[lag]
    return {"cx": x[lag] - behind * np.cos(hl) - side * np.sin(hl),
            "cy": y[lag] - behind * np.sin(hl) + side * np.cos(hl), "heading": hl}


def chaseattack(c: Ctx) -> dict:
    pose = chase(c, speed=22.0, lag_s=0.15, behind=3.5)
    for k in ("cx", "cy"):
        pose[k] = pose[k] + c.jitter(0.8)
    pose["heading"] = pose["heading"] + c.jitter(0.3)
    return pose


def approach(c: Ctx) -> dict:
    ux, uy, d = _rel(c, c.s)
    d0 = max(d, 15.0)
    sx, sy = c.at(c.b.cx, c.s, c.g) + ux * d0, c.at(c.b.cy, c.s, c.g) + uy * d0
    p = np.clip((c.t - c.s) / max(c.e - c.s, 1), 0, 1)
    p = p * p * (3 - 2 * p)
    gx, gy = c.b.cx[c.sl, c.g], c.b.cy[c.sl, c.g]
    cx, cy = (1 - p) * sx + p * (gx + ux * 6.0), (1 - p) * sy + p * (gy + uy * 6.0)
    return {"cx": cx, "cy": cy, "heading": np.arctan2(gy - cy, gx - cx)}


def move_away(c: Ctx, d0: float, speed: float, stop_s: float | None = None) -> dict:
    ux, uy, _ = _rel(c, c.s)
    sx, sy = c.at(c.b.cx, c.s, c.g) + ux * d0, c.at(c.b.cy, c.s, c.g) + uy * d0
    run_t = np.clip(c.t - c.s, 0, None if stop_s is None else stop_s * c.fps) / c.fps
    cx = fold(sx + ux * speed * run_t, c.b.box[0], c.b.box[2])
    cy = fold(sy + uy * speed * run_t, c.b.box[1], c.b.box[3])
    return {"cx": cx, "cy": cy, "heading": np.full(len(c.t), np.arctan2(uy, ux))}


def near(c: Ctx, d0: float, facing: bool, length: float) -> dict:
    ux, uy, _ = _rel(c, c.s)
    cx = c.b.cx[c.sl, c.g] + ux * d0 + c.jitter(0.2, c.fps * 0.2)
    cy = c.b.cy[c.sl, c.g] + uy * d0 + c.jitter(0.2, c.fps * 0.2)
    h = np.arctan2(-uy, -ux) if facing else np.arctan2(uy, ux)
    return {"cx": cx, "cy": cy, "heading": np.full(len(c.t), h), "length": np.full(len(c.t), length),
            "yaw": c.jitter(0.3, 2.0) if facing else c.hold(c.b.yaw)}


def still(c: Ctx, length: float | None = None, yaw: float | None = None) -> dict:
    """Every keypoint still: the whole body state is held at its value at `start`."""
    pose = {k: c.hold(getattr(c.b, k)) for k in ("cx", "cy", "heading", "length", "yaw", "wag")}
    if length is not None:
        pose["length"] = np.full(len(c.t), length)
    if yaw is not None:
        pose["yaw"] = np.full(len(c.t), yaw)
    return pose


def self_groom(c: Ctx, yaw: float, length: float, hz: float = 5.0) -> dict:
    pose = still(c, length=length)
    side = 1 if c.rng.random() < 0.5 else -1
    pose["yaw"] = side * yaw + c.osc(hz, 0.15) + c.jitter(0.08)
    return pose


def run(c: Ctx) -> dict:
    x, y, h = _run_path(c, c.a, c.at(c.b.cx, c.sl.start, c.a), c.at(c.b.cy, c.sl.start, c.a),
                        c.at(c.b.heading, c.s, c.a), 35.0, 0.3)
    return {"cx": x, "cy": y, "heading": h}


def dig(c: Ctx) -> dict:
    pose = still(c, length=0.9)
    h = pose["heading"]
    push = c.osc(4.0, 0.5)
    pose.update(cx=pose["cx"] + push * np.cos(h), cy=pose["cy"] + push * np.sin(h),
                yaw=c.osc(7.0, 0.25))
    return pose


def climb(c: Ctx) -> dict:
    x, y = c.at(c.b.cx, c.s, c.a), c.at(c.b.cy, c.s, c.a)
    x0, y0, x1, y1 = c.b.box
    walls = [(x - x0, np.pi, x0 + 3, y), (x1 - x, 0.0, x1 - 3, y), (y - y0, -np.pi / 2, x, y0 + 3),
             (y1 - y, np.pi / 2, x, y1 - 3)]
    _, h, wx, wy = min(walls)
    n = len(c.t)
    return {"cx": np.full(n, wx) + c.jitter(0.2), "cy": np.full(n, wy) + c.jitter(0.2),
            "heading": np.full(n, h), "length": np.full(n, 0.6), "yaw": c.jitter(0.2, 3.0)}


def explore(c: Ctx, bite: bool) -> dict:
    ox, oy = c.obj
    ang = np.arctan2(c.at(c.b.cy, c.s, c.a) - oy, c.at(c.b.cx, c.s, c.a) - ox)
    ang = ang + np.cumsum(c.jitter(0.02, c.fps * 0.5))
    gap = 0.3 if bite else 1.0
    pose = _contact(c, "nose", ox + gap * np.cos(ang), oy + gap * np.sin(ang), ang + np.pi)
    if bite:
        pose["yaw"] = c.osc(8.0, 0.2)
    return pose


POSES = {
    "sniff": sniff, "sniffbody": sniffbody,
    "sniffface": lambda c: _sniff_at(c, "nose", np.pi),
    "reciprocalsniff": lambda c: _sniff_at(c, "nose", np.pi),
    "sniffgenital": lambda c: _sniff_at(c, "tail_base", 0.0),
    "allogroom": lambda c: groom(c, 0.75 * np.pi), "dominancegroom": lambda c: groom(c, 0.0),
    "mount": mount, "intromit": lambda c: mount(c, thrust=0.7),
    "attemptmount": lambda c: mount(c, lateral=1.5, back=2.5),
    "dominancemount": lambda c: mount(c, lateral=0.8), "ejaculate": lambda c: mount(c, back=1.0),
    "dominance": lambda c: mount(c, lateral=1.5, back=3.5),
    "attack": attack, "tussle": lambda c: attack(c, dist=3.0, amp=1.2), "chaseattack": chaseattack,
    "chase": chase, "follow": lambda c: chase(c, speed=12.0, lag_s=0.6, behind=7.0),
    "shepherd": lambda c: chase(c, speed=8.0, lag_s=0.2, behind=3.0, side=5.0),
    "approach": approach,
    "avoid": lambda c: move_away(c, 6.0, 10.0), "escape": lambda c: move_away(c, 5.0, 30.0),
    "flinch": lambda c: move_away(c, 5.0, 20.0, stop_s=0.3),
    "disengage": lambda c: move_away(c, 4.0, 6.0),
    "submit": lambda c: near(c, 5.0, facing=False, length=0.8),
    "defend": lambda c: near(c, 5.0, facing=True, length=0.65),
    "rear": lambda c: still(c, length=0.5, yaw=0.0), "freeze": still,
    "rest": lambda c: still(c, length=0.75, yaw=0.5), "huddle": lambda c: still(c, length=0.7, yaw=0.3),
    "selfgroom": lambda c: self_groom(c, 1.9, 0.85), "genitalgroom": lambda c: self_groom(c, 2.7, 0.7, 3.0),
    "run": run, "dig": dig, "climb": climb,
    "exploreobject": lambda c: explore(c, False), "biteobject": lambda c: explore(c, True),
}


def _keep_pair_inside(b: Bodies, pose: dict, sl: slice, g: int, w: np.ndarray) -> None:
    """A pose that would put the agent through a wall moves the pair inwards together.

    Small arenas (CalMS21: 35 x 15 cm) cannot hold e.g. an agent behind a target facing the wall;
    shifting both keeps their relative geometry, which is what the behaviour is.
    """
    for key, lo, hi in (("cx", b.box[0], b.box[2]), ("cy", b.box[1], b.box[3])):
        shift = np.clip(pose[key], lo, hi) - pose[key]
        pose[key] = pose[key] + shift
        getattr(b, key)[sl, g] += w * shift


def apply_events(b: Bodies, events: list[Event], fps: float, rng, obj: tuple[float, float]) -> None:
    """Plant `events` into `b` in place, in start order."""
    n = len(b.cx)
    lead = max(2, round(RAMP_SEC * fps))
    for ev in sorted(events, key=lambda e: (e.start, e.agent, e.target, e.action)):
        w0, w1, e = max(0, ev.start - lead), min(n, ev.stop + lead), min(ev.stop, n)
        if w1 - w0 < 2 or ev.start >= n:
            continue
        t = np.arange(w0, w1)
        c = Ctx(b, ev.agent, ev.target, slice(w0, w1), t, ev.start, e, fps, rng, obj)
        pose = POSES[ev.action](c)
        w = np.clip(np.minimum(t - (ev.start - lead), ev.stop + lead - t) / lead, 0, 1) * ev.weight
        if ev.agent != ev.target:
            _keep_pair_inside(b, pose, c.sl, ev.target, w)
        _blend(b, ev.agent, pose, w, w0, e, fps)


def _blend(b: Bodies, m: int, pose: dict, w: np.ndarray, w0: int, e: int, fps: float) -> None:
    """Blend `pose` into mouse m's state with weights w over [w0, w0 + len(w)).

    Posture (heading, length, yaw) ramps back after the event; the position does not jump back
    to where the free walk would be: the offset at `e` decays over about a second instead.
    """
    n, w1 = len(b.cx), w0 + len(w)
    for key, val in pose.items():
        arr = getattr(b, key)
        cur = arr[w0:w1, m]
        if key == "heading":
            cur += w * (np.mod(val - cur + np.pi, 2 * np.pi) - np.pi)
        elif key in ("cx", "cy"):
            before = float(arr[e - 1, m])
            k = e - w0
            cur[:k] += w[:k] * (val[:k] - cur[:k])
            tail = np.arange(e, min(n, e + int(4 * fps)))
            arr[tail, m] += (arr[e - 1, m] - before) * np.exp(-(tail - e) / fps)
        else:
            cur += w * (val - cur)
