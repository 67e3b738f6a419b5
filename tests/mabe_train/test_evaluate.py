"""`format_report`: each task's report prints the columns it has, and nothing made up."""

from mabe_train.evaluate import format_report

PAIRS = {"run_dir": "runs/p", "checkpoint": "best", "epoch": 3, "monitor": "score", "score": 0.4123,
         "val_loss": 0.1, "val_videos": 5, "val_intervals": 40,
         "per_lab_score": {"LabA": 0.5, "LabB": 0.3246},
         "per_lab": {"LabA": {"score": 0.5, "n_actions": 2, "n_videos": 3, "f": {"sniff": 0.6, "attack": 0.4}},
                     "LabB": {"score": 0.3246, "n_actions": 1, "n_videos": 2, "f": {"mount": 0.3246}}}}

GROUPED = {"run_dir": "runs/g", "checkpoint": "last", "epoch": 2, "monitor": "macro_f1", "macro_f1": 0.25,
           "accuracy": 0.75, "majority_macro_f1": 0.2, "n_frames": 1200,
           "per_class": {"other": {"f1": 0.8, "precision": 0.7, "recall": 0.9, "support": 1000},
                         "social": {"f1": 0.1, "precision": 0.2, "recall": 0.05, "support": 200}},
           "per_lab": {"Lab1": {"macro_f1": 0.25, "accuracy": 0.75, "n_frames": 1200}}}


def _row(text: str, first: str) -> list[str]:
    return next(ln.split() for ln in text.splitlines() if ln.startswith(first))


def test_pairs_report_prints_score_and_videos_per_lab_only():
    text = format_report(PAIRS)
    assert text.splitlines()[0] == "runs/p (best, epoch 3): score 0.4123 on 5 validation videos"
    assert _row(text, "lab") == ["lab", "score", "videos", "actions"]
    assert _row(text, "LabA") == ["LabA", "0.500", "3", "2"]
    assert _row(text, "LabB") == ["LabB", "0.325", "2", "1"]
    assert "accuracy" not in text and "frames" not in text and "0.000" not in text


def test_grouped_report_keeps_its_columns():
    text = format_report(GROUPED)
    assert text.splitlines()[0] == ("runs/g (last, epoch 2): macro_f1 0.2500, accuracy 0.7500, "
                                    "majority baseline 0.2000")
    assert _row(text, "class") == ["class", "f1", "prec", "recall", "frames"]
    assert _row(text, "social") == ["social", "0.100", "0.200", "0.050", "200"]
    assert _row(text, "lab") == ["lab", "macro_f1", "accuracy", "frames"]
    assert _row(text, "Lab1") == ["Lab1", "0.250", "0.750", "1,200"]


def test_a_value_missing_in_one_lab_prints_a_dash_not_zero():
    r = {**PAIRS, "per_lab": {"LabA": {"score": 0.5, "n_videos": 3}, "LabB": {"score": 0.2}}}
    assert _row(format_report(r), "LabB") == ["LabB", "0.200", "-"]


def test_pairs_report_has_a_lab_action_table_weakest_first():
    lines = format_report(PAIRS).splitlines()
    head = lines.index(next(ln for ln in lines if ln.split()[:2] == ["lab", "action"]))
    assert [ln.split() for ln in lines[head:]] == [["lab", "action", "F"], ["LabA", "attack", "0.400"],
                                                   ["LabA", "sniff", "0.600"], ["LabB", "mount", "0.325"]]
    assert not any(ln.split()[:2] == ["lab", "action"] for ln in format_report(GROUPED).splitlines())
