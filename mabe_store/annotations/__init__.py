"""Behaviour annotation files of the tools labs use -> one normalised table of bouts.

Each reader (caltech.py, boris.py, tables.py) turns one file into an `Annotation`: bouts with
0-based frames, stop exclusive (the MABe annotation layout), each naming the animals as the file
does (or naming none), plus what the file says about its behaviours — which it scored, which are
mutually exclusive (one annotation stream). `mice.py` then maps animal names to the store's mice
through the tracking's individual mapping, and turns labels without an actor into pair labels on
both ordered pairs (see mabe_store/vocabulary.py for why). The format is told by content, never
by the file name: `detect_annotation_format` (read.py). The shapes and the one error live in
model.py, which imports nothing of the package, so the import graph has no cycle.
"""

from __future__ import annotations

from mabe_store.annotations.model import Annotation, AnnotationError, Bout
from mabe_store.annotations.read import ANNOTATION_FORMATS, detect_annotation_format, read_annotation

__all__ = ["ANNOTATION_FORMATS", "Annotation", "AnnotationError", "Bout", "detect_annotation_format",
           "read_annotation"]
