"""`pairs:` — the settings of the pair model's task, owned by it (mabe_train.pairs.task).

The decoder's clean-up (smoothing, minimum bout, gap filling) is `mabe_train.decode.DecodeConfig`,
validated there and nowhere else; this section only holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mabe_store.constants import ACTIONS
from mabe_train.decode import DecodeConfig


def _demo_decode() -> DecodeConfig:
    return DecodeConfig(smooth=5, min_bout=3, max_gap=3)


@dataclass
class PairsSettings:
    positive_fraction: float = 0.5  # share of training windows centred on an annotated interval
    pos_weight: list[float] = field(default_factory=lambda: [1.0])  # BCE pos_weight: 1 value or 37
    decode: DecodeConfig = field(default_factory=_demo_decode)  # thresholds are tuned per lab and action

    def problems(self) -> list[str]:
        p = []
        if not 0 <= self.positive_fraction <= 1:
            p.append(f"pairs.positive_fraction must be in [0, 1], got {self.positive_fraction}")
        if len(self.pos_weight) not in (1, len(ACTIONS)) or min(self.pos_weight, default=0) <= 0:
            p.append(f"pairs.pos_weight needs 1 or {len(ACTIONS)} positive values (BCE pos_weight), "
                     f"got {len(self.pos_weight)}")
        return p
