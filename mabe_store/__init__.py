"""mabe_store: MABe tracking videos pivoted once into one chunked Zarr tensor store.

Importing this package needs only numpy and zarr; the builder (Polars) loads on demand.
"""

from mabe_store.errors import MabeStoreError
from mabe_store.reader import Staged, Store, StoreError, open_store

__all__ = ["MabeStoreError", "Staged", "Store", "StoreError", "open_store"]
