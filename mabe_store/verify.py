"""`mabe-store verify`: the store checked against its contract and, given the raw files, against them.

Contract checks read only the small tables plus every video's label rows (cheap: uint8, mostly
zero). The raw spot-check re-pivots a sample of videos with an independent, deliberately plain
numpy path (pyarrow rows, `np.add.at` for averaged parts) and requires bit-exact equality, so a bug
in the Polars pivot cannot hide behind itself. Every problem is collected; none stops the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mabe_store.build_config import make_config
from mabe_store.constants import FORMAT_VERSION, N_MICE, SPLITS
from mabe_store.format import ANNOTATION_COLUMNS, LABELED_COLUMNS, VIDEO_COLUMNS, rasterise
from mabe_store.pivot import MAX_COORD
from mabe_store.reader import Store
from mabe_store.sources import discover, max_frame
from mabe_store.vocabulary import MABE, read_vocabulary


def _attrs(s: Store) -> list[str]:
    out = [f"attrs: missing {k}" for k in ("format_version", "n_mice", "keypoints", "actions",
                                          "build_config", "source") if k not in s.attrs]
    if s.attrs.get("n_mice") != N_MICE:
        out.append(f"attrs: n_mice is {s.attrs.get('n_mice')!r}, expected {N_MICE}")
    if "vocabulary" not in s.attrs and list(s.action_names) != list(MABE.actions):
        out.append("attrs: actions differ from the 37 competition actions in alphabetical order "
                   "(and the store has no vocabulary of its own)")
    if list(s.action_names) != sorted(set(s.action_names)):
        out.append("attrs: actions are not distinct names in alphabetical order")
    return out


def _arrays(s: Store) -> list[str]:
    out, f, a = [], s.feature_array, s.action_array
    width = N_MICE * len(s.keypoints) * 2
    if f.dtype != np.float32 or f.shape[1] != width:
        out.append(f"features: {f.dtype} {f.shape}, expected float32 (N, {width})")
    if a.dtype != np.uint8 or a.shape[1] != len(s.action_names):
        out.append(f"actions: {a.dtype} {a.shape}, expected uint8 (N, {len(s.action_names)})")
    c = s.committed
    sizes = {"rows": f.shape[0], "videos": s.root["videos"]["video_id"].shape[0],
             "annotations": s.root["annotations"]["video_index"].shape[0],
             "labeled": s.root["labeled"]["video_index"].shape[0]}
    for key, n in sizes.items():
        if key in c and c[key] != n:
            out.append(f"{key}: {n} rows on disk, {c[key]} committed — an interrupted build; "
                       "rerun `mabe-store build` to complete it")
    return out


def _table(s: Store) -> list[str]:
    v, out = s.videos, []
    out += [f"videos: missing column {c}" for c in [*VIDEO_COLUMNS, "labeled_actions"] if c not in v]
    if out:
        return out
    n = s.n_videos
    out += [f"videos/{k}: length {len(x)} != {n}" for k, x in v.items() if len(x) != n]
    if len(np.unique(v["video_id"])) != n:
        out.append("videos: duplicate video_id")
    bad_split = sorted(set(v["split"].tolist()) - set(SPLITS))
    if bad_split:
        out.append(f"videos: unknown split(s) {bad_split}")
    off, ln = v["offset"].astype(np.int64), v["length"].astype(np.int64)
    order = np.argsort(off)
    if (ln < 1).any() or (off < 0).any() or (off + ln).max(initial=0) > s.feature_array.shape[0]:
        out.append("videos: offset/length point outside the features array")
    elif (off[order][1:] < (off + ln)[order][:-1]).any():
        out.append("videos: row ranges of two videos overlap")
    return out


def _rows(s: Store) -> list[str]:
    out, n, a = [], s.n_videos, len(s.action_names)
    for name, cols in (("annotations", ANNOTATION_COLUMNS), ("labeled", LABELED_COLUMNS)):
        t = s.table(name)
        out += [f"{name}: missing column {c}" for c in cols if c not in t]
        if any(c not in t for c in cols):
            continue
        if ((t["video_index"] < 0) | (t["video_index"] >= n)).any() or ((t["action"] < 0) | (t["action"] >= a)).any():
            out.append(f"{name}: video_index or action index out of range")
    ann = s.table("annotations")
    if {"start_frame", "stop_frame"} <= set(ann) and (ann["start_frame"] > ann["stop_frame"]).any():
        out.append("annotations: start_frame > stop_frame")
    lab = s.table("labeled")
    if "action" in lab:
        mask = np.zeros((n, a), dtype=np.uint8)
        mask[lab["video_index"], lab["action"]] = 1
        if not np.array_equal(mask, s.videos["labeled_actions"]):
            out.append("videos/labeled_actions disagrees with the labeled triples")
    return out


def _labels(s: Store) -> list[str]:
    """Every video's frame labels equal the rasterised annotations (clipped to the video)."""
    out = []
    for vid in s.videos["video_id"].tolist():
        ann = s.annotations(vid)
        rows = zip(ann["agent_id"], ann["target_id"], ann["action"], ann["start_frame"], ann["stop_frame"],
                   strict=True)
        if not np.array_equal(s.actions(vid), rasterise(rows, s.videos["length"][s.index(vid)], s.action_names)):
            out.append(f"video {vid}: actions differ from its annotation intervals")
    return out


def check_contract(store: Store) -> list[str]:
    """All contract violations of an opened store (empty when it conforms)."""
    out = _attrs(store) + _arrays(store) + _table(store)
    if not out:
        out += _rows(store) + _labels(store)
    if store.attrs.get("format_version") != FORMAT_VERSION:
        out.append(f"attrs: format_version {store.attrs.get('format_version')!r} != {FORMAT_VERSION}")
    return out


def _numbers(column, limit: float = MAX_COORD) -> np.ndarray:
    """float64 of each value of an Arrow column; null, text that is no number, infinities and
    |v| > limit: NaN (MAX_COORD is a coordinate's limit; frame numbers and ids pass inf: a
    10-minute 1,000 fps video has 600,000 frames). Numeric columns in numpy; text value by value."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        out = column.to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        def one(v):
            try:
                return float(v)
            except (TypeError, ValueError):
                return np.nan
        out = np.array([one(v) for v in column.to_pylist()], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out[~(np.abs(out) <= limit)] = np.nan  # inf, NaN and huge
    return out


def expected_features(path: Path, store: Store, max_frame: int | None = None) -> np.ndarray:
    """The dense block the contract prescribes for one raw tracking file, computed plainly."""
    cfg = make_config(**{k: v for k, v in store.attrs["build_config"].items() if k != "hash"})
    table = pq.read_table(path, columns=["video_frame", "mouse_id", "bodypart", "x", "y"])
    t = {c: table.column(c) for c in table.column_names}
    frame, mouse = _numbers(t["video_frame"], np.inf), _numbers(t["mouse_id"], np.inf)
    ok = ~np.isnan(frame) & (frame >= 0) & np.isin(mouse, np.arange(1, N_MICE + 1))
    bodypart = t["bodypart"].to_pylist()
    ok &= np.array([p is not None for p in bodypart], dtype=bool)
    if max_frame is not None:
        ok &= frame <= max_frame
    frame, mouse = frame[ok].astype(np.int64), mouse[ok].astype(np.int64)
    parts = [p for p, k in zip(bodypart, ok, strict=True) if k]
    xy = np.stack([_numbers(t[c])[ok].astype(np.float32) for c in ("x", "y")], axis=1)
    lookup = {p: cfg.slot_of(p) for p in set(parts)}
    slot = np.array([lookup[p][0] if lookup[p] else -1 for p in parts], dtype=np.int64)
    mean = np.array([bool(lookup[p] and lookup[p][1]) for p in parts], dtype=bool)
    k = len(cfg.keypoints)
    out = np.full((frame.max() + 1, N_MICE * k * 2), np.nan, dtype=np.float32)
    col = ((mouse - 1) * k + slot) * 2
    direct = (slot >= 0) & ~mean
    for c in (0, 1):
        out[frame[direct], col[direct] + c] = xy[direct, c]
        m = mean & ~np.isnan(xy[:, c])
        sums, counts = np.zeros(out.shape), np.zeros(out.shape)
        np.add.at(sums, (frame[m], col[m] + c), xy[m, c].astype(np.float64))
        np.add.at(counts, (frame[m], col[m] + c), 1)
        avg = counts > 0
        out[avg] = (sums[avg] / counts[avg]).astype(np.float32)
    return out


def expected_annotations(path: Path | None, actions=MABE.actions) -> list[tuple]:
    """The valid raw intervals (an action of the vocabulary, ids 1..4, start <= stop), sorted, read plainly."""
    if path is None or not path.is_file():
        return []
    t = pq.read_table(path, columns=["agent_id", "target_id", "action", "start_frame", "stop_frame"]).to_pylist()
    rows = [tuple(r.values()) for r in t]
    return sorted(r for r in rows if None not in r and r[2] in actions and 1 <= r[0] <= N_MICE
                  and 1 <= r[1] <= N_MICE and r[3] <= r[4])


def _stored_annotations(store: Store, vid: int) -> list[tuple]:
    a = store.annotations(vid)
    return sorted(zip(*(a[k].tolist() for k in ("agent_id", "target_id", "action", "start_frame", "stop_frame")),
                      strict=True))


def check_raw(store: Store, raw: str | Path, *, sample: int = 8, seed: int = 0) -> list[str]:
    """Re-derive a sample of videos (one per lab at least) from `raw`; every difference is a problem."""
    tasks, _ = discover(raw, tuple(store.attrs.get("source", {}).get("splits", SPLITS)))
    by_id = {t.video_id: t for t in tasks}
    missing = [v for v in by_id if v not in set(store.videos["video_id"].tolist())]
    out = [f"{len(missing)} raw videos are not in the store (e.g. {missing[0]}) — see the build report "
           "(`mabe-store inspect`)"] if missing else []
    if read_vocabulary(raw) != store.vocabulary:
        out.append("the store's action vocabulary differs from the raw folder's (actions.csv) — rebuild the store")
    rng = np.random.default_rng(seed)
    ids = store.videos["video_id"]
    picks = {int(rng.choice(ids[store.videos["lab_id"] == lab])) for lab in np.unique(store.videos["lab_id"])}
    picks |= set(rng.choice(ids, size=min(sample, len(ids)), replace=False).tolist())
    for vid in sorted(picks):
        task = by_id.get(vid)
        if task is None:
            out.append(f"video {vid}: in the store but not in the raw metadata")
            continue
        try:
            out += _check_video(store, vid, task)
        except Exception as e:  # a raw file verify cannot even read: a finding, never a crash
            out.append(f"video {vid}: cannot re-derive it from the raw files ({type(e).__name__}: {str(e)[:80]})")
    return out


def _check_video(store: Store, vid: int, task) -> list[str]:
    out = []
    i = store.index(vid)
    if store.videos["lab_id"][i] != task.lab_id or store.videos["split"][i] != task.split:
        out.append(f"video {vid}: lab/split differ from the raw metadata")
    if _stored_annotations(store, vid) != expected_annotations(task.annotation, set(store.action_names)):
        out.append(f"video {vid}: annotation intervals differ from the raw annotation file")
    want = expected_features(task.tracking, store, max_frame(task.meta))
    if not np.array_equal(store.features(vid), want, equal_nan=True):
        out.append(f"video {vid}: features differ from {task.tracking.name} "
                   f"(store {store.features(vid).shape}, raw {want.shape})")
    return out
