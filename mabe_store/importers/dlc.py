"""DeepLabCut pose files (`.h5` and `.csv`) -> Poses.

DeepLabCut writes one pandas DataFrame per video: one row per frame, columns a MultiIndex
`(scorer, individuals, bodyparts, coords)` for multi-animal projects or `(scorer, bodyparts, coords)`
for single-animal ones, coords `x, y, likelihood`. The `.h5` is that frame through `DataFrame.to_hdf`
(PyTables, key `df_with_missing`); the `.csv` spells the levels as 3 or 4 header rows whose first
cells read `scorer`, [`individuals`,] `bodyparts`, `coords`. Multi-animal projects may add
"unique" body parts under the individual `single` (an object or arena point, not an animal):
those are left out, with a note. The row index is the frame number: a table cut from a longer
video (index 600, 601, ...) keeps its frames, earlier ones are untracked. A `CollectedData` table
of hand-labelled `labeled-data` images (indexed by image path) is no video and is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mabe_store.importers.poses import ImportFailure, Poses, require

SINGLE_ANIMAL = "animal"  # the individual's name when the file has no individuals level
UNIQUE = "single"  # DLC's individual for unique (non-animal) body parts


def read_dlc_h5(path: Path) -> tuple[Poses, list[str]]:
    pd = require("pandas")
    require("tables")  # pandas.read_hdf needs PyTables
    try:
        try:
            df = pd.read_hdf(path, key="df_with_missing")  # DeepLabCut's key
        except KeyError:
            df = pd.read_hdf(path)  # the file's only table, whatever its key
    except Exception as e:  # PyTables and pandas raise many types for a damaged or foreign file
        raise ImportFailure(f"not a DeepLabCut table ({type(e).__name__}: {str(e)[:80]})") from None
    return poses_from_frame(df)


def _header_rows(path: Path) -> int:
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        firsts = [f.readline(1 << 20).split(",", 1)[0].strip().lower()[:20] for _ in range(4)]
    if firsts[:3] == ["scorer", "individuals", "bodyparts"] and firsts[3] == "coords":
        return 4
    if firsts[:3] == ["scorer", "bodyparts", "coords"]:
        return 3
    raise ImportFailure(f"header does not parse: the first cells read {firsts}, expected scorer, "
                        "[individuals,] bodyparts, coords")


def read_dlc_csv(path: Path) -> tuple[Poses, list[str]]:
    pd = require("pandas")
    rows = _header_rows(path)
    try:
        df = pd.read_csv(path, header=list(range(rows)), index_col=0, encoding="utf-8-sig")
    except (ValueError, pd.errors.ParserError) as e:
        raise ImportFailure(f"header does not parse ({str(e)[:80]})") from None
    return poses_from_frame(df)


def _levels(df) -> tuple[list[str], list[str], list[str]]:
    """Per column its (individual, body part, coord), from 3- or 4-level headers."""
    cols = df.columns
    if getattr(cols, "nlevels", 1) == 4:
        return ([str(v) for v in cols.get_level_values(1)], [str(v) for v in cols.get_level_values(2)],
                [str(v) for v in cols.get_level_values(3)])
    if getattr(cols, "nlevels", 1) == 3:
        return ([SINGLE_ANIMAL] * len(cols), [str(v) for v in cols.get_level_values(1)],
                [str(v) for v in cols.get_level_values(2)])
    raise ImportFailure(f"header does not parse: {getattr(cols, 'nlevels', 1)} column levels, expected "
                        "(scorer, [individuals,] bodyparts, coords)")


def _labeled_data(df) -> str | None:
    """Why the table is hand-labelled images rather than a video's tracking, or None."""
    values = [str(v) for v in df.index[:1000]]
    images = [v for v in values if v.lower().endswith((".png", ".jpg", ".jpeg")) or "labeled-data" in v]
    if not images and getattr(df.index, "nlevels", 1) == 1:
        return None
    videos = sorted({v.replace("\\", "/").split("/")[-2] for v in images if "/" in v.replace("\\", "/")})
    where = f" of {len(videos)} videos ({', '.join(videos[:4])})" if videos else ""
    return (f"a DeepLabCut labeled-data table: hand-labelled images{where}, not the tracking of one video "
            "— import the analysed videos' tables (<video>DLC_<scorer>.h5 or .csv)")


def frame_numbers(df) -> np.ndarray:
    """The frame of each row, from the table's index (0, 1, ... for a plain index)."""
    why = _labeled_data(df)
    if why:
        raise ImportFailure(why)
    try:
        frames = np.asarray(df.index, dtype=np.float64)
    except (TypeError, ValueError):
        raise ImportFailure(f"the row index is not frame numbers (it starts {list(df.index[:2])})") from None
    if len(frames) and (not np.isfinite(frames).all() or (frames != np.round(frames)).any() or frames.min() < 0
                        or (np.diff(frames) <= 0).any()):
        raise ImportFailure("the row index is not increasing whole frame numbers from 0 or more")
    return frames.astype(np.int64)


def _at_frames(pos, conf, frames: np.ndarray, notes: list[str]):
    """Rows moved to their frame numbers (NaN between), when the index is not 0, 1, 2, ..."""
    if not len(frames) or np.array_equal(frames, np.arange(len(frames))):
        return pos, conf
    notes.append(f"frames {frames[0]:,}..{frames[-1]:,} as numbered in the file ({len(frames):,} rows); "
                 "frames before and between them are untracked")
    out = np.full((int(frames[-1]) + 1, *pos.shape[1:]), np.nan)
    out[frames] = pos
    if conf is not None:
        c = np.full(out.shape[:3], np.nan)
        c[frames] = conf
        conf = c
    return out, conf


def poses_from_frame(df) -> tuple[Poses, list[str]]:
    """A DeepLabCut DataFrame -> Poses and notes; individuals and body parts in file order, row t
    of the positions is frame t of the file's index."""
    frames = frame_numbers(df)
    inds, parts, coords = _levels(df)
    if not {"x", "y"} <= set(coords):
        raise ImportFailure(f"header does not parse: coords {sorted(set(coords))}, expected x, y[, likelihood]")
    notes = []
    if UNIQUE in inds and len(set(inds)) > 1:
        notes.append(f"left out DeepLabCut's unique body parts (individual `{UNIQUE}`): not an animal")
    names = list(dict.fromkeys(i for i in inds if i != UNIQUE or len(set(inds)) == 1))
    kps = list(dict.fromkeys(p for i, p in zip(inds, parts, strict=True) if i in names))
    try:
        values = df.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise ImportFailure("values do not parse as numbers (a header row too many or too few?)") from None
    pos = np.full((len(df), len(names), len(kps), 2), np.nan)
    conf = np.full(pos.shape[:3], np.nan) if "likelihood" in coords else None
    slot = {"x": 0, "y": 1}
    for j, (ind, part, c) in enumerate(zip(inds, parts, coords, strict=True)):
        if ind not in names:
            continue
        i, k = names.index(ind), kps.index(part)
        if c in slot:
            pos[:, i, k, slot[c]] = values[:, j]
        elif c == "likelihood":
            conf[:, i, k] = values[:, j]
    pos, conf = _at_frames(pos, conf, frames, notes)
    return Poses(pos, conf, names, kps, source="DeepLabCut"), notes


def write_dlc(poses: Poses, path: Path, scorer: str = "mabe") -> Path:
    """A multi-animal DeepLabCut table (`.h5` via PyTables, anything else as `.csv`); likelihood is
    the confidence, or 1 where a point exists and NaN where it does not."""
    pd = require("pandas")
    t, i, k, _ = poses.position.shape
    conf = poses.confidence if poses.confidence is not None else np.where(
        np.isfinite(poses.position).all(-1), 1.0, np.nan)
    cols = pd.MultiIndex.from_product([[scorer], poses.individuals, poses.keypoints, ["x", "y", "likelihood"]],
                                      names=["scorer", "individuals", "bodyparts", "coords"])
    values = np.concatenate([poses.position, conf[..., None]], axis=-1).reshape(t, i * k * 3)
    df = pd.DataFrame(values, columns=cols)
    if path.suffix.lower() in (".h5", ".hdf5"):
        require("tables")
        df.to_hdf(path, key="df_with_missing", format="table", mode="w")
    else:
        df.to_csv(path)
    return path
