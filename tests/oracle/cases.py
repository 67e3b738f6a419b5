"""Seeded random inputs for checking the vectorised metric against a reference.

Each case is a (solution, submission) pair of plain row lists shaped like the real data: several
labs, 2-4 mice, self pairs, zero-length and touching intervals, repeated rows, quoted
behaviors_labeled copies, whitelisted actions that never occur, predictions for triples a video
does not label and for videos that are not in the solution. `clash=True` adds one pair predicted
with two whitelisted actions on a frame, which the metric must reject.
"""

from __future__ import annotations

import json

import numpy as np

SELF = ("rear", "selfgroom", "climb")
PAIR = ("sniff", "attack", "mount", "approach")
SOLUTION_COLUMNS = ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame",
                    "lab_id", "behaviors_labeled"]
SUBMISSION_COLUMNS = ["row_id", "video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]


def _triples(rng, n_mice: int) -> list[tuple[str, str, str]]:
    out = []
    for a in range(1, n_mice + 1):
        out += [(f"mouse{a}", "self", act) for act in SELF if rng.random() < 0.5]
        for t in range(1, n_mice + 1):
            if t != a:
                out += [(f"mouse{a}", f"mouse{t}", act) for act in PAIR if rng.random() < 0.5]
    return out or [("mouse1", "mouse2", "sniff")]


def _intervals(rng, length: int, n: int) -> list[tuple[int, int]]:
    """n random intervals: some zero-length, some touching the previous one, some repeated."""
    out: list[tuple[int, int]] = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.1:
            s = int(rng.integers(0, length))
            out.append((s, s))
        elif kind < 0.2 and out:
            s = out[-1][1]
            out.append((s, s + int(rng.integers(1, 30))))
        elif kind < 0.3 and out:
            out.append(out[int(rng.integers(len(out)))])
        else:
            s = int(rng.integers(0, length))
            out.append((s, s + int(rng.integers(1, 60))))
    return out


def _partition(rng, length: int, k: int) -> list[tuple[int, int]]:
    cuts = np.sort(rng.choice(np.arange(1, length), size=k - 1, replace=False)) if k > 1 else []
    edges = [0, *map(int, cuts), length]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _video_submission(rng, vid: int, whitelist, others, length: int) -> list[tuple]:
    rows = []
    pairs = sorted({(a, t) for a, t, _ in whitelist})
    for a, t in pairs:
        acts = [x for aa, tt, x in whitelist if (aa, tt) == (a, t)]
        for s, e in _partition(rng, length, int(rng.integers(1, 8))):
            if rng.random() < 0.35:
                continue
            act = acts[int(rng.integers(len(acts)))]
            rows.append((vid, a, t, act, s, e))
            if rng.random() < 0.2:  # a repeat of the same action inside the segment
                rows.append((vid, a, t, act, s + (e - s) // 3, e))
        if rng.random() < 0.3:  # zero-length row of another action anywhere
            z = int(rng.integers(0, length))
            rows.append((vid, a, t, acts[int(rng.integers(len(acts)))], z, z))
    for a, t, act in others:  # unwhitelisted predictions overlap freely (ignored)
        s = int(rng.integers(0, length))
        rows.append((vid, a, t, act, s, s + int(rng.integers(0, 80))))
    return rows


def _near_truth(rng, truth: list[tuple], whitelist) -> list[tuple]:
    """Jittered copies of the whitelisted truth, clipped so one pair never has two actions."""
    rows, cursor = [], {}
    keep = [r for r in truth if r[1:4] in set(whitelist) and r[5] > r[4]]
    for vid, a, t, act, s, e, *_ in sorted(keep, key=lambda r: r[4]):
        s = max(s + int(rng.integers(-5, 6)), cursor.get((a, t), 0), 0)
        e = e + int(rng.integers(-5, 6))
        if e > s:
            rows.append((vid, a, t, act, s, e))
            cursor[(a, t)] = e
            if rng.random() < 0.1:
                rows.append((vid, a, t, act, s, (s + e) // 2))
    return rows


def _add_clash(rng, sub: list[tuple], whitelists: dict) -> None:
    for vid, wl in whitelists.items():
        by_pair: dict[tuple[str, str], list[str]] = {}
        for a, t, act in wl:
            by_pair.setdefault((a, t), []).append(act)
        for (a, t), acts in by_pair.items():
            if len(acts) >= 2:
                s = int(rng.integers(0, 100))
                sub += [(vid, a, t, acts[0], s, s + 20), (vid, a, t, acts[1], s + 10, s + 40)]
                return


def random_case(seed: int, clash: bool = False) -> tuple[list[tuple], list[tuple]]:
    """(solution rows, submission rows) in SOLUTION_COLUMNS / SUBMISSION_COLUMNS order."""
    rng = np.random.default_rng(seed)
    sol, sub, whitelists = [], [], {}
    vid = 1000 * (seed % 997)
    for lab in range(int(rng.integers(1, 4))):
        for _ in range(int(rng.integers(1, 4))):
            vid += 1
            length, n_mice = int(rng.integers(100, 400)), int(rng.integers(2, 5))
            triples = _triples(rng, n_mice)
            wl = [tr for tr in triples if rng.random() < 0.8] or triples[:1]
            entries = [",".join(tr) for tr in wl]
            entries += ["'" + "','".join(tr) + "'" for tr in wl if rng.random() < 0.2]  # quoted copies
            labeled = json.dumps(entries)
            for a, t, act in triples:
                if rng.random() < 0.6:
                    for s, e in _intervals(rng, length, int(rng.integers(1, 5))):
                        sol.append((vid, a, t, act, s, e, f"Lab{lab}", labeled))
            if not any(r[0] == vid for r in sol):
                sol.append((vid, *wl[0], 0, 0, f"Lab{lab}", labeled))
            if rng.random() < 0.2:  # later rows disagree: only the video's first row counts
                wider = json.dumps([",".join(tr) for tr in triples])
                first = next(i for i, r in enumerate(sol) if r[0] == vid)
                sol[first + 1:] = [(*r[:7], wider) for r in sol[first + 1:]]
            whitelists[vid] = wl
            others = [tr for tr in triples if tr not in wl][:3]
            if rng.random() < 0.5:
                sub += _near_truth(rng, [r for r in sol if r[0] == vid], wl)
            else:
                sub += _video_submission(rng, vid, wl, others, length)
    sub += [(vid + 1, "mouse1", "mouse2", "sniff", 0, 50)]  # a video not in the solution
    if clash:
        _add_clash(rng, sub, whitelists)
    order = rng.permutation(len(sub))
    sub = [(i, *sub[j]) for i, j in enumerate(order)]
    return sol, sub
