"""Optional dependencies: a missing one is one line naming the extra to install, not a traceback.

`modal` (cloud training) and `kaggle` (downloading the data) are extras (`mabe[modal]`,
`mabe[kaggle]`, `mabe[all]`): a Kaggle notebook installs the core offline from a bundle and must not
need them, and the core imports neither. ExtraMissing is also an ImportError, so
`pytest.importorskip` skips a test module whose extra is absent.
"""

from __future__ import annotations

import importlib

from mabe_train import MabeTrainError


class ExtraMissing(MabeTrainError, ImportError):
    """An optional dependency is not installed; the message says which extra brings it."""


def require(module: str, extra: str):
    """`import module`, or ExtraMissing: "... pip install 'mabe[extra]'"."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != module.split(".")[0]:
            raise
        raise ExtraMissing(f"`{module}` is not installed — pip install 'mabe[{extra}]' (or 'mabe[all]')") from None
