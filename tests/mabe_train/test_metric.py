"""The official metric: one hand-computed case per rule of docs/metric.md, then agreement with the
official code's own answers (golden file) and with a frame-set restatement on seeded cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from mabe_train.metric import MetricError, score, score_details
from tests.oracle.cases import SOLUTION_COLUMNS, SUBMISSION_COLUMNS, random_case
from tests.oracle.mabe_official_metric import OfficialError, official_score
from tests.oracle.make_golden import fingerprint

WL = json.dumps(["mouse1,mouse2,sniff", "mouse1,mouse2,attack", "mouse2,self,rear", "mouse1,mouse3,sniff"])


def sol(*rows, labeled=WL, lab="L1"):
    """Rows (video, agent, target, action, start, stop) or with (lab, labeled) appended."""
    full = [r if len(r) == 8 else (*r, lab, labeled) for r in rows]
    return pl.DataFrame(full, schema=SOLUTION_COLUMNS, orient="row")


def sub(*rows):
    return pl.DataFrame([(i, *r) for i, r in enumerate(rows)], schema=SUBMISSION_COLUMNS, orient="row")


# -- the official code's own doctests (cases this project did not write) -----------------------------
def _doc(rows):
    return pl.DataFrame(rows, orient="row", schema=["video_id", "agent_id", "target_id", "action",
                                                    "start_frame", "stop_frame", "lab_id", "behaviors_labeled"])


DOC_WL = '["1,2,attack"]'
DOCTESTS = [
    ([(1, 1, 2, "attack", 0, 10, 1, DOC_WL)], [(1, 1, 2, "attack", 0, 10)], 1.0),
    ([(1, 1, 2, "attack", 0, 10, 1, DOC_WL)], [(1, 1, 2, "mount", 0, 10)], 0.0),
    ([(123, 1, 2, "attack", 0, 9, 1, DOC_WL), (123, 1, 2, "mount", 15, 24, 1, DOC_WL)],
     [(123, 1, 2, "attack", 0, 9)], 0.5),
    ([(123, 1, 2, "attack", 0, 9, 1, DOC_WL), (123, 1, 2, "mount", 15, 24, 1, DOC_WL),
      (345, 1, 2, "attack", 0, 9, 2, DOC_WL), (345, 1, 2, "mount", 15, 24, 2, DOC_WL)],
     [(123, 1, 2, "attack", 0, 9)], 0.25),
    ([(1, 1, 2, "attack", 0, 10, 1, DOC_WL), (1, 1, 2, "attack", 10, 20, 1, DOC_WL)],
     [(1, 1, 2, "attack", 0, 20)], 1.0),
    ([(1, 1, 2, "attack", 0, 10, 1, DOC_WL), (1, 1, 2, "attack", 30, 40, 1, DOC_WL)],
     [(1, 1, 2, "attack", 0, 40)], 2 / 3),
]


@pytest.mark.parametrize(("truth", "pred", "expected"), DOCTESTS)
def test_official_doctests(truth, pred, expected):
    p = pl.DataFrame(pred, orient="row", schema=SOLUTION_COLUMNS[:6])
    assert score(_doc(truth), p) == pytest.approx(expected, abs=1e-12)


# -- rules 1-2: inputs, ids ---------------------------------------------------------------------
def test_empty_input_is_an_error():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    with pytest.raises(MetricError, match="Missing solution or submission data"):
        score(s, sub()[:0])
    with pytest.raises(MetricError, match="Missing solution or submission data"):
        score(s[:0], sub((1, "mouse1", "mouse2", "sniff", 0, 10)))


def test_missing_columns_are_all_named_in_one_message():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10)).drop("behaviors_labeled")
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10)).drop("action", "stop_frame")
    with pytest.raises(MetricError) as e:
        score(s, p)
    msg = str(e.value)
    for part in ("Solution is missing column behaviors_labeled", "Submission is missing column action",
                 "Submission is missing column stop_frame"):
        assert part in msg


@pytest.mark.parametrize("side", ["solution", "submission"])
def test_start_after_stop_is_an_error(side):
    good, bad = (1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse1", "mouse2", "sniff", 12, 11)
    s, p = (sol(bad), sub(good)) if side == "solution" else (sol(good), sub(bad))
    with pytest.raises(MetricError, match="start_frame > stop_frame"):
        score(s, p)


def test_ids_are_compared_as_text_and_extra_columns_ignored():
    s = sol((7, "mouse1", "mouse2", "sniff", 0, 10))
    p = pl.DataFrame({"row_id": [0], "video_id": ["7"], "agent_id": ["mouse1"], "target_id": ["mouse2"],
                      "action": ["sniff"], "start_frame": [0], "stop_frame": [5], "confidence": [0.3]})
    assert score(s, p) == pytest.approx(2 * 5 / (2 * 5 + 5))


def test_rows_of_videos_not_in_the_solution_are_dropped_even_if_they_clash():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10), (2, "mouse1", "mouse2", "sniff", 0, 10),
            (2, "mouse1", "mouse2", "attack", 0, 10))
    assert score(s, p) == 1.0


# -- rules 3-5: whitelist, repeats, overlaps -----------------------------------------------------
def test_unwhitelisted_prediction_is_ignored_entirely():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse2", "mouse1", "mount", 0, 50))
    d = score_details(s, p)
    assert d.score == 1.0 and d.per_action["action"].to_list() == ["sniff"]


def test_quoted_entry_never_matches():
    quoted = json.dumps(["'mouse1','mouse2','sniff'"])
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10), labeled=quoted)
    assert score(s, sub((1, "mouse1", "mouse2", "sniff", 0, 10))) == 0.0


def test_whitelist_comes_from_the_videos_first_solution_row():
    only_attack = json.dumps(["mouse1,mouse2,attack"])
    s = sol((1, "mouse1", "mouse2", "attack", 20, 30, "L1", only_attack),
            (1, "mouse1", "mouse2", "sniff", 0, 10, "L1", WL))
    p = sub((1, "mouse1", "mouse2", "attack", 20, 30), (1, "mouse1", "mouse2", "sniff", 0, 10))
    assert score(s, p) == pytest.approx(0.5)  # sniff prediction ignored: F(attack)=1, F(sniff)=0
    assert score(s.reverse(), p) == 1.0


def test_ground_truth_outside_the_whitelist_still_counts_as_missed():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse2", "mouse1", "mount", 0, 10))
    assert score(s, sub((1, "mouse1", "mouse2", "sniff", 0, 10))) == pytest.approx(0.5)


def test_repeated_frames_count_once():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    once = sub((1, "mouse1", "mouse2", "sniff", 5, 15))
    many = sub((1, "mouse1", "mouse2", "sniff", 5, 15), (1, "mouse1", "mouse2", "sniff", 5, 15),
               (1, "mouse1", "mouse2", "sniff", 8, 12))
    assert score(s, once) == score(s, many) == pytest.approx(2 * 5 / (2 * 5 + 5 + 5))
    dup_truth = sol((1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse1", "mouse2", "sniff", 0, 10))
    assert score(dup_truth, sub((1, "mouse1", "mouse2", "sniff", 0, 10))) == 1.0


def test_two_actions_on_one_frame_of_one_pair_is_an_error():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse1", "mouse2", "attack", 9, 20))
    with pytest.raises(MetricError, match="Multiple predictions for the same frame from one agent/target pair"):
        score(s, p)


@pytest.mark.parametrize("second", [
    (1, "mouse1", "mouse2", "attack", 10, 20),  # touching
    (1, "mouse1", "mouse2", "attack", 5, 5),  # zero-length inside
    (1, "mouse1", "mouse3", "sniff", 0, 10),  # same agent, another target
    (1, "mouse2", "mouse1", "mount", 0, 10),  # unwhitelisted: ignored
])
def test_what_never_triggers_the_overlap_error(second):
    s, p = sol((1, "mouse1", "mouse2", "sniff", 0, 10)), sub((1, "mouse1", "mouse2", "sniff", 0, 10), second)
    assert score(s, p) == pytest.approx(official_score(s.to_pandas(), p.to_pandas()))


# -- rule 6: pooling, lab actions, means ------------------------------------------------------
def test_frames_are_pooled_per_action_over_videos_and_pairs():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10), (2, "mouse1", "mouse2", "sniff", 0, 90))
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10), (2, "mouse1", "mouse2", "sniff", 0, 10))
    tp, fn = 20, 80  # pooled, not the mean of per-video F (1.0 and 0.2)
    assert score(s, p) == pytest.approx(2 * tp / (2 * tp + fn))


def test_zero_length_truth_row_adds_an_action_with_f_zero():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse1", "mouse2", "attack", 4, 4))
    d = score_details(s, sub((1, "mouse1", "mouse2", "sniff", 0, 10)))
    assert d.score == pytest.approx(0.5)
    assert d.per_action.filter(pl.col("action") == "attack").row(0, named=True)["f"] == 0.0


@pytest.mark.parametrize("extra", [(1, "mouse1", "mouse2", "attack", 20, 30), (1, "mouse1", "mouse2", "attack", 3, 3)])
def test_counted_prediction_of_an_action_the_lab_lacks_adds_f_zero(extra):
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    assert score(s, sub((1, "mouse1", "mouse2", "sniff", 0, 10), extra)) == pytest.approx(0.5)


def test_final_score_is_the_plain_mean_over_labs():
    s = pl.concat([sol((1, "mouse1", "mouse2", "sniff", 0, 1000), lab="Big"),
                   sol((2, "mouse1", "mouse2", "sniff", 0, 10), lab="Small")])
    d = score_details(s, sub((1, "mouse1", "mouse2", "sniff", 0, 1000)))
    assert d.score == pytest.approx(0.5)
    assert d.per_lab.select("lab_id", "n_actions", "score").rows() == [("Big", 1, 1.0), ("Small", 1, 0.0)]


def test_beta_weighs_recall():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    p = sub((1, "mouse1", "mouse2", "sniff", 5, 25))  # tp 5, fp 15, fn 5
    assert score(s, p, beta=2.0) == pytest.approx(5 * 5 / (5 * 5 + 4 * 5 + 15))
    row = score_details(s, p).per_action.row(0, named=True)
    assert (row["tp"], row["fp"], row["fn"]) == (5, 15, 5)


# -- agreement with the official metric ------------------------------------------------------------
GOLDEN = json.loads((Path(__file__).parents[1] / "oracle" / "golden_official.json").read_text())


def _case(seed, clash):
    s, p = random_case(seed, clash=clash)
    return s, p, pl.DataFrame(s, schema=SOLUTION_COLUMNS, orient="row"), \
        pl.DataFrame(p, schema=SUBMISSION_COLUMNS, orient="row")


def test_agrees_with_the_official_codes_answers():
    """400 cases scored by the competition's own code (tests/oracle/make_golden.py). The cases are
    pinned as parquet beside the answers, so a change of numpy's random stream cannot skip this."""
    checked = errors = 0
    oracle = Path(__file__).parents[1] / "oracle"
    sols = pl.read_parquet(oracle / "golden_solution.parquet").partition_by("case", as_dict=True)
    subs = pl.read_parquet(oracle / "golden_submission.parquet").partition_by("case", as_dict=True)
    for g in GOLDEN:
        s, p = sols[(g["seed"],)].drop("case"), subs[(g["seed"],)].drop("case")
        assert fingerprint(s.rows(), p.rows()) == g["fingerprint"], g["seed"]  # the rows the answer is for
        if g["error"] is not None:
            with pytest.raises(MetricError, match="Multiple predictions"):
                score(s, p)
            errors += 1
        else:
            assert score(s, p) == pytest.approx(g["score"], abs=1e-12), g["seed"]
            checked += 1
    assert checked >= 300 and errors >= 60


@pytest.mark.parametrize("seed", range(400, 430))
def test_agrees_with_the_frame_set_restatement(seed):
    s_rows, p_rows, s, p = _case(seed, clash=seed % 3 == 0)
    try:
        expected = official_score(pd.DataFrame(s_rows, columns=SOLUTION_COLUMNS),
                                  pd.DataFrame(p_rows, columns=SUBMISSION_COLUMNS))
    except OfficialError:
        with pytest.raises(MetricError):
            score(s, p)
        return
    assert score(s, p) == pytest.approx(expected, abs=1e-12)


# -- the `score` command --------------------------------------------------------------------------
def _cli():
    from typer.testing import CliRunner

    from mabe_train.cli import app  # `score` inside the CLIs' one error boundary, by name
    return app, CliRunner()


def _write(tmp_path, s, p):
    s.write_csv(tmp_path / "sol.csv")
    p.write_csv(tmp_path / "sub.csv")
    return ["score", "--solution", str(tmp_path / "sol.csv"), "--submission", str(tmp_path / "sub.csv")]


def test_cli_prints_the_score_at_full_precision(tmp_path):
    s_rows, p_rows, s, p = _case(7, clash=False)
    app, runner = _cli()
    res = runner.invoke(app, [*_write(tmp_path, s, p), "--details"])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == f"score: {score(s, p)!r}"
    assert "per lab:" in res.output and "per lab and action:" in res.output


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda s, p: (s, p.drop("action")), "Submission is missing column action"),
    (lambda s, p: (s, p[:0]), "Missing solution or submission data"),
    (lambda s, p: (s, p.with_columns(pl.col("start_frame").cast(pl.Utf8) + "x")), "must be integers"),
    (lambda s, p: (s, pl.concat([p, p.head(1).with_columns(pl.col("action").str.replace("sniff", "attack"),
                                                           pl.col("row_id") + 1000)])),
     "Multiple predictions for the same frame"),
])
def test_cli_bad_input_is_one_line_and_exit_1(tmp_path, mangle, message):
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    app, runner = _cli()
    res = runner.invoke(app, _write(tmp_path, *mangle(s, sub((1, "mouse1", "mouse2", "sniff", 0, 10)))))
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_cli_missing_file(tmp_path):
    app, runner = _cli()
    res = runner.invoke(app, ["score", "--solution", str(tmp_path / "nope.csv"), "--submission", str(tmp_path / "n.csv")])
    assert res.exit_code == 1 and "does not exist" in res.output


# -- the real competition annotations (skipped where ../shared is absent) ---------------------------
@pytest.mark.real
def test_real_annotations_match_the_official_codes_scores():
    """Values computed by the competition's code on the same tables (see tests/oracle/real.py)."""
    from tests.oracle.real import REAL, real_baseline, real_solution
    if not (REAL / "train.csv").exists():
        pytest.skip(f"{REAL} not available")
    s = real_solution()
    truth = s.select(SOLUTION_COLUMNS[:6])
    shifted = truth.with_columns(pl.col("start_frame", "stop_frame") + 5)
    assert score(s, real_baseline()) == pytest.approx(0.07472850366497553, abs=1e-12)  # docs/metric.md: 0.0747
    assert score(s, shifted) == pytest.approx(0.8858546688375947, abs=1e-12)
    assert score(s, truth) == 1.0


def test_cli_swapped_files_are_named_as_such(tmp_path):
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10))
    app, runner = _cli()
    args = _write(tmp_path, s, sub((1, "mouse1", "mouse2", "sniff", 0, 10)))
    swapped = ["score", "--solution", args[4], "--submission", args[2]]
    res = runner.invoke(app, swapped)
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "swapped" in lines[0]


def test_cli_says_when_no_submitted_video_is_in_the_solution(tmp_path):
    app, runner = _cli()
    args = _write(tmp_path, sol((1, "mouse1", "mouse2", "sniff", 0, 10)), sub((7, "mouse1", "mouse2", "sniff", 0, 10)))
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "none of the submission's 1 videos is in the solution" in res.output
    assert "score:" not in res.output


def test_cli_directory_is_not_called_missing(tmp_path):
    app, runner = _cli()
    res = runner.invoke(app, ["score", "--solution", str(tmp_path), "--submission", str(tmp_path / "n.csv")])
    assert res.exit_code == 1 and "is a directory" in res.output


@pytest.mark.real
def test_real_solution_random_submissions_match_the_restatement():
    """Jittered truth with a fifth of the intervals dropped, on four real labs: the vectorised
    score equals the frame-set restatement to 1e-12."""
    from tests.oracle.real import REAL, real_solution
    if not (REAL / "train.csv").exists():
        pytest.skip(f"{REAL} not available")
    s = real_solution()
    s = s.filter(pl.col("lab_id").is_in(sorted(s["lab_id"].unique())[::6]))
    rng = np.random.default_rng(0)
    p = s.select(SOLUTION_COLUMNS[:6]).sample(fraction=0.8, seed=0)
    jitter = rng.integers(-8, 9, (p.height, 2))
    p = p.with_columns(pl.col("start_frame") + jitter[:, 0], pl.col("stop_frame") + jitter[:, 1])
    p = p.with_columns(pl.col("start_frame").clip(0)).filter(pl.col("stop_frame") >= pl.col("start_frame"))
    p = _one_action_per_pair(p)
    expected = official_score(s.to_pandas(), p.to_pandas())
    assert 0.3 < expected < 0.95
    assert score(s, p) == pytest.approx(expected, abs=1e-12)


def _one_action_per_pair(p: pl.DataFrame) -> pl.DataFrame:
    """Clip each pair's intervals so that no two overlap (jitter may make neighbours clash)."""
    p = p.sort("video_id", "agent_id", "target_id", "start_frame")
    prev = pl.col("stop_frame").shift(1).over("video_id", "agent_id", "target_id").cum_max().over(
        "video_id", "agent_id", "target_id").fill_null(0)
    return (p.with_columns(pl.max_horizontal("start_frame", prev).alias("start_frame"))
            .filter(pl.col("stop_frame") >= pl.col("start_frame")))


@pytest.mark.parametrize("span", [1_000, 1 << 61])
def test_event_sort_orders_by_key_frame_and_kind(span):
    """The packed one-array sort (small frame ranges) and the lexsort fallback (huge ones) both
    give the (key, frame, kind) order."""
    from mabe_train.metric import _sort_events
    rng = np.random.default_rng(1)
    key, low = rng.integers(0, 50, 5000), rng.integers(0, 4, 5000)
    frame = rng.integers(-span // 2, span // 2, 5000)
    k, f, lo = _sort_events(key, frame, low)
    order = np.lexsort((low, frame, key))
    assert (k == key[order]).all() and (f == frame[order]).all() and (lo == low[order]).all()


def test_score_is_invariant_to_a_shift_of_every_frame():
    _, _, s, p = _case(11, clash=False)
    shifted = [x.with_columns(pl.col("start_frame", "stop_frame") + (1 << 40)) for x in (s, p)]
    assert score(*shifted) == score(s, p)


@pytest.mark.parametrize("text", ["nope", '{"a": 1}', "null", "[1, "])
def test_a_whitelist_that_is_not_a_json_list_names_the_video(text):
    s = sol((7, "mouse1", "mouse2", "sniff", 0, 10), labeled=text)
    with pytest.raises(MetricError, match="behaviors_labeled of video 7 is not a JSON list"):
        score(s, sub((7, "mouse1", "mouse2", "sniff", 0, 10)))


def test_non_text_whitelist_entries_never_match():
    s = sol((1, "mouse1", "mouse2", "sniff", 0, 10), labeled=json.dumps([1, "mouse1,mouse2,sniff", None]))
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10))
    assert score(s, p) == official_score(s.to_pandas(), p.to_pandas()) == 1.0


def test_a_video_in_two_labs_counts_for_each_lab_that_whitelists_the_row():
    only_sniff = json.dumps(["mouse1,mouse2,sniff"])
    s = pl.concat([sol((1, "mouse1", "mouse2", "sniff", 0, 10), lab="A"),
                   sol((1, "mouse1", "mouse2", "attack", 0, 10), lab="B", labeled=only_sniff)])
    p = sub((1, "mouse1", "mouse2", "sniff", 0, 10), (1, "mouse1", "mouse2", "attack", 20, 30))
    d = score_details(s, p)
    assert d.score == pytest.approx(official_score(s.to_pandas(), p.to_pandas()), abs=1e-12)
    assert d.per_lab.select("lab_id", "n_actions").rows() == [("A", 2), ("B", 2)]
