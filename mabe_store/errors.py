"""The one exception base of mabe_store (standard library only, so the reader can import it).

Every problem the package reports to a person derives from `MabeStoreError`; both CLIs catch it at
one boundary (`mabe_store.cli_base.one_line_errors`) and print its message as one line, exit code 1.
`require` is the one gate of an optional dependency: every import of an extra's package goes
through it, so a missing one reads the same everywhere and names the extra that brings it.
"""

from __future__ import annotations

import importlib
import warnings
from contextlib import contextmanager


class MabeStoreError(Exception):
    """A problem with the user's data, files or settings; the message says what to do."""


@contextmanager
def zarr_codec_notice_silenced():
    """Silence zarr's "Numcodecs codecs are not in the Zarr version 3 specification" notice while
    the store's arrays are opened: their `numcodecs.shuffle` codec ships with zarr-python (see
    mabe_store/codecs.py), the notice would print on every open and says nothing actionable."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr")
        yield


class MissingExtra(MabeStoreError, ImportError):
    """An optional dependency is not installed. Also an ImportError, so `pytest.importorskip` skips a
    test module whose extra is absent."""


def require(module: str, *, extra: str | None, feature: str):
    """`import module`, or MissingExtra: "<feature> needs <pkg>: pip install 'mabe[<extra>]'"
    (`pip install <pkg>` for a package no extra brings).

    Only the module itself missing is an extra to install; a package it fails to import inside
    (e.g. the Kaggle client's undeclared `six`) is named as that package, with the same extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        missing = top if (e.name or top).split(".")[0] == top else e.name
        how = f"'mabe[{extra}]'" if extra else missing
        raise MissingExtra(f"{feature} needs {missing}: pip install {how}") from None
