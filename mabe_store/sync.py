"""`mabe-store build --out s3://...`: build in a local mirror, then upload with the commit last.

An object store has no rename and no file lock, so the writer's protocol (mabe_store/writer.py,
build.py) runs unchanged on a local working copy, the *mirror* (`--mirror`, default
`~/.cache/mabe-store/<scheme>/<bucket>/<path>`), lock and all; `pull` brings the mirror up to the
bucket's state before the build and `push` uploads what changed after it, in an order chosen so a
reader of the bucket sees the previous committed store or the new one:

1. a rebuild (the local `generation` differs from the bucket's): the new `generation` object first,
   so every reader of the old store fails its next generation check with one line instead of
   reading rows that moved;
2. objects the mirror no longer has are deleted (chunks past the committed rows, or the old
   store's after a rebuild — no reader of the committed state needs them);
3. changed chunks and shards (each one PUT: atomic on S3 and GCS), then array metadata;
4. the root `zarr.json` last: it holds `committed` and `generation`, so it is the commit.

An append keeps every committed row's bytes in place (shards only grow), so a reader of the old
root reads the same rows from new objects. A push killed midway leaves the old root: the next build
pushes again (from the mirror, or — on another machine — re-downloads, notices a bucket left
mid-rebuild by its `generation` object and rebuilds). `.mabe-sync.json` beside the mirror records
each uploaded file's (size, mtime) and a hash of the bucket's root as last seen: a mirror whose
root hash still matches the bucket's is current (no download); otherwise it is replaced by a
fresh download. Costs: the mirror is a full local copy of the store; nothing locks the bucket
against a build on another machine (docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from mabe_store.constants import GENERATION_FILE
from mabe_store.errors import MabeStoreError
from mabe_store.location import Location, remote_errors
from mabe_store.writer import store_attrs, written_by_us

ROOT = "zarr.json"


def default_mirror(remote: Location) -> Path:
    """`~/.cache/mabe-store/s3/bucket/path/store.zarr` for `s3://bucket/path/store.zarr`."""
    scheme, rest = remote.url.split("://", 1)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mabe-store"
    return base / scheme / rest.strip("/")


def _manifest_path(local: Path) -> Path:
    return local.with_name(f".{local.name}.mabe-sync.json")


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _local_files(local: Path) -> dict[str, list[int]]:
    """Relative path -> [size, mtime_ns] of every store file (temporary `.partial` files left out)."""
    if not local.is_dir():
        return {}
    return {p.relative_to(local).as_posix(): [p.stat().st_size, p.stat().st_mtime_ns]
            for p in local.rglob("*") if p.is_file() and not p.name.endswith(".partial")}


def _read_manifest(local: Path) -> dict:
    try:
        return json.loads(_manifest_path(local).read_text())
    except (OSError, ValueError):
        return {}


def _write_manifest(local: Path, remote: Location, root: bytes | None) -> None:
    tmp = _manifest_path(local).with_suffix(".partial")
    tmp.write_text(json.dumps({"url": remote.url, "root": _digest(root), "files": _local_files(local)}))
    os.replace(tmp, _manifest_path(local))


def _remote_files(remote: Location) -> list[str]:
    fs, root = remote.fs()
    with remote_errors(remote.url, "list the store"):
        return [p[len(root.rstrip("/")) + 1:] for p in fs.find(root)]


def _generation_of_root(root: bytes) -> str | None:
    return json.loads(root).get("attributes", {}).get("generation")


def pull(remote: Location, local: Path, log) -> None:
    """Make the mirror `local` the bucket's committed store (or empty when the bucket has none),
    unless it already descends from it (a build killed before its push resumes here)."""
    root = remote.read_bytes(ROOT)
    if root is None and _remote_files(remote):
        raise MabeStoreError(f"{remote} holds objects but no Zarr store — pass another --out, or empty it yourself")
    if root is not None and not written_by_us(json.loads(root).get("attributes")):
        raise MabeStoreError(f"{remote} is a Zarr store that mabe-store did not write — refusing to replace it; "
                             "pass another --out")
    manifest = _read_manifest(local)
    if manifest.get("url") == remote.url and manifest.get("root") == _digest(root) and (root is None or local.is_dir()):
        return
    if local.exists() and not manifest and (not local.is_dir() or any(local.iterdir())) \
            and not written_by_us(store_attrs(local)):
        raise MabeStoreError(f"--mirror {local} holds something that is not a mabe-store mirror — "
                             "pass an empty or new folder")
    for path in (local, local.with_name(local.name + ".rebuilding"), local.with_name(local.name + ".replaced")):
        if path.exists():
            shutil.rmtree(path)
    local.parent.mkdir(parents=True, exist_ok=True)
    if root is not None:
        log(f"downloading {remote} into the mirror {local}")
        fs, key = remote.fs()
        with remote_errors(remote.url, "download the store"):
            fs.get(key.rstrip("/") + "/", str(local) + "/", recursive=True)
        generation = (remote.read_bytes(GENERATION_FILE) or b"").decode().strip() or None
        if generation != _generation_of_root(root):
            log(f"{remote} was left mid-upload by an interrupted rebuild — rebuilding it afresh")
            shutil.rmtree(local)
    _write_manifest(local, remote, root)


def _order(changed: list[str]) -> list[str]:
    """Data objects, then array/group metadata (deepest first), then `generation`, then the root."""
    def rank(name: str) -> tuple:
        if name == ROOT:
            return (3, 0, name)
        if name == GENERATION_FILE:
            return (2, 0, name)
        if name.endswith("/" + ROOT):
            return (1, -name.count("/"), name)
        return (0, 0, name)
    return sorted(changed, key=rank)


def push(local: Path, remote: Location, log) -> int:
    """Upload the mirror's changes to the bucket, the commit (root `zarr.json`) last; returns the
    number of objects written."""
    files, uploaded = _local_files(local), _read_manifest(local).get("files", {})
    changed = [f for f, stat in files.items() if uploaded.get(f) != stat]
    fs, key = remote.fs()
    base = key.rstrip("/")
    remote_gen = remote.read_bytes(GENERATION_FILE)
    with remote_errors(remote.url, "upload the store"):
        fs.invalidate_cache()
        if remote_gen is not None and remote_gen != (local / GENERATION_FILE).read_bytes():
            fs.put_file(str(local / GENERATION_FILE), f"{base}/{GENERATION_FILE}")
        gone = [f for f in _remote_files(remote) if f not in files]
        if gone:
            fs.rm([f"{base}/{f}" for f in gone])
        for name in _order(changed):
            fs.put_file(str(local / name), f"{base}/{name}")
        fs.invalidate_cache()
    _write_manifest(local, remote, (local / ROOT).read_bytes())
    log(f"uploaded {len(changed)} objects to {remote} (deleted {len(gone)}), the commit last")
    return len(changed)
