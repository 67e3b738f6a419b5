"""SLEAP analysis HDF5 (`File > Export Analysis HDF5`, `sleap-convert --format analysis`) -> Poses.

The datasets are written column-major for MATLAB, so h5py sees them transposed: `tracks`
(n_tracks, 2, n_nodes, n_frames), `point_scores` (n_tracks, n_nodes, n_frames), `track_occupancy`
(n_frames, n_tracks), `node_names` (n_nodes,), `track_names` (n_tracks,; empty when the project has
no tracks). sleap-io also writes a "standard" preset, (frames, tracks, nodes, xy) and so on, and
names each dataset's axes in a `dims` attribute (JSON list): where that attribute exists it wins.
`.slp` project files are not read: the only well-kept reader (sleap-io) pulls in video and NWB
stacks far beyond this toolkit's dependencies; export an analysis file from SLEAP instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mabe_store.importers.poses import ImportFailure, Poses, require, text

_AXES = {"track": "t", "tracks": "t", "xy": "c", "node": "n", "nodes": "n", "frame": "f", "frames": "f"}
# Stored axis order without a `dims` attribute: SLEAP's export (and sleap-io's "matlab" preset), or
# the legacy `transpose=False` files.
_MATLAB = {"tracks": "tcnf", "point_scores": "tnf", "track_occupancy": "ft"}
_UNTRANSPOSED = {"tracks": "fnct", "point_scores": "fnt", "track_occupancy": "ft"}
_CANONICAL = {"tracks": "ftnc", "point_scores": "ftn", "track_occupancy": "ft"}


def _reordered(f, name: str) -> np.ndarray:
    """Dataset `name` in canonical axis order (frames, tracks[, nodes[, xy]]), read by its `dims`."""
    ds = f[name]
    dims = ds.attrs.get("dims")
    if dims is None:
        order = (_MATLAB if f.attrs.get("transpose", True) else _UNTRANSPOSED)[name]
    else:
        try:
            order = "".join(_AXES[str(n).lower()] for n in (json.loads(dims) if isinstance(dims, str | bytes)
                                                             else text(dims)))
        except (ValueError, KeyError):
            raise ImportFailure(f"{name} has dims {dims!r} that do not parse") from None
    data = np.asarray(ds[()], dtype=np.float64)
    if data.ndim != len(order) or sorted(order) != sorted(_CANONICAL[name]):
        raise ImportFailure(f"{name} has shape {data.shape} (axes {order!r}), expected axes "
                            f"{_CANONICAL[name]!r} in some order")
    return np.einsum(f"{order}->{_CANONICAL[name]}", data)


def _datasets(path: Path) -> dict:
    """The analysis datasets as arrays: tracks (frames, tracks, nodes, 2), point_scores (frames,
    tracks, nodes), track_occupancy (frames, tracks)."""
    h5py = require("h5py")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ImportFailure(f"not an HDF5 file ({str(e)[:80]})") from None
    with f:
        missing = [k for k in ("tracks", "node_names") if k not in f]
        if missing:
            raise ImportFailure(f"no dataset {', '.join(missing)}: not a SLEAP analysis file")
        return {"tracks": _reordered(f, "tracks"), "nodes": text(f["node_names"][()]),
                "names": text(f["track_names"][()]) if "track_names" in f else [],
                "scores": _reordered(f, "point_scores") if "point_scores" in f else None,
                "occupancy": _reordered(f, "track_occupancy") if "track_occupancy" in f else None}


def _shape_problems(d: dict) -> list[str]:
    n_frames, n_tracks, n_nodes, _ = d["tracks"].shape
    problems = []
    if len(d["nodes"]) != n_nodes:
        problems.append(f"node_names has {len(d['nodes'])} names, tracks {n_nodes} nodes")
    if d["names"] and len(d["names"]) != n_tracks:
        problems.append(f"track_names has {len(d['names'])} names, tracks {n_tracks} tracks")
    if d["scores"] is not None and d["scores"].shape != (n_frames, n_tracks, n_nodes):
        problems.append(f"point_scores holds (frames, tracks, nodes) {d['scores'].shape}, tracks "
                        f"{(n_frames, n_tracks, n_nodes)}")
    if d["occupancy"] is not None and d["occupancy"].shape != (n_frames, n_tracks):
        problems.append(f"track_occupancy holds (frames, tracks) {d['occupancy'].shape}, tracks "
                        f"{(n_frames, n_tracks)}")
    return problems


def read_sleap_h5(path: Path) -> tuple[Poses, list[str]]:
    d = _datasets(path)
    problems = _shape_problems(d)
    if problems:
        raise ImportFailure("mismatched lengths: " + "; ".join(problems))
    tracks = d["tracks"]
    if d["occupancy"] is not None:  # a track absent from a frame has no points there, whatever the array says
        tracks[~d["occupancy"].astype(bool)] = np.nan
    conf = d["scores"]
    names = d["names"] or [f"track_{i}" for i in range(tracks.shape[1])]
    return Poses(tracks, conf, names, d["nodes"], source="SLEAP"), []
