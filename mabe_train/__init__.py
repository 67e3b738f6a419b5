"""mabe_train: sequence models trained from the mabe_store Zarr store (torch).

Entry points: `mabe_train.train.train(cfg)`, `mabe_train.config.load_config(path, overrides)`,
the `mabe-train` CLI (mabe_train.cli). Every error meant for a user derives from `MabeTrainError`,
so the CLI catches one type and prints one line.
"""


class MabeTrainError(Exception):
    """Base of the domain errors of mabe_train; the message says what to do next."""
