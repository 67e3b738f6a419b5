"""Lab profiles and the video plan of a synthetic dataset.

Why: synthetic data is only useful if its labs look like the real ones, so each synthetic lab is
drawn from `lab_table.json` (figures derived once from the real train.csv and annotation files by
`derive.py`: fps, mice, body-part sets, video lengths, frame size, arena, whitelisted actions with
their rates and log-normal interval lengths) plus two hand-made MABe22-like unlabeled labs.
Trade-off: a lab is summarised by its most common metadata; per-video variation is re-drawn.

`--scale` means "fraction of the frames", realised per profile: `kaggle` keeps real video lengths
and scales the number of videos per lab (so per-file costs extrapolate linearly to the full set);
`small` and `--from-real` keep every video and scale their lengths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

from mabe_store.constants import SELF_ACTIONS
from mabe_store.errors import MabeStoreError

MABE22_PARTS = (
    "nose", "ear_left", "ear_right", "neck", "forepaw_left", "forepaw_right", "body_center",
    "hindpaw_left", "hindpaw_right", "tail_base", "tail_midpoint", "tail_tip",
)
# Not in the real train.csv we have: sized so the full kaggle profile has 8,789 videos and about
# 72M frames (7,927 unlabeled videos, ~51M frames; the 862 labeled ones are in train.csv).
_MABE22 = {
    "MABe22_keypoints": {"n_videos": 5336, "duration_sec": [60.0, 60.0, 60.0]},
    "MABe22_movies": {"n_videos": 2591, "duration_sec": [300.0, 533.0, 900.0]},
}
QUIRKY_LABS = ("DeliriousFly", "ReflectiveManatee")
# The small profile: one 3-4 mouse lab, one quirky lab, five labs never-occurring whitelists.
SMALL_LABS = ("CalMS21_task1", "AdaptableSnail", "DeliriousFly", "CRIM13", "GroovyShrew",
              "SparklingTapir")
# Short videos need denser labels to carry any signal: rates x2, and every action that occurs in
# the real lab at least 0.5 intervals per triple-minute (AdaptableSnail's are ~0.1).
SMALL_RATE_BOOST, SMALL_MIN_RATE = 2.0, 0.5


class SynthError(MabeStoreError):
    """Bad arguments or input for `synthesize`; the message says what to do."""


@dataclass(frozen=True)
class ActionStats:
    rate_per_min: float  # intervals per minute per whitelisted triple
    len_median: float  # frames
    len_sigma: float  # sigma of log length


@dataclass(frozen=True)
class LabProfile:
    """One lab's figures (see module docstring); `actions` maps whitelisted action -> stats."""

    lab_id: str
    n_videos: int
    fps: tuple[float, ...]
    n_mice: tuple[int, ...]
    duration_sec: tuple[float, float, float]  # min, median, max
    body_parts: tuple[tuple[str, ...], ...]  # most common set first
    actions: dict[str, ActionStats]
    pairs_2mice: tuple[tuple[int, int], ...]
    meta: dict = field(default_factory=dict)  # csv metadata: frame, arena, mouse strain...
    int32_frac: float = 0.0
    unlabeled_frac: float = 0.0

    @property
    def labeled(self) -> bool:
        return bool(self.actions)


@cache
def lab_table() -> dict[str, LabProfile]:
    """All 21 lab profiles: the 19 real annotated labs and the 2 MABe22-like labs."""
    raw = json.loads(resources.files("mabe_store.synth").joinpath("lab_table.json").read_text())
    labs = {lab: _profile(lab, fig) for lab, fig in raw.items()}
    for lab, fig in _MABE22.items():
        labs[lab] = LabProfile(
            lab_id=lab, n_videos=fig["n_videos"], fps=(30.0,), n_mice=(3,),
            duration_sec=tuple(fig["duration_sec"]), body_parts=(MABE22_PARTS,), actions={},
            pairs_2mice=(), meta={
                "pix_per_cm_approx": 16.0, "video_width_pix": 850, "video_height_pix": 850,
                "arena_width_cm": 50.0, "arena_height_cm": 50.0, "arena_shape": "square",
                "arena_type": "familiar", "tracking_method": "MARS",
                "mouse": {"strain": "C57Bl/6J", "color": "black", "sex": "male", "age": None,
                          "condition": None}})
    return labs


def _profile(lab: str, fig: dict) -> LabProfile:
    meta_keys = ("pix_per_cm_approx", "video_width_pix", "video_height_pix", "arena_width_cm",
                 "arena_height_cm", "arena_shape", "arena_type", "tracking_method", "mouse")
    return LabProfile(
        lab_id=lab, n_videos=fig["n_videos"], fps=tuple(fig["fps"]), n_mice=tuple(fig["n_mice"]),
        duration_sec=tuple(fig["duration_sec"]),
        body_parts=tuple(tuple(bp) for _, bp in fig["body_parts"]),
        actions={a: ActionStats(**s) for a, s in fig["actions"].items()},
        pairs_2mice=tuple(tuple(p) for p in fig["pairs_2mice"]),
        meta={k: fig[k] for k in meta_keys}, int32_frac=fig["int32_frac"],
        unlabeled_frac=fig["unlabeled_frac"])


@dataclass(frozen=True)
class VideoSpec:
    """One video to generate; `triples` are its labeled (agent, target, action), [] if unlabeled."""

    lab_id: str
    video_id: int
    split: str  # "train" or "test"
    n_frames: int
    fps: float
    n_mice: int
    body_parts: tuple[str, ...]
    triples: tuple[tuple[int, int, str], ...]
    rate_boost: float = 1.0
    min_rate: float = 0.0  # per triple-minute, for actions that occur in the real lab
    real_annotations: str | None = None  # --from-real: path of the real annotation parquet
    csv_row: dict | None = None  # --from-real: the real metadata row, written verbatim


def whitelist(profile: LabProfile, n_mice: int) -> list[tuple[int, int, str]]:
    """The lab's (agent, target, action) triples for a video with `n_mice` mice, sorted."""
    if not profile.labeled:
        return []
    pairs = profile.pairs_2mice if n_mice == 2 else tuple(
        (a, b) for a in range(1, n_mice + 1) for b in range(1, n_mice + 1) if a != b)
    agents = sorted({a for a, _ in pairs})
    out = []
    for action in profile.actions:
        if action in SELF_ACTIONS:
            out += [(a, a, action) for a in agents]
        else:
            out += [(a, b, action) for a, b in pairs]
    return sorted(out)


def _draw_frames(p: LabProfile, fps: float, rng: np.random.Generator, scale: float) -> int:
    lo, med, hi = p.duration_sec
    sigma = max(np.log(hi / lo) / 4, 1e-3) if hi > lo else 0.0
    sec = float(np.clip(med * np.exp(sigma * rng.standard_normal()), lo, hi))
    return max(30, round(sec * fps * scale))


def _video(p: LabProfile, vid: int, split: str, rng, scale: float, boost: float,
           length: tuple[int, int] | None = None) -> VideoSpec:
    """`length`: a frame range to draw from (small profile), else the lab's real durations."""
    fps = float(rng.choice(p.fps))
    n_mice = int(rng.choice(p.n_mice))
    parts_i = 0 if len(p.body_parts) == 1 or rng.random() < 0.6 else 1
    unlabeled = p.labeled and rng.random() < p.unlabeled_frac
    frames = (int(rng.integers(*length) * scale) if length else _draw_frames(p, fps, rng, scale))
    return VideoSpec(p.lab_id, vid, split, max(30, frames), fps, n_mice, p.body_parts[parts_i],
                     () if unlabeled else tuple(whitelist(p, n_mice)), boost,
                     SMALL_MIN_RATE if boost > 1 else 0.0)


def plan(profile: str, *, videos: int | None, scale: float, seed: int,
         labs: tuple[str, ...] | None = None) -> list[VideoSpec]:
    """The videos of a `small` or `kaggle` dataset, deterministic per seed."""
    rng = np.random.default_rng([seed, 7])
    table = lab_table()
    if profile == "small":
        counts = {lab: 5 for lab in SMALL_LABS} | {"MABe22_keypoints": 3}
        length, boost, n_test = (3000, 6000), SMALL_RATE_BOOST, 4
    else:
        counts = {lab: max(1, round(p.n_videos * scale)) for lab, p in table.items()}
        length, boost, n_test = None, 1.0, 1
    if labs:
        counts = {lab: n for lab, n in counts.items() if lab in labs}
    order = _round_robin(counts)[: videos or None]
    ids = rng.choice(2**31 - 1, size=len(order) + n_test, replace=False)
    specs = []
    for i, lab in enumerate(order):
        frames = (1800, 1801) if lab.startswith("MABe22") and length else length
        specs.append(_video(table[lab], int(ids[i]), "train", rng, scale if length else 1.0,
                            boost, frames))
    labeled = [lab for lab in dict.fromkeys(order) if table[lab].labeled] or list(counts)
    n_test = min(n_test, max(1, len(order) // 4))
    for j in range(n_test):
        lab = labeled[j % len(labeled)]
        specs.append(_video(table[lab], int(ids[len(order) + j]), "test", rng,
                            scale if length else 1.0, boost, length))
    return specs


def _round_robin(counts: dict[str, int]) -> list[str]:
    """Labs interleaved (A, B, C, A, B, ...) so a `--videos` cap still covers many labs."""
    out, left = [], dict(counts)
    while any(left.values()):
        for lab in counts:
            if left[lab]:
                out.append(lab)
                left[lab] -= 1
    return out
