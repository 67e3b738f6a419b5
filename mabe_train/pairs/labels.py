"""Per-pair frame targets and masks, rebuilt from the store's verbatim annotation intervals.

The store's `actions` array says *that* an action happens on a frame, not *who* does it to whom;
the pair model needs it per ordered (agent, target). We rasterise each pair's intervals (clipped
to the video) and pack the actions of a frame (the store's vocabulary: MABe's 37, or a lab's own, at
most 64) into the bits of one int64: 8 bytes per pair-frame instead of 37, so every labeled pair of the full competition (~21M frames x ~4 pairs, ~0.7 GB)
stays in RAM or on the GPU and a batch unpacks with one shift.

Masks: a pair trains only the actions of the video's clean `behaviors_labeled` triples for that
exact (agent, target) — an action the video does not label for the pair is unknown, never negative.
Self triples name the agent as target, so self actions are only ever trained on self pairs.
Pairs are restricted to the video's `n_mice`; a pair without any labeled triple (and every pair of
an unlabeled video) contributes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mabe_store.reader import Store
from mabe_train.submission import to_tracking_frames
from mabe_train.vocab import MABE, max_bits_check, vocabulary_of


def video_pairs(store: Store, video_id, default_actions=None) -> list[tuple[int, int, np.ndarray]]:
    """(agent, target, (A,) bool mask) per labeled ordered pair, 1-based ids, sorted by pair.

    A video that labels no triple (a lab's own, unannotated tracking) gets, when `default_actions`
    names some, every ordered pair of its mice: self pairs with the self actions among them, the
    others with the pair actions.
    """
    vocab = vocabulary_of(store)
    names = np.asarray(vocab.actions)
    trip = store.labeled_triples(video_id)
    n_mice = int(store.videos["n_mice"][store.index(video_id)])
    masks: dict[tuple[int, int], np.ndarray] = {}
    for a, t, act in zip(trip["agent"], trip["target"], trip["action"], strict=True):
        if 1 <= a <= n_mice and 1 <= t <= n_mice:
            masks.setdefault((int(a), int(t)), np.zeros(len(names), dtype=bool))[vocab.index[act]] = True
    if not masks and default_actions:
        want = np.isin(names, list(default_actions))
        is_self = np.isin(names, list(vocab.self_actions))
        for a in range(1, n_mice + 1):
            for t in range(1, n_mice + 1):
                m = want & (is_self if a == t else ~is_self)
                if m.any():
                    masks[(a, t)] = m
    return [(a, t, m) for (a, t), m in sorted(masks.items())]


def pair_intervals(ann: dict[str, np.ndarray], agent: int, target: int, length: int,
                   scale: float = 1.0, *, index: dict[str, int] | None = None) -> np.ndarray:
    """(K, 3) int64 rows (action index, start, stop) of one pair in tracking frames, clipped to
    [0, length), non-empty; scale: the lab's annotation frames per tracking frame
    (decode.DecodeConfig.label_frame_scale); index: the store vocabulary's column of each action
    (`Vocabulary.index`; MABe's when not given)."""
    keep = (ann["agent_id"] == agent) & (ann["target_id"] == target)
    index = MABE.index if index is None else index
    act = np.array([index[a] for a in ann["action"][keep]], dtype=np.int64)
    start = np.clip(to_tracking_frames(ann["start_frame"][keep], scale), 0, length)
    stop = np.clip(to_tracking_frames(ann["stop_frame"][keep], scale), 0, length)
    rows = np.stack([act, start, stop], axis=1) if act.size else np.zeros((0, 3), dtype=np.int64)
    return rows[rows[:, 2] > rows[:, 1]]


def rasterise_pair(intervals: np.ndarray, length: int, n_actions: int | None = None) -> np.ndarray:
    """(T, A) uint8 frame targets from (K, 3) (action, start, stop) rows, A = n_actions (the store
    vocabulary's size; MABe's 37 when not given); cumsum, no frame loop."""
    n_actions = len(MABE.actions) if n_actions is None else n_actions
    edges = np.zeros((length + 1, n_actions), dtype=np.int32)
    np.add.at(edges, (intervals[:, 1], intervals[:, 0]), 1)
    np.add.at(edges, (intervals[:, 2], intervals[:, 0]), -1)
    return (np.cumsum(edges[:-1], axis=0) > 0).astype(np.uint8)


def pack_bits(y: np.ndarray) -> np.ndarray:
    """(T, A) 0/1 -> (T,) int64 with bit a set where action a is on (A <= 64)."""
    return (y.astype(np.int64) * np.left_shift(np.int64(1), np.arange(y.shape[1], dtype=np.int64))).sum(axis=1)


def unpack_bits(bits: torch.Tensor, n_actions: int) -> torch.Tensor:
    """(...,) int64 -> (..., A) float32 0/1 with A = n_actions; on the tensor's device."""
    shifts = torch.arange(n_actions, device=bits.device, dtype=torch.int64)
    return ((bits.unsqueeze(-1) >> shifts) & 1).to(torch.float32)


@dataclass
class PairSet:
    """Every trainable ordered pair of some staged videos (P pairs, K intervals, n pair-frames).

    Pair p covers staged video `video[p]` (index into Staged.starts); its packed targets are
    `bits[label_start[p] : label_start[p] + length[p]]`.
    """

    video: np.ndarray  # (P,) int64 staged-video index
    agent: np.ndarray  # (P,) int64, 0-based
    target: np.ndarray  # (P,) int64, 0-based (== agent for self)
    mask: np.ndarray  # (P, A) bool labeled actions of the pair
    label_start: np.ndarray  # (P,) int64
    length: np.ndarray  # (P,) int64 frames
    bits: np.ndarray  # (n,) int64 packed targets
    intervals: np.ndarray  # (K, 4) int64 (pair, action, start, stop), clipped, labeled only

    @property
    def n_pairs(self) -> int:
        return len(self.video)


def build_pairs(store: Store, video_index, label_frame_scale: dict[str, float] | None = None) -> PairSet:
    """The PairSet of every labeled pair of the videos at these rows of the store's video table
    (e.g. `Staged.video_index`); unlabeled videos give none. Reads only the small tables."""
    vocab = vocabulary_of(store)
    max_bits_check(vocab)
    n_actions = len(vocab.actions)
    cols: dict[str, list] = {k: [] for k in ("video", "agent", "target", "mask", "length")}
    bits, intervals = [], []
    for j, vi in enumerate(video_index):  # j: position in video_index (PairSet.video)
        vid = store.videos["video_id"][vi]
        length = int(store.videos["length"][vi])
        ann = store.annotations(vid)
        scale = (label_frame_scale or {}).get(str(store.videos["lab_id"][vi]), 1.0)
        for agent, target, mask in video_pairs(store, vid):
            iv = pair_intervals(ann, agent, target, length, scale, index=vocab.index)
            iv = iv[mask[iv[:, 0]]]  # an annotated but unlabeled action stays unknown
            p = len(cols["video"])
            intervals.append(np.column_stack([np.full(len(iv), p, dtype=np.int64), iv]))
            bits.append(pack_bits(rasterise_pair(iv, length, n_actions)))
            for k, v in zip(cols, (j, agent - 1, target - 1, mask, length), strict=True):
                cols[k].append(v)
    lengths = np.asarray(cols["length"], dtype=np.int64)
    return PairSet(
        video=np.asarray(cols["video"], dtype=np.int64),
        agent=np.asarray(cols["agent"], dtype=np.int64),
        target=np.asarray(cols["target"], dtype=np.int64),
        mask=np.asarray(cols["mask"], dtype=bool).reshape(-1, n_actions),
        label_start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        length=lengths,
        bits=np.concatenate(bits) if bits else np.zeros(0, dtype=np.int64),
        intervals=np.concatenate(intervals) if intervals else np.zeros((0, 4), dtype=np.int64),
    )
