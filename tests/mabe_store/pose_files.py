"""Writers of pose files in each tool's exact on-disk layout, for the importer tests.

Arrays follow movement's order: positions (frames, individuals, keypoints, 2), confidence
(frames, individuals, keypoints). Each writer reproduces what the tool itself writes: DeepLabCut's
DataFrame through `to_hdf(key="df_with_missing", format="table")` or `to_csv` (header rows scorer,
[individuals,] bodyparts, coords); SLEAP's analysis export with h5py (MATLAB column-major, so
`tracks` is (n_tracks, 2, n_nodes, n_frames)); movement's `Dataset.to_netcdf`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def poses(rng, frames: int, individuals: int, keypoints: int, missing: float = 0.1):
    """Random positions with a fraction `missing` of NaN points, and confidences in [0, 1)."""
    pos = rng.uniform(0, 600, (frames, individuals, keypoints, 2)).round(3)
    pos[rng.random(pos.shape[:3]) < missing] = np.nan
    conf = rng.uniform(0, 1, pos.shape[:3]).round(4)
    conf[np.isnan(pos[..., 0])] = np.nan
    return pos, conf


def dlc_frame(pos, conf, individuals: list[str] | None, parts: list[str], scorer: str = "DLC_resnet50_miceJan1shuffle1_100000"):
    import pandas as pd

    t, i, k, _ = pos.shape
    values = np.stack([pos[..., 0], pos[..., 1], conf], axis=-1)  # (t, i, k, 3)
    if individuals is None:  # single-animal: no individuals level
        cols = pd.MultiIndex.from_product([[scorer], parts, ["x", "y", "likelihood"]],
                                          names=["scorer", "bodyparts", "coords"])
        return pd.DataFrame(values[:, 0].reshape(t, -1), columns=cols)
    cols = pd.MultiIndex.from_product([[scorer], individuals, parts, ["x", "y", "likelihood"]],
                                      names=["scorer", "individuals", "bodyparts", "coords"])
    return pd.DataFrame(values.reshape(t, -1), columns=cols)


def write_dlc_h5(path: Path, pos, conf, individuals, parts) -> Path:
    dlc_frame(pos, conf, individuals, parts).to_hdf(path, key="df_with_missing", format="table", mode="w")
    return path


def write_dlc_csv(path: Path, pos, conf, individuals, parts) -> Path:
    dlc_frame(pos, conf, individuals, parts).to_csv(path)
    return path


def write_sleap(path: Path, pos, conf, tracks: list[str], nodes: list[str], *, preset: str = "matlab") -> Path:
    """SLEAP's export (`matlab`: no dims attributes, as SLEAP writes it) or sleap-io's `standard`
    preset (frame-first arrays, each named by a JSON `dims` attribute)."""
    import json

    import h5py

    occupancy = np.isfinite(pos[..., 0]).any(axis=2)  # (frames, tracks)
    inst = np.nan_to_num(conf, nan=0.0).mean(axis=2)  # (frames, tracks)
    if preset == "matlab":
        arrays = {"tracks": pos.transpose(1, 3, 2, 0), "point_scores": conf.transpose(1, 2, 0),
                  "track_occupancy": occupancy, "instance_scores": inst.T, "tracking_scores": 0 * inst.T}
    else:
        arrays = {"tracks": pos, "point_scores": conf, "track_occupancy": occupancy, "instance_scores": inst,
                  "tracking_scores": 0 * inst}
    dims = {"tracks": ["frame", "track", "node", "xy"], "point_scores": ["frame", "track", "node"],
            "track_occupancy": ["frame", "track"], "instance_scores": ["frame", "track"],
            "tracking_scores": ["frame", "track"]}
    with h5py.File(path, "w") as f:
        for name, a in arrays.items():
            f[name] = a.astype(np.uint8 if name == "track_occupancy" else np.float64)
            if preset != "matlab":
                f[name].attrs["dims"] = json.dumps(dims[name])
        f["track_names"] = np.array([t.encode() for t in tracks], dtype="S")
        f["node_names"] = np.array([n.encode() for n in nodes], dtype="S")
        f["edge_names"] = np.array([[nodes[0].encode(), nodes[1].encode()]], dtype="S")
        f["edge_inds"] = np.array([[0, 1]])
        f["labels_path"], f["video_path"], f["video_ind"], f["provenance"] = "p.slp", "v.mp4", 0, "{}"
    return path


def write_movement(path: Path, pos, conf, individuals, keypoints, *, plural: bool = False, fps=30.0,
                   space_last: bool = False) -> Path:
    """movement >= 0.17 (singular dims), < 0.17 (`plural`), or the first releases' axis order
    (time, individuals, keypoints, space) with `space_last`."""
    import xarray as xr

    ind, kp = ("individuals", "keypoints") if plural or space_last else ("individual", "keypoint")
    t = np.arange(pos.shape[0])
    position = ((("time", ind, kp, "space"), pos) if space_last
                else (("time", "space", kp, ind), pos.transpose(0, 3, 2, 1)))
    ds = xr.Dataset(
        {"position": position,
         "confidence": (("time", ind, kp), conf) if space_last else (("time", kp, ind), conf.transpose(0, 2, 1))},
        coords={"time": t / fps if fps else t, "space": ["x", "y"], kp: keypoints, ind: individuals},
        attrs={"ds_type": "poses", "source_software": "SLEAP", "time_unit": "seconds" if fps else "frames",
               **({"fps": fps} if fps else {})})
    ds.to_netcdf(path, engine="h5netcdf")
    return path
