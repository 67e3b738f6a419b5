"""movement poses datasets (netCDF, `ds.to_netcdf`) -> Poses, and Poses -> such a dataset.

movement (neuroinformatics-unit) holds poses as an xarray Dataset: `position` over
(time, space, keypoint, individual) and `confidence` over (time, keypoint, individual), attrs
`fps`, `time_unit`, `source_software`, `ds_type = "poses"`. Versions before 0.17 spell the
dimensions `keypoints` and `individuals`; the reader accepts both and orders axes by name, never
by position. Writing uses the singular names of current movement and the h5netcdf engine (the
`[io]` extra), so no netCDF C library is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mabe_store.importers.poses import ImportFailure, Poses, require, text

_DIMS = {"time": ("time",), "individual": ("individual", "individuals"),
         "keypoint": ("keypoint", "keypoints"), "space": ("space",)}


def _dim_names(var) -> dict[str, str]:
    """Canonical name -> the spelling this file uses, or ImportFailure naming what is missing."""
    found, missing = {}, []
    for canon, spellings in _DIMS.items():
        hit = [d for d in var.dims if d in spellings]
        if hit:
            found[canon] = hit[0]
        elif canon in ("time", "space"):
            missing.append(canon)
    if missing:
        raise ImportFailure(f"position has dims {tuple(var.dims)}, missing {', '.join(missing)}")
    return found


def _labels(ds, dim: str | None, n: int, default: str) -> list[str]:
    if dim is None:
        return [default]
    return text(ds[dim].values) if dim in ds.coords else [f"{default}_{i}" for i in range(n)]


def read_movement(path: Path) -> tuple[Poses, list[str]]:
    xr = require("xarray")
    require("h5netcdf")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except Exception as e:  # xarray and h5netcdf raise many types for unreadable files
        raise ImportFailure(f"not a readable netCDF file ({type(e).__name__}: {str(e)[:80]})") from None
    if "position" not in ds:
        raise ImportFailure(f"no `position` variable (ds_type {ds.attrs.get('ds_type')!r}): not a movement poses dataset")
    pos = ds["position"]
    d = _dim_names(pos)
    for canon in ("individual", "keypoint"):  # a single animal or keypoint may have no dimension at all
        if canon not in d:
            pos, d[canon] = pos.expand_dims(canon), canon
    space = text(ds[d["space"]].values) if d["space"] in ds.coords else ["x", "y"]
    if not {"x", "y"} <= set(space):
        raise ImportFailure(f"space holds {space}, expected x and y")
    pos = pos.transpose(d["time"], d["individual"], d["keypoint"], d["space"])
    xy = np.stack([pos.values[..., space.index("x")], pos.values[..., space.index("y")]], axis=-1)
    conf = None
    if "confidence" in ds:
        c = ds["confidence"]
        for canon in ("individual", "keypoint"):
            if d[canon] not in c.dims:
                c = c.expand_dims(d[canon])
        conf = np.asarray(c.transpose(d["time"], d["individual"], d["keypoint"]).values, dtype=np.float64)
    fps = ds.attrs.get("fps")
    fps = float(fps) if fps is not None and np.isfinite(float(fps)) and float(fps) > 0 else None
    individuals = _labels(ds, d["individual"], xy.shape[1], "individual")
    keypoints = _labels(ds, d["keypoint"], xy.shape[2], "keypoint")
    return Poses(xy.astype(np.float64), conf, individuals, keypoints, fps=fps,
                 source=str(ds.attrs.get("source_software") or "movement")), []


def write_movement(poses: Poses, path: Path) -> Path:
    """A movement-style poses netCDF (v0.17+ dimension names), time in seconds when fps is known."""
    xr = require("xarray")
    require("h5netcdf")
    t = np.arange(poses.n_frames)
    time = t / poses.fps if poses.fps else t
    conf = poses.confidence if poses.confidence is not None else np.where(
        np.isfinite(poses.position).all(-1), 1.0, np.nan)
    ds = xr.Dataset(
        {"position": (("time", "space", "keypoint", "individual"), poses.position.transpose(0, 3, 2, 1)),
         "confidence": (("time", "keypoint", "individual"), conf.transpose(0, 2, 1))},
        coords={"time": time, "space": ["x", "y"], "keypoint": poses.keypoints, "individual": poses.individuals},
        attrs={"ds_type": "poses", "source_software": poses.source or "mabe",
               "time_unit": "seconds" if poses.fps else "frames", **({"fps": poses.fps} if poses.fps else {})})
    ds.to_netcdf(path, engine="h5netcdf")
    return path
