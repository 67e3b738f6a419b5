"""Per-frame action probabilities of every labeled ordered pair of a whole video.

Validation and `mabe-train predict` share this path. A video's raw (T, 144) pixels are read once;
for each ordered pair its windows slide over every frame (`mabe_train.windows.predict_video`,
overlapping logits averaged) with the egocentric features computed per window on the device.

Which pairs: the pairs named by the video's clean `behaviors_labeled` triples. The metric only
counts rows whose "agent,target,action" is an entry of that list, so a pair outside it can never
score; skipping it is the same submission at a fraction of the compute. Actions the pair does not
label get probability 0, so the decoder never emits them (self actions exist only on self pairs).
"""

from __future__ import annotations

import numpy as np
import torch

from mabe_store.reader import Store
from mabe_train.decode import VideoProbs
from mabe_train.layout import DEFAULT_LAYOUT, Layout
from mabe_train.pairs.augment import (
    back_to_video,
    harmonise_sides,
    lab_onehot,
    lab_slot,
    mirror,
    resample_video,
)
from mabe_train.pairs.features import pair_features
from mabe_train.pairs.labels import video_pairs
from mabe_train.pairs.settings import PairsSettings
from mabe_train.vocab import vocabulary_of
from mabe_train.windows import predict_video

INFER_WINDOWS = 512  # windows per model call, all pairs together (memory ~ 512 x W x 149 floats)


@torch.no_grad()
def pairs_probs(model: torch.nn.Module, raw: np.ndarray, pairs: list[tuple[int, int]], fps: float,
                pix_per_cm: float, *, window: int, stride: int = 0,
                device: torch.device | str = "cpu", layout: Layout = DEFAULT_LAYOUT,
                lab: str | None = None, options: PairsSettings | None = None) -> np.ndarray:
    """(P, T, A) sigmoid probabilities of the ordered pairs (1-based ids) of one video.

    Every window is read once and scored for all P pairs in one model call (the pairs differ only
    in which mice the features centre on), so a 4-mouse video costs one pass, not sixteen.
    options: the run's `pairs:` settings — `lab_input` appends the one-hot of `lab` (zeros for a
    lab the vocabulary lacks), `tta_flip` averages each window's probabilities with its mirror's,
    `harmonise_sides` fills untracked hip/lateral points from their partner first, `common_fps`
    resamples the video to that rate and maps the logits back to its own T frames.
    """
    dev = torch.device(device)
    opt = options or PairsSettings()
    n_pairs = len(pairs)
    agents = torch.tensor([a - 1 for a, _ in pairs], device=dev)
    targets = torch.tensor([t - 1 for _, t in pairs], device=dev)
    slot = lab_slot(lab) if lab is not None else -1

    def logits_of(xb: torch.Tensor, fps_b: torch.Tensor) -> torch.Tensor:
        n, w = xb.shape[:2]
        if opt.harmonise_sides:
            xb = harmonise_sides(xb, layout)
        feats = pair_features(xb.repeat(n_pairs, 1, 1), agents.repeat_interleave(n),
                              targets.repeat_interleave(n),
                              torch.full((n * n_pairs,), float(pix_per_cm), device=dev),
                              fps_b.repeat(n_pairs), layout)
        if opt.lab_input:
            feats = torch.cat((feats, lab_onehot(torch.full((len(feats),), slot, device=dev), w)), dim=-1)
        logits = model(feats).reshape(n_pairs, n, w, -1)  # pair-major, as repeat() laid it out
        return logits.permute(1, 2, 0, 3).reshape(n, w, -1)

    def forward(xb: torch.Tensor, fps_b: torch.Tensor) -> torch.Tensor:
        logits = logits_of(xb, fps_b)
        if not opt.tta_flip:
            return logits
        p = (torch.sigmoid(logits) + torch.sigmoid(logits_of(mirror(xb, layout), fps_b))) / 2
        return torch.logit(p, eps=1e-7)

    seen_fps = opt.common_fps if opt.common_fps > 0 else fps
    seen = raw if seen_fps == fps else resample_video(torch.from_numpy(np.asarray(raw)), fps, seen_fps).numpy()
    logits = predict_video(forward, seen, seen_fps, window, stride=stride,
                           batch_size=max(1, INFER_WINDOWS // n_pairs), device=dev)
    if seen_fps != fps:
        logits = back_to_video(logits, fps, seen_fps, len(raw))  # onto the video's own frames
    t = logits.shape[0]
    return torch.sigmoid(logits.reshape(t, n_pairs, -1)).permute(1, 0, 2).numpy().astype(np.float32)


def video_probs(model: torch.nn.Module, store: Store, video_id, *, window: int, stride: int = 0,
                device: torch.device | str = "cpu", layout: Layout = DEFAULT_LAYOUT,
                default_actions=None, options: PairsSettings | None = None) -> VideoProbs | None:
    """Probabilities of every labeled ordered pair of one video, 0 on the actions a pair does not
    label; None for a video that labels no triple (it cannot score)."""
    i = store.index(video_id)
    v = store.videos
    pairs = video_pairs(store, video_id, default_actions)
    if not pairs:
        return None
    raw = np.ascontiguousarray(store.features(video_id))
    probs = pairs_probs(model, raw, [(a, t) for a, t, _ in pairs], float(v["fps"][i]),
                        float(v["pix_per_cm"][i]), window=window, stride=stride, device=device,
                        layout=layout, lab=str(v["lab_id"][i]), options=options)
    labeled = np.stack([m for _, _, m in pairs])
    for p, mask in enumerate(labeled):
        probs[p][:, ~mask] = 0.0
    return VideoProbs(int(v["video_id"][i]), str(v["lab_id"][i]), [(a, t) for a, t, _ in pairs], probs, labeled,
                      float(v["fps"][i]), vocabulary_of(store))
