"""Settings of a store build: the keypoint slots, how raw body parts map onto them, and storage.

Defaults live here (so a build needs no file), `configs/store.yaml` overrides them, then
`key=value` overrides (the loader is mabe_store.config_loader, shared with mabe_train's settings). The settings
that change the store's *content* (slots, mapping) are hashed into `config_hash`; a rerun whose
hash differs from the store's rebuilds it, since every column could move. Storage settings are
hashed too: mixing codecs inside one store would be legal Zarr but confusing to measure.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mabe_store import config_loader as loader
from mabe_store.constants import DEFAULT_KEYPOINTS, N_COORDS, N_MICE
from mabe_store.errors import MabeStoreError

CODECS = ("blosc-zstd", "blosc-lz4", "zstd", "none")
SHUFFLES = ("bitshuffle", "shuffle", "noshuffle")


class ConfigError(MabeStoreError):
    """configs/store.yaml is invalid; the message lists every problem."""


@dataclass(frozen=True)
class BuildConfig:
    keypoints: tuple[str, ...] = DEFAULT_KEYPOINTS
    mean_groups: dict[str, list[str]] = field(default_factory=lambda: {"headpiece": ["headpiece_*"]})
    aliases: dict[str, list[str]] = field(default_factory=dict)
    chunk_rows: int = 16384
    chunk_cols: int | None = None  # None: one mouse (18 slots x {x, y}); absent mice are never written
    shard_rows: int = 262144  # 16 chunk rows per file: ~550 objects for the full 72M-frame store
    codec: str = "zstd"
    clevel: int = 1
    shuffle: str = "shuffle"
    transpose: bool = True  # store each chunk column-major (time contiguous): 0.81 x the bytes

    @property
    def n_features(self) -> int:
        return N_MICE * len(self.keypoints) * N_COORDS

    @property
    def feature_chunk_cols(self) -> int:
        return self.chunk_cols or len(self.keypoints) * N_COORDS

    def to_dict(self) -> dict:
        d = asdict(self)
        d["keypoints"] = list(self.keypoints)
        return d

    @property
    def config_hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def slot_of(self, bodypart: str) -> tuple[int, bool] | None:
        """(slot index, averaged?) of a raw body part name, or None when it fits no slot."""
        if bodypart in self.keypoints:
            return self.keypoints.index(bodypart), False
        for slot, names in self.aliases.items():
            if bodypart in names:
                return self.keypoints.index(slot), False
        for slot, patterns in self.mean_groups.items():
            if any(fnmatch.fnmatchcase(bodypart, p) for p in patterns):
                return self.keypoints.index(slot), True
        return None


def _problems(cfg: BuildConfig) -> list[str]:
    out = []
    if len(set(cfg.keypoints)) != len(cfg.keypoints) or not cfg.keypoints:
        out.append("keypoints must be a non-empty list of distinct names")
    for key in ("mean_groups", "aliases"):
        groups = getattr(cfg, key)
        if not isinstance(groups, dict):
            out.append(f"{key} must map a slot to a list of names, got {groups!r}")
            continue
        for slot, names in groups.items():
            if slot not in cfg.keypoints:
                out.append(f"{key}: {slot!r} is not one of the keypoints")
            if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
                # a bare string would be matched letter by letter: "t" would catch every name with a t
                out.append(f"{key}.{slot} must be a list of names, e.g. [{names!r}], got {names!r}")
    if not isinstance(cfg.chunk_rows, int) or cfg.chunk_rows < 256:
        out.append(f"chunk_rows must be an integer >= 256, got {cfg.chunk_rows!r}")
    if cfg.chunk_cols is not None and (not isinstance(cfg.chunk_cols, int) or cfg.chunk_cols < 1):
        out.append(f"chunk_cols must be an integer >= 1 (or null: one mouse), got {cfg.chunk_cols!r}")
    elif cfg.keypoints and cfg.n_features % cfg.feature_chunk_cols:
        out.append(f"chunk_cols must divide the {cfg.n_features} feature columns, got {cfg.chunk_cols}")
    if isinstance(cfg.chunk_rows, int) and (not isinstance(cfg.shard_rows, int) or cfg.shard_rows < cfg.chunk_rows
                                            or cfg.shard_rows % cfg.chunk_rows):
        out.append(f"shard_rows must be a multiple of chunk_rows ({cfg.chunk_rows}), got {cfg.shard_rows!r}")
    if not isinstance(cfg.transpose, bool):
        out.append(f"transpose must be true or false, got {cfg.transpose!r}")
    if cfg.codec == "zstd" and cfg.shuffle == "bitshuffle":
        out.append("shuffle: bitshuffle needs a blosc codec (with zstd use shuffle or noshuffle)")
    if cfg.codec not in CODECS:
        out.append(f"codec must be one of {', '.join(CODECS)}, got {cfg.codec!r}")
    if cfg.shuffle not in SHUFFLES:
        out.append(f"shuffle must be one of {', '.join(SHUFFLES)}, got {cfg.shuffle!r}")
    if not isinstance(cfg.clevel, int) or not 0 <= cfg.clevel <= 9:
        out.append(f"clevel must be an integer 0..9, got {cfg.clevel!r}")
    return out


def make_config(**values) -> BuildConfig:
    """A validated BuildConfig; unknown keys and bad values are reported together."""
    known = set(BuildConfig.__dataclass_fields__)
    problems = [f"unknown setting {k!r}" for k in values if k not in known]
    if not problems:
        if "keypoints" in values:
            values["keypoints"] = tuple(values["keypoints"])
        cfg = BuildConfig(**values)
        problems = _problems(cfg)
    loader.raise_problems(ConfigError, "store config", problems)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> BuildConfig:
    """Defaults <- the YAML file at `path` (None: none) <- `key=value` overrides (e.g. chunk_rows=8192),
    through the loader shared with mabe_train (mabe_store.config_loader)."""
    values = {} if path is None else loader.read_settings(
        path, ConfigError, "pass --config configs/store.yaml or leave it out")
    problems: list[str] = []
    known = set(BuildConfig.__dataclass_fields__)
    values = loader.apply_overrides(dict(values), list(overrides or []), problems,
                                    resolve=lambda k: k if k in known else None,
                                    unknown=lambda k: f"unknown setting {k!r} (settings: {', '.join(sorted(known))})")
    loader.raise_problems(ConfigError, "store config", problems)
    return make_config(**values)
