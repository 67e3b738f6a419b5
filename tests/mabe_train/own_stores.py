"""A small learnable store of a lab's own vocabulary: two annotation streams, one nested in the other.

The planted bouts of tests.mabe_train.stores renamed: stream S1 has `investigate` (sniff) and
`fight` (attack), mutually exclusive; `climb` (mount) belongs to no stream; stream S2 has `bite`,
the first half of every `fight` bout (so S2 overlaps S1, as the real rat annotation does); `groom`
(rear) is a self behaviour, labeled and never shown.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from mabe_store.vocabulary import Vocabulary
from mabe_store.writer import write_store
from tests.mabe_train.stores import make_video

RENAME = {"sniff": "investigate", "attack": "fight", "mount": "climb", "rear": "groom"}
OWN_VOCABULARY = Vocabulary.from_rows([
    {"action": "investigate", "kind": "pair", "stream": "S1"},
    {"action": "fight", "kind": "pair", "stream": "S1"},
    {"action": "climb", "kind": "pair", "stream": ""},
    {"action": "bite", "kind": "pair", "stream": "S2"},
    {"action": "groom", "kind": "self", "stream": ""},
])


def _own(video):
    rows = [(a, t, RENAME[x], s, e) for a, t, x, s, e in video.annotations]
    rows += [(a, t, "bite", s, s + max(1, (e - s) // 2)) for a, t, x, s, e in rows if x == "fight"]
    labeled = [",".join((*e.split(",")[:2], RENAME[e.split(",")[2]])) for e in json.loads(video.behaviors_labeled)]
    labeled.append("mouse1,mouse2,bite")
    return dataclasses.replace(video, annotations=rows, behaviors_labeled=json.dumps(labeled),
                               width_pix=640.0, height_pix=480.0)


def make_own_store(path: Path, n_videos: int = 8, length: int = 400) -> Path:
    rng = np.random.default_rng(0)
    videos = [_own(make_video(100 + i, f"Lab{i % 2}", length, rng)) for i in range(n_videos)]
    return write_store(path, videos, vocabulary=OWN_VOCABULARY)
