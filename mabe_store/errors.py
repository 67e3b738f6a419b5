"""The one exception base of mabe_store (standard library only, so the reader can import it).

Every problem the package reports to a person derives from `MabeStoreError`; the CLI catches it at
one boundary (`mabe_store.cli.main`) and prints its message as one line, exit code 1.
"""

from __future__ import annotations

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
