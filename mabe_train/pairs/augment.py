"""Input-side options of the pair model: the left/right mirror, the lab one-hot, side harmonisation.

Mirror. The egocentric features (pairs.features) remove translation and rotation, not reflection:
a mouse circling clockwise and one circling anticlockwise look different to the model, while no
social action depends on handedness. Mirroring the raw pixels (x -> -x, every `*_left` slot
swapped with its `*_right` partner, by name through the store's layout) gives the mirror image of
the same behaviour with the same labels: a training augmentation (`pairs.mirror`, the share of
windows mirrored) and a test-time average (`pairs.tta_flip`: the probabilities of the input and its
mirror, so the prediction is mirror-invariant by construction, at twice the inference cost).
x -> -x instead of x -> width - x: the features are translation-invariant, so no arena width is needed.

Lab one-hot (`pairs.lab_input`). Labs differ in cameras, arenas, keypoint sets and in how their
annotators draw bout edges; the one-hot of the video's lab, appended to every frame's inputs,
lets the first layer learn one vector per lab (the same thing as a learned lab embedding added
there). The vocabulary is fixed (`KNOWN_LABS`, the 19 labs of the 2025 training set), so no run
artefact is needed; a lab outside it gets the all-zero vector, which training also shows: the
windows whose start frame is a multiple of `LAB_DROP_EVERY` are fed without their lab, so a new
lab at predict time is a case the model has seen, not an untrained slot.

Side harmonisation (`pairs.harmonise_sides`). Labs track the flank either at the hips (CalMS21,
CRIM13, JovialSwallow) or laterally (DeliriousFly, SparklingTapir), so the same body region lands
in different input slots and the model must learn it twice. With the option, an untracked `hip_*`
point takes the same side's `lateral_*` point and back (raw pixels, before the features), so every
such lab fills both slots of the "side" family, as the 7th-place write-up did.

Measured on the semi-real held-out videos (bench/semireal_seq.py, pairs_demo at 1,200 steps, mean
held-out score over training seeds; README "Pair-model variants"): none is a reproducible gain, so
all are off by default — mirror 0.7182 vs 0.7213 (4 seeds; the seed-to-seed spread is 0.05), flip
TTA on the same weights 0.7057 vs 0.7055 (2 seeds, 2x inference), lab one-hot 0.6964 vs 0.7055,
side harmonisation 0.6934 vs 0.7055 (2 seeds each).
"""

from __future__ import annotations

import numpy as np
import torch

from mabe_train.layout import DEFAULT_LAYOUT, Layout

KNOWN_LABS: tuple[str, ...] = (
    "AdaptableSnail", "BoisterousParrot", "CRIM13", "CalMS21_supplemental", "CalMS21_task1",
    "CalMS21_task2", "CautiousGiraffe", "DeliriousFly", "ElegantMink", "GroovyShrew",
    "InvincibleJellyfish", "JovialSwallow", "LyricalHare", "NiftyGoldfinch", "PleasantMeerkat",
    "ReflectiveManatee", "SparklingTapir", "TranquilPanther", "UppityFerret",
)
N_LAB_INPUTS = len(KNOWN_LABS)
LAB_DROP_EVERY = 10  # ~10% of training windows see no lab (start % 10 == 0): the unknown-lab case


def mirror_columns(layout: Layout = DEFAULT_LAYOUT) -> tuple[torch.Tensor, torch.Tensor]:
    """(source column (W,), sign (W,)): mirrored[..., j] = sign[j] * x[..., source[j]] over the
    store's (mouse, slot, xy) columns; a `*_left` slot takes its `*_right` partner's point and back,
    a slot without a partner in the layout keeps its own; every x is negated."""
    k = len(layout.keypoints)
    partner = []
    for name in layout.keypoints:
        other = name.replace("_left", "_right") if name.endswith("_left") else name.replace("_right", "_left")
        j = layout.index(other)
        partner.append(j if j is not None else layout.index(name))
    slots = np.asarray(partner)
    source = np.concatenate([(m * k + slots)[:, None] * 2 + np.arange(2) for m in range(layout.n_mice)]).reshape(-1)
    sign = np.tile([-1.0, 1.0], layout.n_points)
    return torch.from_numpy(source), torch.tensor(sign, dtype=torch.float32)


def mirror(x: torch.Tensor, layout: Layout = DEFAULT_LAYOUT, which: torch.Tensor | None = None) -> torch.Tensor:
    """Raw pixel windows (B, T, layout.width) mirrored left/right; only the windows where `which`
    (B,) bool is True when given. NaN (untracked) stays NaN."""
    source, sign = mirror_columns(layout)
    flipped = x.index_select(-1, source.to(x.device)) * sign.to(x.device, x.dtype)
    if which is None:
        return flipped
    return torch.where(which.to(x.device).view(-1, *([1] * (x.dim() - 1))), flipped, x)


SIDE_FAMILY = (("hip_left", "lateral_left"), ("hip_right", "lateral_right"))


def harmonise_sides(x: torch.Tensor, layout: Layout = DEFAULT_LAYOUT) -> torch.Tensor:
    """Raw pixels (..., layout.width) with each untracked hip/lateral point filled from its partner
    of the same side (SIDE_FAMILY); a layout lacking either slot of a family is left as it is."""
    out, k = x.clone(), len(layout.keypoints)
    for a, b in SIDE_FAMILY:
        i, j = layout.index(a), layout.index(b)
        if i is None or j is None:
            continue
        for m in range(layout.n_mice):
            ca, cb = slice((m * k + i) * 2, (m * k + i) * 2 + 2), slice((m * k + j) * 2, (m * k + j) * 2 + 2)
            pa, pb = x[..., ca], x[..., cb]
            out[..., ca] = torch.where(torch.isnan(pa), pb, pa)
            out[..., cb] = torch.where(torch.isnan(pb), pa, pb)
    return out


def lab_slot(lab: str) -> int:
    """Index of `lab` in KNOWN_LABS; -1 (no lab: the all-zero one-hot) for a lab outside it."""
    return KNOWN_LABS.index(lab) if lab in KNOWN_LABS else -1


def lab_onehot(slot: torch.Tensor, t: int) -> torch.Tensor:
    """(B,) lab slots (-1 = unknown) -> (B, t, N_LAB_INPUTS) float one-hot, all zeros for -1."""
    slot = slot.long()
    hot = torch.nn.functional.one_hot(slot.clamp_min(0), N_LAB_INPUTS).float() * (slot >= 0).float()[:, None]
    return hot[:, None, :].expand(-1, t, -1)
