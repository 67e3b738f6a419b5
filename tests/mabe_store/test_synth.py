"""`mabe_store.synth`: the Kaggle layout, dtypes, quirks, determinism and planted behaviours."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from mabe_store.behaviors import clean_triples, parse_behaviors_labeled
from mabe_store.synth import COLUMNS, SynthError, synthesize
from mabe_store.synth.profiles import plan

REAL = Path(__file__).resolve().parents[3] / "shared" / "mabe-real"


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    synthesize(out, videos=14, scale=0.5, seed=3, progress=False)
    return out


@pytest.fixture(scope="module")
def calms(tmp_path_factory) -> Path:
    """One sniff-rich lab only, so the geometry test sees enough intervals of each kind."""
    out = tmp_path_factory.mktemp("calms")
    synthesize(out, videos=4, scale=1.0, seed=4, labs=("CalMS21_task1",), progress=False)
    return out


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ann(raw: Path, row: dict) -> Path:
    return raw / "train_annotation" / row["lab_id"] / f"{row['video_id']}.parquet"


def test_layout_and_columns(raw):
    for name in ("train.csv", "test.csv"):
        with open(raw / name) as f:
            assert next(csv.reader(f)) == COLUMNS
    assert len(COLUMNS) == 38
    with open(raw / "sample_submission.csv") as f:
        assert next(csv.reader(f)) == ["row_id", "video_id", "agent_id", "target_id", "action",
                                       "start_frame", "stop_frame"]
    for split in ("train", "test"):
        for r in _rows(raw / f"{split}.csv"):
            assert (raw / f"{split}_tracking" / r["lab_id"] / f"{r['video_id']}.parquet").is_file()
    assert not list((raw / "test_tracking").glob("*/*.csv"))
    assert not (raw / "test_annotation").exists()


def test_train_csv_reads_like_the_real_one(raw):
    df = pl.read_csv(raw / "train.csv", infer_schema_length=None)
    assert df["video_id"].dtype == pl.Int64 and df["frames_per_second"].dtype == pl.Float64
    assert df["video_width_pix"].dtype == pl.Int64 and df["mouse1_id"].dtype == pl.Float64
    for v in df["body_parts_tracked"]:
        assert isinstance(json.loads(v), list)


def test_dtypes_and_absent_rows(raw):
    widths = set()
    for r in _rows(raw / "train.csv"):
        tab = pq.read_table(raw / "train_tracking" / r["lab_id"] / f"{r['video_id']}.parquet")
        assert [str(t) for t in tab.schema.types] == ["int32", "int8", "large_string", "float", "float"]
        assert pq.read_metadata(raw / "train_tracking" / r["lab_id"] / f"{r['video_id']}.parquet").created_by \
            .startswith("Polars") and tab.column("x").to_numpy().dtype == np.float32
        x = tab.column("x").to_numpy()
        assert np.array_equal(np.round(x.astype(np.float64), 3).astype(np.float32), x)  # 3 decimals, as real
        assert not np.array_equal(np.round(x.astype(np.float64), 2).astype(np.float32), x)
        df = pl.from_arrow(tab)
        assert df["x"].is_nan().sum() == 0 and df["x"].null_count() == 0
        n_frames = df["video_frame"].max() + 1
        full = n_frames * df["mouse_id"].n_unique() * len(json.loads(r["body_parts_tracked"]))
        assert df.height < full  # untracked keypoints are absent rows
        assert set(df["bodypart"].unique()) <= set(json.loads(r["body_parts_tracked"]))
        if _ann(raw, r).exists():
            schema = pq.read_schema(_ann(raw, r))
            assert [str(t) for t in schema.types][:3] == ["int8", "int8", "large_string"]
            widths.add(schema.field("start_frame").type.bit_width)
    assert widths == {16, 32}


def test_same_seed_same_bytes(tmp_path):
    """Same seed -> identical files, whatever the number of worker processes."""
    files = {}
    for name, seed, workers in (("a", 5, 2), ("b", 5, 1), ("c", 6, 2)):
        synthesize(tmp_path / name, videos=2, scale=0.1, seed=seed, progress=False, workers=workers)
        files[name] = sorted((tmp_path / name).rglob("*.parquet"))
    rel = [p.relative_to(tmp_path / "a") for p in files["a"]]
    assert rel == [p.relative_to(tmp_path / "b") for p in files["b"]]
    assert all((tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in rel)
    assert (tmp_path / "a" / "train.csv").read_bytes() == (tmp_path / "b" / "train.csv").read_bytes()
    assert (tmp_path / "a" / "train.csv").read_bytes() != (tmp_path / "c" / "train.csv").read_bytes()


def test_quoted_quirk_lists_pair_whitelist_and_clean_entries_occur(raw):
    rows = [r for r in _rows(raw / "train.csv") if r["lab_id"] == "DeliriousFly"]
    assert rows
    for r in rows:
        entries = json.loads(r["behaviors_labeled"])
        assert entries[0] == "'mouse1','mouse2','sniff'"
        assert "mouse1','mouse2','attack'" in entries
        quoted = [t for t in parse_behaviors_labeled(r["behaviors_labeled"]).entries if not t.clean]
        assert len(quoted) == 3
        ann = pl.read_parquet(_ann(raw, r))
        occurring = {(a, g, act) for a, g, act in ann.select("agent_id", "target_id", "action").rows()}
        assert {(t.agent, t.target, t.action) for t in clean_triples(r["behaviors_labeled"])} == occurring


def test_unlabeled_three_mouse_videos(raw):
    rows = [r for r in _rows(raw / "train.csv") if r["lab_id"].startswith("MABe22")]
    assert rows
    for r in rows:
        assert r["behaviors_labeled"] == "" and not _ann(raw, r).exists()
        df = pl.read_parquet(raw / "train_tracking" / r["lab_id"] / f"{r['video_id']}.parquet")
        assert sorted(df["mouse_id"].unique()) == [1, 2, 3]
        assert df["bodypart"].n_unique() == 12 and "forepaw_left" in set(df["bodypart"])


def test_annotations_whitelisted_and_disjoint_per_pair(raw):
    n = 0
    for r in _rows(raw / "train.csv"):
        if not _ann(raw, r).exists():
            continue
        allowed = {(t.agent, t.target, t.action) for t in clean_triples(r["behaviors_labeled"])}
        ann = pl.read_parquet(_ann(raw, r)).sort("agent_id", "target_id", "start_frame")
        for a, g, act, s, e in ann.rows():
            assert (a, g, act) in allowed and s < e
        for (_, _), grp in ann.group_by("agent_id", "target_id"):
            starts, stops = grp["start_frame"].to_numpy(), grp["stop_frame"].to_numpy()
            assert (starts[1:] >= stops[:-1]).all()
        n += ann.height
    assert n > 20


def _xy(df: pl.DataFrame, mouse: int, part: str, n: int) -> np.ndarray:
    sel = df.filter((pl.col("mouse_id") == mouse) & (pl.col("bodypart") == part))
    out = np.full((n, 2), np.nan)
    out[sel["video_frame"].to_numpy()] = sel.select("x", "y").to_numpy()
    return out


@pytest.mark.parametrize(("action", "target_part"), [("sniffface", "nose"), ("sniffgenital", "tail_base")])
def test_sniff_is_planted_in_the_geometry(calms, action, target_part):
    """During the intervals the agent's nose touches the target's part; outside it rarely does."""
    inside, outside = [], []
    for r in _rows(calms / "train.csv"):
        df = pl.read_parquet(calms / "train_tracking" / r["lab_id"] / f"{r['video_id']}.parquet")
        n = df["video_frame"].max() + 1
        dist = np.linalg.norm(_xy(df, 1, "nose", n) - _xy(df, 2, target_part, n), axis=1)
        mask = np.zeros(n, bool)
        ann = pl.read_parquet(_ann(calms, r)).filter(pl.col("action") == action)
        for s, e in ann.select("start_frame", "stop_frame").rows():
            mask[s:e] = True
        inside.append(dist[mask])
        outside.append(dist[~mask])
    inside, outside = np.concatenate(inside), np.concatenate(outside)
    assert np.isfinite(inside).sum() > 100
    assert np.nanmedian(inside) < 0.2 * np.nanmedian(outside)


def test_bad_arguments_are_reported_together(tmp_path):
    with pytest.raises(SynthError) as err:
        synthesize(tmp_path, profile="huge", videos=0, scale=2.0, labs=("NoSuchLab",), progress=False)
    msg = str(err.value)
    assert "huge" in msg and "--videos" in msg and "--scale" in msg and "NoSuchLab" in msg
    assert not (tmp_path / "train.csv").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SynthError, match="is a file"):
        synthesize(tmp_path / "file", videos=1, progress=False)


def test_kaggle_profile_has_the_full_set_shape():
    specs = plan("kaggle", videos=None, scale=1.0, seed=0)
    train = [s for s in specs if s.split == "train"]
    assert len(train) == 8789 and len({s.lab_id for s in train}) == 21
    assert 55e6 < sum(s.n_frames for s in train) < 90e6
    labeled = [s for s in train if s.triples]
    assert sum(s.lab_id.startswith("MABe22") for s in train) == 7927 and len(labeled) > 800
    tenth = [s for s in plan("kaggle", videos=None, scale=0.1, seed=0) if s.split == "train"]
    assert 850 < len(tenth) < 900


@pytest.mark.real
@pytest.mark.skipif(not (REAL / "train.csv").is_file(), reason="../shared/mabe-real is absent")
def test_semi_real_keeps_real_labels(tmp_path):
    s = synthesize(tmp_path, from_real=REAL, videos=2, scale=0.05, labs=("CalMS21_task1",),
                   progress=False)
    assert s.n_labs == 1
    rows = _rows(tmp_path / "train.csv")
    real = {r["video_id"]: r for r in _rows(REAL / "train.csv")}
    for r in rows:
        assert r["behaviors_labeled"] == real[r["video_id"]]["behaviors_labeled"]
        ann = pl.read_parquet(_ann(tmp_path, r))
        track = pl.read_parquet(tmp_path / "train_tracking" / r["lab_id"] / f"{r['video_id']}.parquet")
        assert ann["start_frame"].max() <= track["video_frame"].max()


@pytest.mark.real
@pytest.mark.skipif(not (REAL / "train.csv").is_file(), reason="../shared/mabe-real is absent")
def test_embedded_lab_table_is_what_derive_gives_on_the_real_files():
    from importlib import resources

    from mabe_store.synth.derive import derive

    embedded = json.loads(resources.files("mabe_store.synth").joinpath("lab_table.json").read_text())
    assert derive(REAL) == embedded
    never = {lab for lab, f in embedded.items() if any(a["rate_per_min"] == 0 for a in f["actions"].values())}
    assert never == {"CautiousGiraffe", "ElegantMink", "GroovyShrew", "SparklingTapir", "UppityFerret"}
