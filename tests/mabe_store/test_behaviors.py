"""behaviors_labeled parsing: both entry forms, the quote quirk, and the real file when present."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mabe_store.behaviors import Labeled, clean_triples, labeled_triples, parse_behaviors_labeled

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "mabe-real"


def test_clean_and_self_entries():
    ts = parse_behaviors_labeled(json.dumps(["mouse1,mouse2,sniff", "mouse3,self,rear"])).entries
    assert [(t.agent, t.target, t.action, t.clean) for t in ts] == [
        (1, 2, "sniff", True), (3, 3, "rear", True)]
    assert ts[1].is_self and not ts[0].is_self


@pytest.mark.parametrize("entry", ["'mouse1','mouse2','sniff'", "mouse1','mouse2','attack'"])
def test_quoted_entries_parse_but_are_not_clean(entry):
    (t,) = parse_behaviors_labeled(json.dumps([entry])).entries
    assert t.agent == 1 and t.target == 2 and not t.clean and t.text == entry


def test_clean_triples_drop_quoted_and_duplicates():
    value = json.dumps(["'mouse1','mouse2','sniff'", "mouse1,mouse2,attack", "mouse1,mouse2,attack"])
    assert [(t.agent, t.target, t.action) for t in clean_triples(value)] == [(1, 2, "attack")]


@pytest.mark.parametrize("value", [None, "", "nan", "[]", float("nan")])
def test_unlabeled(value):
    assert parse_behaviors_labeled(value) == Labeled((), ())


@pytest.mark.parametrize("value, match", [
    ("[mouse1", "not a JSON list"),
    ('{"a": 1}', "list of strings"),
    ('["mouse1,mouse2"]', "3 comma-separated"),
    ('["mouse9x,mouse2,sniff"]', "bad mouse id"),
    ('["mouse1,mouse2,dance"]', "unknown action"),
])
def test_malformed_is_a_problem_with_reason_never_an_exception(value, match):
    parsed = parse_behaviors_labeled(value)
    assert parsed.entries == () and len(parsed.problems) == 1 and re.search(match, parsed.problems[0])


def test_one_tolerance_policy_for_every_reader():
    value = json.dumps(["mouse1,mouse2,sniff", "mouse1,mouse2,bogus", "'mouse2','mouse1','sniff'"])
    parsed = parse_behaviors_labeled(value)
    assert [(t.agent, t.target, t.action, t.clean) for t in parsed.entries] == [
        (1, 2, "sniff", True), (2, 1, "sniff", False)]
    assert parsed.problems == ("entry 'mouse1,mouse2,bogus': unknown action 'bogus'",)
    assert [t.text for t in clean_triples(value)] == ["mouse1,mouse2,sniff"]  # masks: clean entries only
    triples, notes = labeled_triples(value)
    assert triples == clean_triples(value) and "unknown action 'bogus'" in notes[0]


@pytest.mark.real
@pytest.mark.skipif(not (REAL / "train.csv").exists(), reason="../shared/mabe-real not present")
def test_real_train_csv_clean_entries_match_annotations():
    pl = pytest.importorskip("polars")
    meta = pl.read_csv(REAL / "train.csv")
    n_quoted = 0
    for row in meta.iter_rows(named=True):
        triples = parse_behaviors_labeled(row["behaviors_labeled"]).entries
        n_quoted += sum(not t.clean for t in triples)
        if row["lab_id"] not in ("DeliriousFly", "ReflectiveManatee"):
            continue
        path = REAL / "train_annotation" / row["lab_id"] / f"{row['video_id']}.parquet"
        ann = pl.read_parquet(path)
        seen = {(a, t, x) for a, t, x in ann.select("agent_id", "target_id", "action").iter_rows()}
        assert {(t.agent, t.target, t.action) for t in clean_triples(row["behaviors_labeled"])} == seen
    assert n_quoted > 0
