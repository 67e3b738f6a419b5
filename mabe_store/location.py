"""Where a store lives: a local folder, or a URL of an fsspec file system (`s3://`, `gs://`, `memory://`).

`locate(where, storage_options)` gives a `Location`, the one place that turns what a person typed
into something zarr opens: a local path stays a `Path` (zarr's LocalStore, the store's local
crash-safety protocol unchanged), a URL becomes a read-only `zarr.storage.FsspecStore`. The store's
own side files (`generation`) are read through the same file system, so a reader notices a rebuild
in a bucket as on disk. `s3://` needs `s3fs` (`pip install 'mabe[cloud]'`), `gs://` needs `gcsfs`;
`memory://` needs only fsspec (a dependency of zarr): one process's in-memory file system.

Storage options (`endpoint_url`, `anon`, `key`/`secret`, `token`, ...) go to the file system as
fsspec's `storage_options`. Credentials are better left to the provider's own chain (AWS_* variables
or ~/.aws for s3fs, application-default credentials for gcsfs); when passed as options they are
never printed or written: `str(location)` is the URL alone and `public_options` drops every key
that looks secret (SECRET) before a run records its settings.

Reading is zarr's: a slice of a sharded array is one ranged GET for each shard's index and one per
inner chunk it touches; `Store.load` reads each video's rows in one slice, as on disk. Opening the
hand-made 5-video test store from moto on 127.0.0.1 took 0.7-1.3 s (the tables' metadata, one
request each; 2 shared cores at load ~7); speed against a real cloud bucket is not measured.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import yaml
import zarr
from zarr.storage import FsspecStore

from mabe_store.errors import MabeStoreError, require

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
SECRET = re.compile(r"key|secret|token|password|passwd|credential|sas|signature|auth", re.IGNORECASE)
# protocol -> (the fsspec package it needs, the extra that brings it; None: not in an extra, untested)
PACKAGES = {"s3": ("s3fs", "cloud"), "s3a": ("s3fs", "cloud"), "gs": ("gcsfs", None), "gcs": ("gcsfs", None)}


class LocationError(MabeStoreError):
    """A store URL cannot be reached (no such bucket, no permission, missing client package)."""


def is_url(where) -> bool:
    """`s3://b/x`, `memory://x`: a file system URL; `file://` URLs and plain paths are local."""
    return isinstance(where, str) and bool(URL.match(where)) and not where.startswith("file://")


def public_options(options: dict | None) -> dict:
    """`options` without any key that looks like a credential (SECRET), nested mappings included."""
    return {k: public_options(v) if isinstance(v, dict) else v
            for k, v in (options or {}).items() if not SECRET.search(str(k))}


def parse_options(items: list[str] | None) -> dict:
    """`--storage-option key=value` items as a mapping; values are YAML scalars (`anon=true` is a bool)."""
    out, bad = {}, []
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            bad.append(item)
            continue
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = text
    if bad:
        raise LocationError(f"--storage-option must be key=value (e.g. endpoint_url=http://127.0.0.1:9000), "
                            f"got {', '.join(map(repr, bad))}")
    return out


@contextmanager
def remote_errors(url: str, doing: str):
    """Any failure of the file system as one LocationError line naming the URL (never the options)."""
    try:
        yield
    except MabeStoreError:
        raise
    except ImportError as e:  # a protocol without a PACKAGES entry: fsspec names its package
        raise LocationError(f"{url}: cannot {doing}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except Exception as e:  # botocore/aiohttp/gcsfs errors: one line, the type says which
        text = (str(e).strip().splitlines() or [""])[0][:200]
        raise LocationError(f"{url}: cannot {doing} ({type(e).__name__}: {text}) — check the URL, "
                            "the bucket and its credentials (--storage-option)") from None


@dataclass(frozen=True)
class Location:
    """A store's place. `url` is what the person typed (a local path as text); `options` are the
    fsspec storage options of a URL, kept out of `repr` and `str`."""

    url: str
    options: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def local(self) -> bool:
        return not is_url(self.url)

    @property
    def path(self) -> Path | str:
        """A `Path` for a local folder, the URL itself otherwise (what messages and run.json name)."""
        return Path(self.url.removeprefix("file://")) if self.local else self.url

    def __str__(self) -> str:
        return str(self.path)

    def fs(self):
        """(fsspec file system, path of the store inside it); local folders get the local one."""
        scheme = self.url.split("://", 1)[0]
        if not self.local and scheme in PACKAGES:
            pkg, extra = PACKAGES[scheme]
            require(pkg, extra=extra, feature=f"a {scheme}:// store")
        with remote_errors(self.url, "open the file system"):
            return fsspec.url_to_fs(str(self.path), **(self.options if not self.local else {}))

    def _key(self, name: str) -> str:
        fs, root = self.fs()
        return f"{root.rstrip('/')}/{name}" if name else root

    def read_bytes(self, name: str) -> bytes | None:
        """The object `name` under the store, or None when there is none."""
        if self.local:
            try:
                return (self.path / name).read_bytes()
            except OSError:
                return None
        fs, _ = self.fs()
        with remote_errors(self.url, f"read {name}"):
            try:
                return fs.cat_file(self._key(name))
            except FileNotFoundError as e:
                if "specified bucket does not exist" in str(e):  # s3fs; the store may not exist yet
                    raise
                return None

    def exists(self, name: str = "zarr.json") -> bool:
        return (self.path / name).exists() if self.local else self.read_bytes(name) is not None

    def nbytes(self) -> int:
        """Bytes of every file of the store."""
        if self.local:
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        fs, root = self.fs()
        with remote_errors(self.url, "list the store"):
            return sum(int(info.get("size") or 0) for info in fs.find(root, detail=True).values())

    def open_group(self):
        """The store's root Zarr group, read-only."""
        if self.local:
            return zarr.open_group(str(self.path), mode="r")
        with remote_errors(self.url, "open the store"):
            store = FsspecStore.from_url(self.url, storage_options=dict(self.options), read_only=True)
            return zarr.open_group(store=store, mode="r")


def locate(where, storage_options: dict | None = None) -> Location:
    """A `Location` for a path, a URL or a Location (whose own options win when none are given)."""
    if isinstance(where, Location):
        return where if storage_options is None else Location(where.url, dict(storage_options))
    text = str(where)
    if is_url(text):
        return Location(text.rstrip("/"), dict(storage_options or {}))
    return Location(text)
