"""Fixtures of the mabe_train tests: one small learnable store per session (tests/mabe_train/stores.py)."""

from pathlib import Path

import pytest

from tests.mabe_train.stores import make_train_store


@pytest.fixture(scope="session")
def train_store(tmp_path_factory) -> Path:
    """A small learnable store shared by the mabe_train tests (read-only)."""
    return make_train_store(tmp_path_factory.mktemp("train-store") / "store.zarr")
