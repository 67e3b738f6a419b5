"""Fixtures of the mabe_train tests: one small learnable store per session (tests/mabe_train/stores.py)."""

from pathlib import Path

import pytest

from tests.mabe_train.stores import make_pairs_run, make_train_store


@pytest.fixture(scope="session")
def train_store(tmp_path_factory) -> Path:
    """A small learnable store shared by the mabe_train tests (read-only)."""
    return make_train_store(tmp_path_factory.mktemp("train-store") / "store.zarr")


@pytest.fixture(scope="session")
def pairs_run(tmp_path_factory) -> tuple[Path, Path]:
    """(root, run directory): a synthetic store `root/s.zarr` and a debug-size pairs run trained on
    it, shared by the end-to-end tests (read-only: write new runs or files elsewhere)."""
    root = tmp_path_factory.mktemp("pairs_e2e")
    return root, make_pairs_run(root)
