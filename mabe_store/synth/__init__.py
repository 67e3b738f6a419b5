"""Synthetic MABe raw datasets in the exact Kaggle layout (`mabe-store synth`).

`synthesize(out, profile=..., videos=..., scale=..., seed=..., from_real=...)` writes train.csv,
train_tracking/, train_annotation/, test.csv, test_tracking/ and sample_submission.csv. See
`profiles.py` (labs and sizes), `motion.py` (bodies), `actions.py` (planted behaviours),
`video.py` (one video) and `semireal.py` (real labels, synthetic tracking).
"""

from mabe_store.synth.profiles import SynthError, lab_table
from mabe_store.synth.write import COLUMNS, SynthSummary, synthesize

__all__ = ["COLUMNS", "SynthError", "SynthSummary", "lab_table", "synthesize"]
