"""The shared ethogram drawing: what each row puts on the axes, and `inspect --plot` drawing through it."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from mabe_store import ethogram
from mabe_store.ethogram import CONTEXT_COLOUR, Row, action_colours, draw_ethogram, row_label
from mabe_store.inspect import plot_video
from mabe_store.reader import open_store


def _bars(ax) -> list[tuple[str, float, float, float]]:
    """(hatch, row, start_s, duration_s) of every bar on `ax`, by row then start."""
    out = []
    for c in ax.collections:
        for p in c.get_paths():
            e = p.get_extents()
            out.append((c.get_hatch() or "", round((e.y0 + e.y1) / 2, 6), round(e.x0, 6), round(e.width, 6)))
    return sorted(out, key=lambda b: (b[1], b[2], b[0]))


@pytest.fixture
def ax():
    return Figure().subplots()


def test_rows_draw_their_spans_hatching_and_text_a_row_with_no_span_keeps_its_label(ax):
    context = [Row("mouse1 tracked", [(0.0, 5.0)], CONTEXT_COLOUR, text="tracked 50.0%")]
    rows = [Row("mouse1 rear", [(0.0, 1.0), (2.0, 1.5)], "red"),
            Row("mouse1 → mouse2 sniff", [], "blue"),
            Row("mouse2 groom", [(1.0, 1.0)], "green", hatched=[(3.0, 2.0)], text="10.0% of video")]
    draw_ethogram(ax, rows, duration_s=10.0, context=context)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mouse1 tracked", "mouse1 rear", "mouse1 → mouse2 sniff",
                                                            "mouse2 groom"]
    assert _bars(ax) == [("", 0, 0, 5), ("", 1, 0, 1), ("", 1, 2, 1.5), ("", 3, 1, 1), ("////", 3, 3, 2)]
    assert {t.get_text() for t in ax.texts} == {"tracked 50.0%", "10.0% of video"}
    assert [line.get_ydata()[0] for line in ax.lines] == [0.5]  # the rule under the context rows
    assert ax.get_ylim() == (3.5, -0.5) and ax.get_xlim() == (0.0, 10.0)  # first row on top; seconds
    assert ax.get_xlabel() == "time (s)"


def test_no_behaviour_row_writes_the_note_in_its_own_row(ax):
    draw_ethogram(ax, [], duration_s=4.0, context=[Row("mouse1 tracked", [(0.0, 4.0)], CONTEXT_COLOUR)],
                  empty="no behaviour predicted")
    note = next(t for t in ax.texts if t.get_text() == "no behaviour predicted")
    assert note.get_position()[1] == 1  # below the context row, not over it
    assert ax.get_ylim() == (1.5, -0.5)


def test_one_colour_per_action_whatever_the_order():
    a = action_colours(["sniff", "rear", "attack", "sniff"])
    assert a == action_colours(["attack", "rear", "sniff"]) and len(set(a.values())) == 3
    assert len(set(action_colours(f"a{i}" for i in range(20)).values())) == 20  # tab20 beyond 10


def test_row_label_names_the_target_unless_it_is_the_agent():
    assert row_label("mouse1", "self", "rear") == row_label("mouse1", "mouse1", "rear") == "mouse1 rear"
    assert row_label("mouse1", "mouse2", "sniff") == "mouse1 → mouse2 sniff"


def test_inspect_plot_draws_the_annotations_through_the_shared_ethogram(handmade_store, tmp_path, monkeypatch):
    seen = []
    real = ethogram.draw_ethogram
    monkeypatch.setattr(ethogram, "draw_ethogram", lambda ax, rows, **kw: seen.append(rows) or real(ax, rows, **kw))
    store = open_store(handmade_store)
    plot_video(store, 201, tmp_path / "v.png")
    ann = store.annotations(201)
    triples = zip(ann["agent_id"], ann["target_id"], ann["action"], strict=True)
    want = sorted({(int(a), int(t), str(act)) for a, t, act in triples})
    assert len(seen) == 1 and want
    assert [r.label for r in seen[0]] == [row_label(f"mouse{a}", f"mouse{t}", act) for a, t, act in want]
    assert sum(len(r.spans) for r in seen[0]) == len(ann["action"])
