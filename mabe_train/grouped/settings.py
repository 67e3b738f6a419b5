"""`grouped:` — the settings of the grouped (V5/V6) task, owned by it (mabe_train.grouped.task)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mabe_train.grouped.labels import DEFAULT_LABEL_GROUPS, GROUPS


@dataclass
class GroupedSettings:
    features: list[str] = field(default_factory=lambda: ["coords"])  # input blocks: mabe_train.grouped.features
    frame_gap: int = 1  # take every frame_gap-th frame inside a window
    temporal_jitter: int = 2  # inputs shifted by up to ±this many frames against labels
    label_groups: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LABEL_GROUPS))
    assume_absent: list[str] = field(default_factory=list)  # groups taken as absent where unlabeled
    class_weights: list[float] = field(default_factory=lambda: [0.5, 10.0, 15.0, 15.0])  # CE weight per group

    def problems(self) -> list[str]:
        p = []
        if self.frame_gap < 1:
            p.append(f"grouped.frame_gap must be >= 1, got {self.frame_gap}")
        if self.temporal_jitter < 0:
            p.append(f"grouped.temporal_jitter must be >= 0, got {self.temporal_jitter}")
        if len(self.class_weights) != len(GROUPS) or min(self.class_weights, default=0) <= 0:
            p.append(f"grouped.class_weights needs {len(GROUPS)} positive values ({', '.join(GROUPS)}), "
                     f"got {self.class_weights}")
        p += [f"grouped.assume_absent: unknown group {g!r} (use {', '.join(GROUPS[1:])})"
              for g in self.assume_absent if g not in GROUPS[1:]]
        return p
