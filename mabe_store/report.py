"""The build report: what was built, skipped and repaired, as lines a person reads once.

Kept as plain dicts/lists so it goes into the store's attrs (`build_report`) unchanged and prints
the same way in the terminal; one line per problem, each naming the video and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BuildReport:
    built: int = 0
    already_built: int = 0
    frames: int = 0
    seconds: float = 0.0
    fresh: bool = False
    skipped: list[str] = field(default_factory=list)  # "video 123 (lab, split): reason"
    repaired: list[str] = field(default_factory=list)
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)  # lab -> part -> rows

    @property
    def ok(self) -> bool:
        return not self.skipped

    def to_dict(self) -> dict:
        return {"built": self.built, "already_built": self.already_built, "frames": self.frames,
                "seconds": round(self.seconds, 2), "fresh": self.fresh, "skipped": self.skipped,
                "repaired": self.repaired, "unmapped_bodyparts": self.unmapped}

    def lines(self) -> list[str]:
        rate = self.frames / self.seconds if self.seconds else 0.0
        out = [f"built {self.built} videos ({self.frames:,} frames, {rate:,.0f} frames/s), "
               f"{self.already_built} already in the store, {len(self.skipped)} skipped, "
               f"{len(self.repaired)} repaired" + (" — store started afresh" if self.fresh else "")]
        out += [f"  skipped  {s}" for s in self.skipped]
        out += [f"  repaired {s}" for s in self.repaired]
        for lab, parts in sorted(self.unmapped.items()):
            if parts:
                listed = ", ".join(f"{p} ({n:,} rows)" for p, n in sorted(parts.items()))
                out.append(f"  body parts in no slot, {lab}: {listed}")
        return out
