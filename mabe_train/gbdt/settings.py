"""`gbdt:` — the settings of the GBDT model kind (a `task: pairs` config with `model.name: gbdt`).

Defaults: 10 training rows per second of video keep a row in every bout of >= 0.1 s while making
a 30 fps lab 3x cheaper; rolling windows of 0.25-4 s span a sniff to a chase; up to 250 trees at
rate 0.05, with early stopping on the validation videos in `mabe-train run` (cv folds train the
full count: early stopping on a fold's own videos would leak into their out-of-fold predictions).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GbdtSettings:
    rows_per_second: float = 10.0  # training rows kept per second of video (0 = every frame)
    windows_s: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0])  # rolling stats
    n_estimators: int = 250
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 40
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.8
    early_stopping: int = 30  # rounds without validation log-loss gain (0 = off)
    max_rows: int = 400_000  # per action; a seeded subsample above it
    lab_feature: bool = False  # the lab as a categorical column (semireal: +0.0015 validation, -0.006 held-out)

    def problems(self) -> list[str]:
        p = []
        if self.rows_per_second < 0:
            p.append(f"gbdt.rows_per_second must be >= 0, got {self.rows_per_second}")
        if not self.windows_s or min(self.windows_s) <= 0:
            p.append(f"gbdt.windows_s needs positive window lengths in seconds, got {self.windows_s}")
        for name, lo in (("n_estimators", 1), ("num_leaves", 2), ("min_child_samples", 1),
                         ("early_stopping", 0), ("max_rows", 100)):
            if getattr(self, name) < lo:
                p.append(f"gbdt.{name} must be >= {lo}, got {getattr(self, name)}")
        for name in ("learning_rate", "feature_fraction", "bagging_fraction"):
            if not 0 < getattr(self, name) <= 1:
                p.append(f"gbdt.{name} must be in (0, 1], got {getattr(self, name)}")
        return p
