"""One synthetic video: schedule behaviours, move the bodies, render keypoints, write parquet.

Why: every video is independent given its spec and seed, so it is the unit of work of the process
pool and of determinism (same spec + seed -> the same bytes). Scheduling draws a Poisson number
of intervals per whitelisted triple at the lab's rate with log-normal lengths, then accepts them
greedily so that a mouse takes part in one event at a time (ramps included) — this also keeps the
intervals of each (agent, target) pair disjoint, as in the real data. Unlabeled events are
scheduled the same way at half the rate: look-alikes of the whitelisted actions (same poses at
35-60 % weight, shorter) and full-strength behaviours the lab does not label (sniff, approach,
chase, rear, selfgroom) — unknown, not negative, in that lab, as in the real data.

Files are written the way Kaggle's were: by Polars with its defaults (zstd), tracking dtypes
`video_frame int32, mouse_id int8, bodypart string, x float32, y float32`, coordinates rounded to
3 decimals as the real ones are. Both matter for any size ratio measured on synthetic data: the
pyarrow/snappy/int64 files written before were 1.65 x larger for the same rows, and unrounded
float32 coordinates compress differently from 3-decimal ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from mabe_store.synth.actions import RAMP_SEC, Event, apply_events
from mabe_store.synth.motion import corrupt, free_motion, render
from mabe_store.synth.profiles import ActionStats, LabProfile, SynthError, VideoSpec, lab_table

# Behaviours every lab's mice show, labeled or not (unlabeled where the lab does not list them).
DECOY_ACTIONS = ("sniff", "approach", "chase", "rear", "selfgroom")


# kind -> (rate factor, length factor, weight range): labeled events; look-alikes of the
# whitelisted actions (partial poses, shorter); unlabeled behaviours the lab does not label.
_KINDS = {"label": (1.0, 1.0, (1.0, 1.0)), "lookalike": (0.5, 0.5, (0.35, 0.6)),
          "unlabeled": (0.5, 1.0, (1.0, 1.0))}


def _draw(triples, profile: LabProfile, spec: VideoSpec, rng, kind: str) -> list[Event]:
    """Poisson-many intervals per triple at the lab's rate, log-normal lengths, uniform starts."""
    rate_f, len_f, (w_lo, w_hi) = _KINDS[kind]
    minutes = spec.n_frames / spec.fps / 60
    out = []
    for a, g, act in triples:
        st = profile.actions.get(act)
        if st is None or st.rate_per_min <= 0:
            continue
        rate = max(st.rate_per_min * spec.rate_boost, spec.min_rate) * rate_f
        for _ in range(rng.poisson(rate * minutes)):
            length = st.len_median * np.exp(st.len_sigma * rng.standard_normal()) * len_f
            length = int(np.clip(length, 2, spec.n_frames / 3))
            start = int(rng.integers(0, max(1, spec.n_frames - length)))
            w = float(rng.uniform(w_lo, w_hi))
            out.append(Event(a - 1, g - 1, act, start, start + length, w))
    return out


def _accept(cands: list[Event], busy: np.ndarray, lead: int, rng) -> list[Event]:
    """Keep candidates (in random order) whose mice are free over the event and its ramps."""
    kept = []
    for i in rng.permutation(len(cands)):
        ev = cands[i]
        lo, hi = max(0, ev.start - lead), ev.stop + lead
        mice = {ev.agent, ev.target}
        if any(busy[m, lo:hi].any() for m in mice):
            continue
        for m in mice:
            busy[m, lo:hi] = True
        kept.append(ev)
    return kept


def schedule(spec: VideoSpec, profile: LabProfile, rng) -> tuple[list[Event], list[Event]]:
    """Labeled events (from the lab's rates, or the real annotation file) and unlabeled decoys."""
    lead = max(2, round(RAMP_SEC * spec.fps))
    busy = np.zeros((spec.n_mice, spec.n_frames + 4 * lead + 10), bool)
    _check_mice(spec, spec.triples, "behaviors_labeled")
    if spec.real_annotations:
        labeled = _real_events(spec)
        _check_mice(spec, [(e.agent + 1, e.target + 1) for e in labeled], "annotation file")
        for ev in labeled:
            for m in {ev.agent, ev.target}:
                busy[m, max(0, ev.start - lead): ev.stop + lead] = True
    else:
        labeled = _accept(_draw(spec.triples, profile, spec, rng, "label"), busy, lead, rng)
    lookalike = _draw(spec.triples, profile, spec, rng, "lookalike")
    others = [t for t in _decoy_triples(spec.n_mice) if t[2] not in profile.actions]
    unlabeled = _draw(others, _generic_profile(profile), spec, rng, "unlabeled")
    return labeled, _accept(lookalike + unlabeled, busy, lead, rng)


def _check_mice(spec: VideoSpec, pairs, where: str) -> None:
    """Every (agent, target, ...) must name one of the video's tracked mice 1..n_mice."""
    bad = sorted({i for t in pairs for i in t[:2] if not 1 <= i <= spec.n_mice})
    if bad:
        raise SynthError(f"video {spec.video_id}: its {where} names mice {bad} but it tracks "
                         f"mice 1..{spec.n_mice}; fix the video's mouse count or its labels")


def _decoy_triples(n_mice: int) -> list[tuple[int, int, str]]:
    return [(a, b, act) for act in DECOY_ACTIONS for a in range(1, n_mice + 1)
            for b in range(1, n_mice + 1) if (a == b) == (act in ("rear", "selfgroom"))]


def _generic_profile(p: LabProfile) -> LabProfile:
    """Rates and lengths of unlabeled behaviours: CalMS21_task1's (a well-labeled lab)."""
    ref = lab_table()["CalMS21_task1"].actions
    acts = {a: ref.get(a, ActionStats(1.0, 40.0, 0.6)) for a in DECOY_ACTIONS}
    return LabProfile(**{**p.__dict__, "actions": acts})


def _real_events(spec: VideoSpec) -> list[Event]:
    d = pq.read_table(spec.real_annotations).to_pydict()
    return [Event(a - 1, g - 1, act, int(s), int(e))
            for a, g, act, s, e in zip(d["agent_id"], d["target_id"], d["action"],
                                       d["start_frame"], d["stop_frame"], strict=True)
            if s < spec.n_frames]


def geometry(spec: VideoSpec, profile: LabProfile) -> tuple[float, tuple, tuple[float, float]]:
    """Pixels per cm, the arena box in cm, and the arena's pixel origin in the frame.

    The video's own csv row (semi-real mode) wins over the lab's most common metadata.
    """
    m = dict(profile.meta, **{k: v for k, v in (spec.csv_row or {}).items() if k in profile.meta and v})
    ppc = float(m["pix_per_cm_approx"])
    w_px, h_px = float(m["video_width_pix"]), float(m["video_height_pix"])
    aw = min(float(m["arena_width_cm"]), w_px / ppc)
    ah = min(float(m["arena_height_cm"]), h_px / ppc)
    box = (2.0, 2.0, max(aw - 2.0, 8.0), max(ah - 2.0, 8.0))
    return ppc, box, ((w_px - aw * ppc) / 2, (h_px - ah * ppc) / 2)


def tracking_table(spec: VideoSpec, profile: LabProfile, rng, labeled, decoys) -> pl.DataFrame:
    """The long-format tracking table: one row per tracked (frame, mouse, body part)."""
    ppc, box, origin = geometry(spec, profile)
    bodies = free_motion(spec.n_frames, spec.n_mice, spec.fps, box, rng)
    u = rng.uniform(0.25, 0.75, 2)
    obj = (box[0] + u[0] * (box[2] - box[0]), box[1] + u[1] * (box[3] - box[1]))
    apply_events(bodies, labeled + decoys, spec.fps, rng, obj)
    for arr, lo, hi in ((bodies.cx, box[0] - 2, box[2] + 2), (bodies.cy, box[1] - 2, box[3] + 2)):
        np.clip(arr, lo, hi, out=arr)
    pts = render(bodies, spec.body_parts, ppc, origin)
    present = corrupt(pts, spec.body_parts, ppc, rng)
    flat = np.flatnonzero(present)
    mice, k = spec.n_mice, len(spec.body_parts)
    names = np.array(spec.body_parts, dtype=object)
    xy = [np.round(pts[..., c].ravel()[flat].astype(np.float64), 3).astype(np.float32) for c in (0, 1)]
    return pl.DataFrame({
        "video_frame": pl.Series((flat // (mice * k)).astype(np.int32), dtype=pl.Int32),
        "mouse_id": pl.Series(((flat // k) % mice + 1).astype(np.int8), dtype=pl.Int8),
        "bodypart": pl.Series(names[flat % k], dtype=pl.String),
        "x": pl.Series(xy[0], dtype=pl.Float32),
        "y": pl.Series(xy[1], dtype=pl.Float32),
    })


def annotation_table(spec: VideoSpec, profile: LabProfile, labeled: list[Event], rng) -> pl.DataFrame:
    """Labeled intervals sorted by start; int32 frames when needed or as often as the lab does."""
    evs = sorted(labeled, key=lambda e: (e.start, e.agent, e.target))
    stops = [e.stop for e in evs]
    if evs and rng.random() < 0.05:  # rarely an interval runs past the last tracked frame
        stops[-1] = max(stops[-1], spec.n_frames + int(rng.integers(1, 30)))
    wide = max(stops, default=0) > 32000 or rng.random() < profile.int32_frac
    frame_t = pl.Int32 if wide else pl.Int16
    return pl.DataFrame({
        "agent_id": pl.Series([e.agent + 1 for e in evs], dtype=pl.Int8),
        "target_id": pl.Series([e.target + 1 for e in evs], dtype=pl.Int8),
        "action": pl.Series([e.action for e in evs], dtype=pl.String),
        "start_frame": pl.Series([e.start for e in evs], dtype=frame_t),
        "stop_frame": pl.Series(stops, dtype=frame_t),
    })


def make_video(spec: VideoSpec, profile: LabProfile, seed: int, out: Path) -> tuple[int, list[tuple]]:
    """Write the video's tracking (and annotation) parquet; return (frames, occurring triples)."""
    rng = np.random.default_rng([seed, spec.video_id])
    labeled, decoys = schedule(spec, profile, rng)
    split = "train" if spec.split == "train" else "test"
    track = out / f"{split}_tracking" / spec.lab_id / f"{spec.video_id}.parquet"
    track.parent.mkdir(parents=True, exist_ok=True)
    tracking_table(spec, profile, rng, labeled, decoys).write_parquet(track)  # Polars defaults, as Kaggle
    has_labels = spec.split == "train" and (spec.triples or spec.real_annotations)
    if has_labels and not spec.real_annotations:
        ann = out / "train_annotation" / spec.lab_id / f"{spec.video_id}.parquet"
        ann.parent.mkdir(parents=True, exist_ok=True)
        annotation_table(spec, profile, labeled, rng).write_parquet(ann)
    occurring = sorted({(e.agent + 1, e.target + 1, e.action) for e in labeled})
    return spec.n_frames, occurring
