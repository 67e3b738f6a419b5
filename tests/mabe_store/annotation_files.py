"""Annotation files written in each tool's exact on-disk layout, for the annotation reader tests.

Caltech Behavior Annotator: CRLF lines, a configuration block of `label<TAB>key`, then per stream
`S1:<TAB>start<TAB>end<TAB>type`, a dashed rule and rows `   <TAB>start<TAB>end<TAB>label` (1-based,
inclusive), as the real rat files in ../shared/real-labeled. BORIS 7 tabular events: the header
block and columns of the real mouse export there. The others follow BORIS 8's aggregated export,
SimBA's targets_inserted csv (index, `<part>_<animal>_x/_y/_p`, features, then one 0/1 column per
behaviour) and MABe's annotation parquet.
"""

from __future__ import annotations

from pathlib import Path

LABELS = ("base", "aggression", "bite", "social", "nonsocial", "clinch")


def write_caltech(path: Path, streams: dict[str, list[tuple[int, int, str]]], labels=LABELS) -> Path:
    keys = "zabsej"
    lines = ["Caltech Behavior Annotator - Annotation File", "", "Configuration file:"]
    lines += [f"{label}\t{keys[i % len(keys)]}" for i, label in enumerate(labels)] + [""]
    for name, rows in streams.items():
        lines += [f"{name}:\tstart\tend\ttype", "-----------------------------"]
        lines += [f"   \t{s}\t{e}\t{t}" for s, e, t in rows] + ["  "]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


BORIS_HEADER = """Observation id,DLC3,,,,,,,
,,,,,,,,
Media file(s),,,,,,,,
,,,,,,,,
Player #1,/videos/cage1.avi,,,,,,,
,,,,,,,,
Observation date,2021-06-15 13:41:51,,,,,,,
,,,,,,,,
Description,,,,,,,,
,,,,,,,,
Time offset (s),0.0,,,,,,,
,,,,,,,,
independent variables,,,,,,,,
variable,value,,,,,,,
,,,,,,,,
Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,Comment,Status
"""


def write_boris_tabular(path: Path, events: list[tuple[float, str, str, str]], fps: float = 30.0) -> Path:
    """events: (seconds, subject, behaviour, START|STOP|POINT)."""
    rows = [f"{t:.3f},/videos/cage1.avi,190.000,{fps},{s},{b},,,{st}" for t, s, b, st in events]
    path.write_text(BORIS_HEADER + "\n".join(rows) + "\n")
    return path


def write_boris_aggregated(path: Path, bouts: list[tuple[str, str, str, float, float]]) -> Path:
    """bouts: (subject, behaviour, modifiers, start s, stop s), BORIS 8 columns."""
    head = ("Observation id,Observation date,Description,Observation duration,Observation type,Source,"
            "Media duration (s),FPS,Subject,Observation duration by subject by observation,Behavior,"
            "Behavioral category,Behavior type,Start (s),Stop (s),Duration (s),Media file name,"
            "Image index start,Image index stop,Image file path start,Image file path stop,Comment start,"
            "Comment stop,Modifiers\n")
    rows = [f"obs1,2024-01-01,,190,Media file,/v.mp4,190,30,{s},190,{b},,STATE,{a:.3f},{e:.3f},{e - a:.3f},"
            f"/v.mp4,NA,NA,NA,NA,,,{m}" for s, b, m, a, e in bouts]
    path.write_text(head + "\n".join(rows) + "\n")
    return path


def write_simba(path: Path, frames: int, behaviours: dict[str, list[int]]) -> Path:
    """A targets_inserted csv: pose of two animals, two feature columns, then 0/1 behaviour columns."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    cols: dict = {"": list(range(frames))}
    for animal in (1, 2):
        for part in ("Nose", "Tail_base"):
            for c in ("x", "y", "p"):
                cols[f"{part}_{animal}_{c}"] = rng.uniform(0, 1 if c == "p" else 500, frames).round(3)
    cols["Movement_mouse_1_centroid"] = rng.uniform(0, 5, frames).round(3)
    cols["Low_prob_detections_0.1"] = rng.integers(0, 3, frames)
    for name, on in behaviours.items():
        cols[name] = [1 if t in on else 0 for t in range(frames)]
    pl.DataFrame(cols).write_csv(path)
    return path


def write_bento(path: Path, channels: dict[str, dict[str, list[tuple]]], rate: float = 30.0) -> Path:
    """Bento's `.annot` as its writer lays it out: header, channel and annotation lists, then per
    channel `Ch1----------`, per behaviour `>name`, `Start Stop Duration` and one row per bout."""
    names = sorted({b for beh in channels.values() for b in beh})
    lines = ["Bento annotation file", "Movie file(s):  mouse1_Top.seq", "", "Stimulus name: ",
             "Annotation start frame: 1", "Annotation stop frame: 9000", f"Annotation framerate: {rate:f}", "",
             "List of channels:", *channels, "", "List of annotations:", *names, ""]
    for ch, behaviours in channels.items():
        lines.append(f"{ch}----------")
        for name, bouts in behaviours.items():
            lines += [f">{name}", "Start\t Stop\t Duration "]
            lines += [f"{a:.12g}\t{b:.12g}\t{b - a:.12g}" for a, b in bouts] + [""]
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path
