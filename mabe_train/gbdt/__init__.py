"""The GBDT model kind: one binary gradient-boosted tree model per action over hand-made per-frame
features of every labeled (agent, target) pair.

features.py computes the features from the store (numpy, physical units, multi-scale rolling
statistics in seconds); train.py fits the models and writes the run directory; loaded.py loads a
GBDT run behind the same `predict_probs`/`thresholds` interface as the sequence models, so
predict, evaluate, bundles and ensembles treat it like any other run. LightGBM is an optional
extra (`pip install 'mabe[gbdt]'`): the package imports without it, and a command that needs it
says which extra to install. LightGBM rather than XGBoost: on the semi-real store (1 thread, same
leaves, rate and sampling, 250 rounds) it fitted sniff/attack/approach in 12.4/6.7/7.1 CPU-s against
14.8/7.2/7.6, with equal or better validation average precision (0.920/0.986/0.841 vs 0.919/0.984/0.832).
"""

from mabe_store.errors import require
from mabe_train import MabeTrainError


class GbdtError(MabeTrainError, ValueError):
    """A GBDT run cannot be trained or used as asked; the message says what to do."""


def require_lightgbm():
    """The lightgbm module, or MissingExtra naming the extra to install."""
    return require("lightgbm", extra="gbdt", feature="the GBDT model kind")
