"""`mabe-train kaggle submit`: discovery under both mount layouts, the test-only build, equality with the
predict path, and a valid file whatever fails (a corrupt video, no model, no time)."""

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mabe_store.cli import app as store_app
from mabe_store.reader import open_store
from mabe_store.synth import synthesize
from mabe_train.cli import app as train_app
from mabe_train.config import load_config
from mabe_train.decode import decode
from mabe_train.metric import score
from mabe_train.runs.blend import blend_all, default_thresholds
from mabe_train.runs.registry import load_run
from mabe_train.submission import solution_from_store
from mabe_train.submit import SubmitError, fallback_rows, find_competition, read_test_videos, submit
from mabe_train.train import train
from tests.mabe_train.kaggle_input import SLUG, fake_kaggle_input

DEBUG = ["sequence_length=32", "batch_size=16", "model.conv_channels=[16]", "lstm_hidden=16",
         "train.epochs=1", "train.steps_per_epoch=6", "train.max_val_videos=3", "train.progress=false"]
COLS = ["video_id", "agent_id", "target_id", "action", "start_frame", "stop_frame"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(root, run_dir, bundle folder, labeled train video ids, the full store) — trained once."""
    root = tmp_path_factory.mktemp("submit")
    runner = CliRunner()
    synthesize(root / "raw", videos=8, scale=0.25, progress=False, workers=1)  # one process: synth's pool forks, which can deadlock a pytest process whose Polars/torch threads hold locks
    r = runner.invoke(store_app, ["build", "--raw", str(root / "raw"), "--out", str(root / "s.zarr")])
    assert r.exit_code == 0, r.output
    cfg = load_config("configs/pairs_demo.yaml", [f"data.data_dir={root / 's.zarr'}", f"train.checkpoint_dir={root / 'runs'}",
                                                  "train.run_name=p", *DEBUG])
    run_dir = train(cfg)
    (root / "bundle" / "runs").mkdir(parents=True)
    shutil.copytree(run_dir, root / "bundle" / "runs" / "p")
    store = open_store(root / "s.zarr")
    v = store.videos
    ids = [int(x) for x, sp, n in zip(v["video_id"], v["split"], v["labeled_actions"].sum(1), strict=True)
           if sp == "train" and n > 0]
    return root, run_dir, root / "bundle", ids, store


def _expected(run_dir, store, ids) -> pl.DataFrame:
    """What the predict path (mabe_train.predict) decodes for these videos."""
    run = load_run(run_dir, data_dir=store.path, progress=False)
    return decode(run.predict_probs(ids), run.cfg.pairs.decode, run.thresholds)


def _rows(csv) -> pl.DataFrame:
    return pl.read_csv(csv, infer_schema=False).select(COLS).with_columns(
        pl.col("start_frame", "stop_frame").cast(pl.Int64)).sort(COLS)


def _as_text(df) -> pl.DataFrame:
    return df.select(COLS).with_columns(pl.col(c).cast(pl.Utf8) for c in COLS[:4]).sort(COLS)


@pytest.mark.parametrize("layout", ["competitions", "flat"])
def test_finds_test_csv_under_both_mount_layouts(tmp_path, layout):
    comp = tmp_path / ("competitions" if layout == "competitions" else "") / SLUG
    (comp / "test_tracking").mkdir(parents=True)
    (comp / "test.csv").write_text("lab_id,video_id\n")
    (tmp_path / "my-bundle").mkdir()  # a dataset beside it holds no test.csv
    assert find_competition(tmp_path) == comp
    assert find_competition(comp) == comp


def test_no_test_csv_is_one_line_and_exit_1(tmp_path):
    with pytest.raises(SubmitError, match="no test.csv"):
        find_competition(tmp_path)
    r = CliRunner().invoke(train_app, ["kaggle", "submit", "--bundle", str(tmp_path), "--input", str(tmp_path),
                                       "--out", str(tmp_path / "s.csv")])
    assert r.exit_code == 1 and r.output.startswith("error: no test.csv"), r.output


@pytest.mark.parametrize("content", [b"", b"row_id,lab_id,video_id,behaviors_labeled\n"])
def test_a_test_csv_naming_no_video_gives_a_header_only_file(tmp_path, content):
    """0 bytes or a header alone: nothing to predict, and still the valid file the notebook needs."""
    (tmp_path / "input" / SLUG).mkdir(parents=True)
    (tmp_path / "input" / SLUG / "test.csv").write_bytes(content)
    (tmp_path / "bundle").mkdir()
    s = submit(tmp_path / "bundle", tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)
    assert s.n_videos == 0 and s.n_rows == 0 and "names no video" in s.notes[0]
    assert (tmp_path / "s.csv").read_text() == "row_id,video_id,agent_id,target_id,action,start_frame,stop_frame\n"
    assert (tmp_path / "s.summary.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["competitions", "flat"])
def test_submit_equals_the_predict_path_and_builds_test_only(env, tmp_path, layout):
    root, run_dir, bundle, ids, store = env
    fake_kaggle_input(root / "raw", ids, tmp_path / "input", layout)  # its train.csv is not a csv
    r = CliRunner().invoke(train_app, ["kaggle", "submit", "--bundle", str(bundle), "--input", str(tmp_path / "input"),
                                       "--out", str(tmp_path / "out" / "submission.csv")])
    assert r.exit_code == 0, r.output
    assert f"{len(ids)}/{len(ids)} videos predicted" in r.output and "0 fell back (baseline rows)" in r.output
    got = _rows(tmp_path / "out" / "submission.csv")
    assert got.height > 0
    assert got.equals(_as_text(_expected(run_dir, store, ids)))
    assert not list(tmp_path.glob("mabe-submit-*"))  # scratch removed


@pytest.mark.slow
def test_a_corrupt_test_video_falls_back_and_the_others_score_as_before(env, tmp_path):
    root, run_dir, bundle, ids, store = env
    comp = fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    bad = ids[0]
    next(comp.glob(f"test_tracking/*/{bad}.parquet")).write_bytes(b"PAR1 garbage")
    out = tmp_path / "submission.csv"
    s = submit(bundle, tmp_path / "input", out, fallback="none", log=lambda _: None, scratch=tmp_path)
    assert list(s.fell_back) == [bad] and s.fell_back[bad].startswith(f"video {bad} (")  # the build's reason
    got = _rows(out)
    assert str(bad) not in got["video_id"].to_list()  # fallback `none`: no rows
    others = ids[1:]
    assert got.equals(_as_text(_expected(run_dir, store, others)))
    solution = solution_from_store(store, others)
    assert score(solution, got) == score(solution, _expected(run_dir, store, others))


@pytest.mark.slow
def test_no_loadable_run_falls_back_to_the_baseline_for_every_video(env, tmp_path):
    root, _, _, ids, store = env
    fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    (tmp_path / "bundle" / "runs" / "broken").mkdir(parents=True)
    (tmp_path / "bundle" / "runs" / "broken" / "config.yaml").write_text("task: pairs\n")
    s = submit(tmp_path / "bundle", tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)
    assert set(s.fell_back) == set(ids) and "baseline" in s.fallback_rows
    assert any("broken" in n for n in s.notes)
    got = _rows(tmp_path / "s.csv")
    assert set(got["video_id"].to_list()) == {str(i) for i in ids}
    assert score(solution_from_store(store, ids), got) > 0  # a valid, scoreable file


@pytest.mark.slow
def test_time_budget_stops_model_work(env, tmp_path):
    root, _, bundle, ids, _ = env
    fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    s = submit(bundle, tmp_path / "input", tmp_path / "s.csv", time_budget=0.0, log=lambda _: None)
    assert not s.predicted and all(why.startswith("time budget") for why in s.fell_back.values())
    assert _rows(tmp_path / "s.csv").height > 0  # nothing predicted: the baseline keeps the file valid


@pytest.mark.slow
def test_baseline_fallback_gives_the_corrupt_video_its_labeled_rows(env, tmp_path):
    root, _, bundle, ids, _ = env
    comp = fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    bad = ids[-1]
    next(comp.glob(f"test_tracking/*/{bad}.parquet")).write_bytes(b"")
    s = submit(bundle, tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)  # the default: baseline
    assert list(s.fell_back) == [bad]
    rows = _rows(tmp_path / "s.csv").filter(pl.col("video_id") == str(bad))
    entries = set(pl.read_csv(comp / "test.csv", infer_schema=False).filter(pl.col("video_id") == str(bad))
                  ["behaviors_labeled"].str.json_decode().explode().to_list())
    assert rows.height > 0
    assert set(rows.select(pl.concat_str(["agent_id", "target_id", "action"], separator=","))
               .to_series().to_list()) <= entries


REAL = Path(__file__).resolve().parents[3] / "shared" / "mabe-real"


@pytest.mark.real
@pytest.mark.skipif(not (REAL / "test.csv").exists(), reason="needs ../shared/mabe-real")
def test_the_public_test_csv_without_tracking_still_gives_a_valid_file(tmp_path):
    """The real one-row test.csv, its tracking missing: the baseline from duration x fps, exit 0."""
    comp = tmp_path / "input" / SLUG
    comp.mkdir(parents=True)
    shutil.copyfile(REAL / "test.csv", comp / "test.csv")
    (tmp_path / "bundle").mkdir()
    r = CliRunner().invoke(train_app, ["kaggle", "submit", "--bundle", str(tmp_path / "bundle"), "--input",
                                       str(tmp_path / "input"), "--out", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    assert "0/1 videos predicted" in r.output and "no tracking file" in r.output
    sub = pl.read_csv(tmp_path / "s.csv", infer_schema=False)
    meta = pl.read_csv(comp / "test.csv", infer_schema=False).row(0, named=True)
    length = round(float(meta["video_duration_sec"]) * float(meta["frames_per_second"]))
    assert sub["stop_frame"].cast(pl.Int64).max() == length
    entries = set(sub.select(pl.concat_str(["agent_id", "target_id", "action"], separator=",")).to_series())
    assert entries <= set(json.loads(meta["behaviors_labeled"])) and entries


@pytest.mark.slow
def test_two_bundled_runs_are_blended_by_the_ensemble_rule(env, tmp_path):
    root, run_dir, _, ids, store = env
    cfg = load_config("configs/pairs_demo.yaml", [f"data.data_dir={root / 's.zarr'}", f"train.checkpoint_dir={tmp_path}",
                                                  "train.run_name=q", "train.seed=1", *DEBUG])
    other = train(cfg)
    (tmp_path / "bundle" / "runs").mkdir(parents=True)
    for r in (run_dir, other):
        shutil.copytree(r, tmp_path / "bundle" / "runs" / r.name)
    fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    s = submit(tmp_path / "bundle", tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)
    assert s.runs == ["p", "q"] and not s.fell_back
    runs = [load_run(r, data_dir=store.path, progress=False) for r in (run_dir, other)]
    # equal weights, each run centred on its own thresholds, decoded at the blend's boundary (0.5)
    probs = blend_all([r.predict_probs(ids) for r in runs], [r.thresholds for r in runs], (0.5, 0.5))
    want = decode(probs, runs[0].cfg.pairs.decode, default_thresholds([r.thresholds for r in runs]))
    assert _rows(tmp_path / "s.csv").equals(_as_text(want))
    assert not _rows(tmp_path / "s.csv").equals(_as_text(_expected(run_dir, store, ids)))  # q changed something


@pytest.mark.slow
def test_a_per_action_run_submits_what_predict_writes(env, tmp_path):
    """A run decoding with per-action bouts (pairs.decode.per_action) keeps them through submit:
    every video predicted, the same intervals as the predict path, none fell back."""
    root, _, _, ids, store = env
    cfg = load_config("configs/pairs_demo.yaml", [f"data.data_dir={root / 's.zarr'}", f"train.checkpoint_dir={tmp_path}",
                                                  "train.run_name=pa", "pairs.decode.per_action=true", *DEBUG])
    run_dir = train(cfg)
    assert json.loads((run_dir / "thresholds.json").read_text()).get("bout_s")  # tuned with per-action bouts
    (tmp_path / "bundle" / "runs").mkdir(parents=True)
    shutil.copytree(run_dir, tmp_path / "bundle" / "runs" / "pa")
    fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    s = submit(tmp_path / "bundle", tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)
    assert not s.fell_back and sorted(s.predicted) == sorted(ids), s.fell_back
    want = _expected(run_dir, store, ids)
    assert want.height > 0 and _rows(tmp_path / "s.csv").equals(_as_text(want))


@pytest.mark.slow
def test_an_unexpected_error_still_leaves_a_valid_file(env, tmp_path, monkeypatch):
    root, _, bundle, ids, store = env
    fake_kaggle_input(root / "raw", ids, tmp_path / "input")

    def boom(*_a, **_k):
        raise RuntimeError("a bug in predicting")

    monkeypatch.setattr("mabe_train.submit.predict_videos", boom)
    s = submit(bundle, tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)
    assert set(s.fell_back) == set(ids) and "a bug in predicting" in s.notes[0]
    assert score(solution_from_store(store, ids), _rows(tmp_path / "s.csv")) > 0


@pytest.mark.slow
def test_a_video_without_one_tracked_keypoint_gets_baseline_rows(env, tmp_path):
    root, run_dir, bundle, ids, store = env
    comp = fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    bad = ids[0]
    path = next(comp.glob(f"test_tracking/*/{bad}.parquet"))
    pl.read_parquet(path).with_columns(pl.lit(None, pl.Float32).alias("x"), pl.lit(None, pl.Float32).alias("y")
                                       ).fill_null(float("nan")).write_parquet(path)
    s = submit(bundle, tmp_path / "input", tmp_path / "s.csv", log=lambda _: None)
    assert list(s.fell_back) == [bad] and "all NaN" in s.fell_back[bad]
    rows = _rows(tmp_path / "s.csv").filter(pl.col("video_id") == str(bad))
    want = fallback_rows([v for v in read_test_videos(comp) if v.video_id == bad], "baseline")
    assert rows.height == want.height > 0
    assert _rows(tmp_path / "s.csv").filter(pl.col("video_id") != str(bad)).equals(
        _as_text(_expected(run_dir, store, ids[1:])))  # the others as before


@pytest.mark.slow
def test_a_bundle_whose_runs_arrive_as_runs_tar_predicts_alike(env, tmp_path):
    """As uploaded by the default kaggle client: runs.tar beside store.yaml, no runs/ folder."""
    from mabe_train.bundle import pack_runs
    root, run_dir, bundle, ids, store = env
    fake_kaggle_input(root / "raw", ids, tmp_path / "input")
    (tmp_path / "flat").mkdir()
    pack_runs(bundle / "runs", tmp_path / "flat" / "runs.tar")
    s = submit(tmp_path / "flat", tmp_path / "input", tmp_path / "s.csv", log=lambda _: None, scratch=tmp_path)
    assert s.runs == ["p"] and not s.fell_back
    assert _rows(tmp_path / "s.csv").equals(_as_text(_expected(run_dir, store, ids)))
    assert not list(tmp_path.glob("mabe-submit-*"))  # the unpacked runs went with the scratch folder
