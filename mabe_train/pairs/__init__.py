"""The pair-aware multi-label model: for every ordered (agent, target) pair of a video, self
included, per-frame probabilities of the store's actions (MABe's 37, or a lab's own behaviours),
trained only on the triples the video labels.

features.py builds egocentric inputs on the device, labels.py the per-pair targets and masks,
sampler.py the training windows, infer.py whole-video probabilities, scoring.py decoding and the
official score; task.py plugs them into `train(cfg)` as `task: pairs`, and
mabe_train/predict.py turns a run into a Kaggle submission.
"""

from mabe_train import MabeTrainError


class PairsError(MabeTrainError):
    """A pairs run or store cannot be used as asked; the message says what to do."""
