"""The action vocabulary as mabe_train sees it: read from the store or the run, never a constant.

A MABe store's vocabulary is the competition's 37 actions; a lab's own store has the lab's
behaviours (mabe_store.vocabulary). Every model output, mask, threshold and decoded row is in the
column order of the vocabulary it was trained on, so a run records it (run.json `vocabulary`) and
predicting on a store of another vocabulary stops with one line instead of mislabelled columns.

Decoding keeps behaviours of one *exclusive group* mutually exclusive per pair-frame (the most
probable one above its threshold wins); different groups may overlap. The groups:
- a MABe vocabulary: all 37 actions form one group (the competition's metric refuses two actions
  of one pair on one frame);
- a lab's vocabulary: each annotation stream is a group (a Caltech `S1:` stream's social /
  nonsocial / aggression), and a behaviour of no stream is a group of its own (it may overlap any
  other; BORIS state events can). A vocabulary of MABe names without streams keeps MABe's rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mabe_store.vocabulary import MABE, Vocabulary, VocabularyError
from mabe_train import MabeTrainError

__all__ = ["MABE", "Vocabulary", "VocabularyMismatch", "adopt_run_vocabulary", "check_same", "exclusive_groups", "group_of",
           "max_bits_check", "vocabulary_from_record", "vocabulary_of", "vocabulary_record"]

MAX_PACKED_ACTIONS = 64  # pair targets pack one frame's actions into the bits of one int64


class VocabularyMismatch(MabeTrainError, ValueError):
    """A run and a store (or two runs) name different behaviours; the message names both."""


def vocabulary_of(store) -> Vocabulary:
    """The store's vocabulary (a store object without one is a MABe store)."""
    return getattr(store, "vocabulary", None) or MABE


def vocabulary_record(vocab: Vocabulary) -> dict:
    """JSON-ready: the actions in column order plus their kinds and streams (run.json `vocabulary`)."""
    return {"actions": list(vocab.actions), "vocabulary": vocab.to_attrs()}


def vocabulary_from_record(record: Mapping | None) -> Vocabulary:
    """The inverse of `vocabulary_record`; a run written before runs recorded it is a MABe run."""
    if not record:
        return MABE
    attrs = {"actions": list(record["actions"])}
    if record.get("vocabulary"):
        attrs["vocabulary"] = record["vocabulary"]
    try:
        return Vocabulary.from_attrs(attrs)
    except VocabularyError as e:
        raise VocabularyMismatch(f"the run's vocabulary is inconsistent: {e}") from None


def check_same(run: Vocabulary | Sequence[str], store: Vocabulary, where: str = "the store") -> None:
    """VocabularyMismatch (one line) when the run's behaviours (a vocabulary or its action names) are
    not the store's, in the same order."""
    if not isinstance(run, Vocabulary):
        run = MABE if tuple(run) == MABE.actions else Vocabulary(tuple(run))
    if tuple(run.actions) != tuple(store.actions):
        raise VocabularyMismatch(
            f"the run was trained on {_names(run)} but {where} has {_names(store)} "
            "— predict with a run trained on a store of the same behaviours")


def adopt_run_vocabulary(run: Vocabulary, store) -> None:
    """Check a store against a run's vocabulary before predicting; a store without behaviours of its
    own (tracking imported without labels: MABe's default vocabulary, no video labels a triple) takes
    the run's, in memory, so the run predicts its own behaviours there. Otherwise `check_same`."""
    own = vocabulary_of(store)
    if tuple(run.actions) == tuple(own.actions):
        return
    attrs = getattr(store, "attrs", {}) or {}
    unlabeled = "vocabulary" not in attrs and not any(
        len(store.labeled_triples(v)["action"]) for v in store.videos["video_id"])
    if not unlabeled:
        check_same(run, own, f"the store {getattr(store, 'path', '')}".rstrip())
    store.vocabulary = run


def _names(v: Vocabulary) -> str:
    if v.is_mabe:
        return "MABe's 37 actions"
    return f"{len(v.actions)} behaviours ({', '.join(v.actions)})"


def exclusive_groups(vocab: Vocabulary) -> list[np.ndarray]:
    """Column indices of each exclusive group (module docstring), every column in exactly one."""
    if _mabe_like(vocab):
        return [np.arange(len(vocab.actions))]
    stream = vocab.stream_of
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(vocab.actions):
        groups.setdefault(stream.get(a) or f"\0{a}", []).append(i)
    return [np.asarray(g, dtype=np.int64) for g in groups.values()]


def group_of(vocab: Vocabulary) -> dict[str, str] | None:
    """{action: its exclusive group's name} for the metric's overlap rule; None for MABe (one group)."""
    if _mabe_like(vocab):
        return None
    stream = vocab.stream_of
    return {a: stream.get(a) or a for a in vocab.actions}


def _mabe_like(vocab: Vocabulary) -> bool:
    """MABe's actions (all 37 or some of them) without streams: the competition's one-action rule."""
    return not vocab.streams and set(vocab.actions) <= set(MABE.actions)


def max_bits_check(vocab: Vocabulary) -> None:
    """The pair model packs a frame's behaviours into one int64: at most 64 behaviours."""
    if len(vocab.actions) > MAX_PACKED_ACTIONS:
        raise VocabularyMismatch(f"the store has {len(vocab.actions)} behaviours; the pair model packs at most "
                                 f"{MAX_PACKED_ACTIONS} per frame — merge or drop behaviours at import")
