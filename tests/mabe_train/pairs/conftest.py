"""The hand-made store the pair tests share: three videos of two labs (30 and 60 fps), one unlabeled."""

import json

import numpy as np
import pytest

from mabe_store.format import VideoData
from mabe_store.reader import open_store
from mabe_store.writer import write_store


def _video(vid, lab, length, n_mice, labeled, annotations, fps=30.0):
    feats = np.random.default_rng(vid).normal(300, 50, size=(length, 144)).astype(np.float32)
    feats[:, n_mice * 36:] = np.nan
    return VideoData(video_id=vid, lab_id=lab, features=feats, fps=fps, pix_per_cm=10.0,
                     n_mice=n_mice, behaviors_labeled=json.dumps(labeled), annotations=annotations)


@pytest.fixture
def store(tmp_path):
    videos = [
        _video(1, "LabA", 50, 2, ["mouse1,mouse2,sniff", "mouse2,mouse1,sniff", "mouse1,self,rear",
                                  "'mouse1','mouse2','attack'"],
               [(1, 2, "sniff", 10, 20), (2, 1, "sniff", 15, 25), (1, 1, "rear", 30, 60),
                (1, 2, "attack", 0, 5)]),
        _video(2, "LabB", 40, 3, ["mouse3,mouse1,chase", "mouse1,mouse4,chase", "mouse2,self,rest"],
               [(3, 1, "chase", -5, 8), (2, 2, "rest", 0, 40)], fps=60.0),
        _video(3, "LabB", 30, 2, [], []),
    ]
    write_store(tmp_path / "s.zarr", videos)
    return open_store(tmp_path / "s.zarr")
