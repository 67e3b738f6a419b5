"""SLEAP analysis HDF5 (`File > Export Analysis HDF5`, `sleap-convert --format analysis`) -> Poses.

The datasets are written column-major for MATLAB, so h5py sees them transposed: `tracks`
(n_tracks, 2, n_nodes, n_frames), `point_scores` (n_tracks, n_nodes, n_frames), `track_occupancy`
(n_frames, n_tracks), `node_names` (n_nodes,), `track_names` (n_tracks,; empty when the project has
no tracks). A `dims` attribute on `tracks` (newer writers) names the axes and wins over that default.
`.slp` project files are not read: the only well-kept reader (sleap-io) pulls in video and NWB
stacks far beyond this toolkit's dependencies; export an analysis file from SLEAP instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mabe_store.importers.poses import ImportFailure, Poses, require, text

_AXES = {"tracks": "t", "track": "t", "instances": "t", "xy": "c", "coords": "c", "coordinates": "c",
         "nodes": "n", "node": "n", "frames": "f", "frame": "f", "time": "f"}


def _tracks_order(ds) -> str:
    """Axis letters of `tracks` as stored: t(racks), c(oords), n(odes), f(rames)."""
    dims = ds.attrs.get("dims")
    if dims is None:
        return "tcnf"
    try:
        names = json.loads(dims) if isinstance(dims, str | bytes) else text(dims)
        order = "".join(_AXES[str(n).lower()] for n in names)
    except (ValueError, KeyError):
        raise ImportFailure(f"tracks has dims {dims!r} that do not parse") from None
    if sorted(order) != sorted("tcnf"):
        raise ImportFailure(f"tracks has dims {dims!r}, expected tracks, xy, nodes, frames")
    return order


def read_sleap_h5(path: Path) -> tuple[Poses, list[str]]:
    h5py = require("h5py")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ImportFailure(f"not an HDF5 file ({str(e)[:80]})") from None
    with f:
        missing = [k for k in ("tracks", "node_names") if k not in f]
        if missing:
            raise ImportFailure(f"no dataset {', '.join(missing)}: not a SLEAP analysis file")
        order = _tracks_order(f["tracks"])
        tracks = np.asarray(f["tracks"][()], dtype=np.float64)
        if tracks.ndim != 4:
            raise ImportFailure(f"tracks has shape {tracks.shape}, expected (n_tracks, 2, n_nodes, n_frames)")
        tracks = np.einsum(f"{order}->ftnc", tracks)  # (frames, tracks, nodes, 2)
        n_frames, n_tracks, n_nodes, _ = tracks.shape
        nodes = text(f["node_names"][()])
        names = text(f["track_names"][()]) if "track_names" in f else []
        scores = np.asarray(f["point_scores"][()], dtype=np.float64) if "point_scores" in f else None
        occupancy = np.asarray(f["track_occupancy"][()]) if "track_occupancy" in f else None
    problems = []
    if len(nodes) != n_nodes:
        problems.append(f"node_names has {len(nodes)} names, tracks {n_nodes} nodes")
    if names and len(names) != n_tracks:
        problems.append(f"track_names has {len(names)} names, tracks {n_tracks} tracks")
    if scores is not None and scores.shape != (n_tracks, n_nodes, n_frames):
        problems.append(f"point_scores has shape {scores.shape}, expected {(n_tracks, n_nodes, n_frames)}")
    if occupancy is not None and occupancy.shape != (n_frames, n_tracks):
        problems.append(f"track_occupancy has shape {occupancy.shape}, expected {(n_frames, n_tracks)}")
    if problems:
        raise ImportFailure("mismatched lengths: " + "; ".join(problems))
    if occupancy is not None:  # a track absent from a frame has no points there, whatever the array says
        tracks[~occupancy.astype(bool)] = np.nan
    conf = None if scores is None else scores.transpose(2, 0, 1)
    names = names or [f"track_{i}" for i in range(n_tracks)]
    return Poses(tracks, conf, names, nodes, source="SLEAP"), []
