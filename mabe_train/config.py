"""Typed run settings: defaults, then a YAML file, then `key=value` overrides.

Each part of a run owns a small dataclass: data, model, optim and train here, and each task its
own section (`grouped:` mabe_train.grouped.settings, `pairs:` mabe_train.pairs.settings); `Config`
composes them, lingua-style, so a test or a remote launcher builds a run from one object. The model's
input width and class count are not settings: the task derives them from the store. The file, the
overrides and the problem messages go through mabe_store.config_loader, shared with the store's
build settings; every key is checked against the dataclasses, a section of another task is
refused, and all problems (unknown keys with their closest valid spelling, wrong types, ranges) are
reported in one `ConfigError`. The resolved config (only the run's own task section) is written into
the run directory (`config.yaml`), which is also what `--resume` reads back.

Trade-off: plain dataclasses and a ~100-line coercer instead of pydantic/omegaconf — no extra
dependency, and the only types needed are scalars, lists, dicts and nested sections.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mabe_store import config_loader as loader
from mabe_store.location import is_url, public_options
from mabe_train import MabeTrainError
from mabe_train.gbdt.settings import GbdtSettings
from mabe_train.grouped.settings import GroupedSettings
from mabe_train.pairs.settings import PairsSettings
from mabe_train.runs.registry import GBDT, config_kind


class ConfigError(MabeTrainError, ValueError):
    """The config file or an override is invalid; the message lists every problem."""


@dataclass
class DataConfig:
    data_dir: str = "data/store.zarr"  # the Zarr store built by `mabe-store build`: a folder or s3:// gs:// URL
    # fsspec options of a URL data_dir (endpoint_url, anon, ...); keys that look like credentials
    # (key, secret, token, ...) are used but never written into the run (Config.to_dict drops them)
    storage_options: dict[str, Any] = field(default_factory=dict)
    sequence_length: int = 100  # window length in (sub-sampled) frames
    batch_size: int = 64
    val_fraction: float = 0.2  # share of each lab's videos held out for validation
    split_seed: int = 0
    noise_std: float = 0.01  # gaussian noise on training inputs, in cm
    max_videos: int = 0  # 0 = every labeled training video of the store; >0 = a seeded subset
    cache_dir: str = ""  # where to memory-map staged videos that do not fit in RAM ("" = run dir)
    max_ram_gb: float = 0.0  # stage in RAM up to this size (0 = half of the machine's RAM)
    val_stride: int = 0  # stride of the stitched validation windows (0 = sequence_length // 2)


@dataclass
class ModelConfig:
    name: str = "conv1d_bilstm"  # key of mabe_train.models.MODELS
    conv_channels: list[int] = field(default_factory=lambda: [64, 128, 256])
    kernel_size: int = 3
    lstm_hidden: int = 256
    lstm_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.3


@dataclass
class SchedulerConfig:
    name: str = "plateau"  # ReduceLROnPlateau on the monitored validation metric
    patience: int = 5
    factor: float = 0.5
    min_lr: float = 1e-5


@dataclass
class OptimConfig:
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    warmup_steps: int = 0  # linear warmup from 0 to learning_rate, then the scheduler
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class TrainConfig:
    epochs: int = 100
    steps_per_epoch: int = 0  # 0 = (training frames) / (batch_size * sequence_length)
    early_stopping_patience: int = 15
    save_freq: int = 5  # keep a checkpoint every save_freq epochs (plus best and last)
    ckpt_every_steps: int = 0  # also refresh `last` every N steps mid-epoch (0 = epoch ends only)
    log_every: int = 10  # progress bar refresh + loss read-back (and CUDA-synced timing) every N steps
    checkpoint_dir: str = "runs"  # run directories are created under it
    run_name: str = ""  # "" = <config name>-<YYYYmmdd-HHMMSS>
    seed: int = 0
    device: str = "auto"  # auto = cuda, then mps, then cpu
    amp: str = "none"  # none | bf16 | fp16 (mixed precision)
    feeder: str = "auto"  # auto | plain | thread | device (mabe_train.prefetch; auto = plain on CPU)
    max_val_videos: int = 0  # 0 = every validation video
    threads: int = 1  # torch CPU threads; 1 keeps epochs steady on a shared machine, 0 = torch's default (all cores)
    progress: bool = True


@dataclass
class Config:
    task: str = "grouped"  # grouped | pairs (mabe_train.task.task_types)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    grouped: GroupedSettings = field(default_factory=GroupedSettings)  # task: grouped only
    pairs: PairsSettings = field(default_factory=PairsSettings)  # task: pairs only
    gbdt: GbdtSettings = field(default_factory=GbdtSettings)  # model.name: gbdt only (mabe_train.gbdt)
    name: str = "run"  # set from the YAML file's stem; names the run directory

    def to_dict(self) -> dict[str, Any]:
        """Every setting of the run, with only its own task's section and no storage credential."""
        d = dataclasses.asdict(self)
        d["data"]["storage_options"] = public_options(self.data.storage_options)
        for other in TASK_SECTIONS.keys() - {self.task}:
            d.pop(other)
        return d


TASK_SECTIONS = {"grouped": GroupedSettings, "pairs": PairsSettings}  # task name -> its settings section


# -- coercion -------------------------------------------------------------------------------------
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str, problems: list[str]) -> Any:
    """`value` as type `tp`; appends a message to `problems` (and returns None) when it is not."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping of {tp.__name__} keys, got {value!r}")
            return None
        return _build(tp, value, where + ".", problems)
    if origin is list:
        if not isinstance(value, list | tuple):
            problems.append(f"{where}: expected a list, got {value!r}")
            return None
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if tp is Any:
        return value
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
            return None
        kt, vt = typing.get_args(tp)
        return {_coerce(k, kt, where, problems): _coerce(v, vt, f"{where}.{k}", problems)
                for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return _coerce(value, typing.get_args(tp)[0], where, problems)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `3e-4` as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    problems.append(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
    return None


def _suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(sorted(valid))})"


# Keys that earlier configs used, and where the setting lives now.
MOVED = {
    "loss": "class weights are task settings: grouped.class_weights / pairs.pos_weight",
    "loss.class_weights": "grouped.class_weights (task: grouped) or pairs.pos_weight (task: pairs)",
    **{f"data.{k}": f"grouped.{k} (a grouped-task setting)"
       for k in ("frame_gap", "temporal_jitter", "features", "label_groups", "assume_absent")},
    "data.n_mice": "read from the store's attrs: remove it",
    "data.n_keypoints": "read from the store's attrs: remove it",
    "model.input_dim": "derived from the task and the store: remove it",
    "model.num_classes": "derived from the task: remove it",
    **{f"pairs.{k}": f"pairs.decode.{k}" for k in ("smooth", "min_bout", "max_gap")},
}


def _unknown(key: str, valid) -> str:
    if key in MOVED:
        return f"{key!r} is gone — {MOVED[key]}"
    return f"unknown key {key!r}{_suggest(key, valid)}"


def _section_default(cls, key: str) -> dict:
    """The default of a nested section as a dict, so a partial section keeps its siblings' defaults
    (`pairs: {decode: {smooth: 7}}` keeps the pairs task's min_bout and max_gap)."""
    f = cls.__dataclass_fields__[key]
    if f.default_factory is dataclasses.MISSING:
        return {}
    return dataclasses.asdict(f.default_factory())


def _build(cls, values: dict, prefix: str, problems: list[str]):
    hints = _hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            problems.append(_unknown(prefix + str(key), [prefix + h for h in hints]))
            continue
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            value = {**_section_default(cls, key), **value}
        kwargs[key] = _coerce(value, hints[key], prefix + key, problems)
    try:
        return cls(**{k: v for k, v in kwargs.items() if v is not None})
    except ValueError as e:  # a dataclass that validates itself (DecodeConfig)
        problems.append(f"{prefix.rstrip('.') or cls.__name__}: {e}")
        return None


# -- overrides ------------------------------------------------------------------------------------
def _all_keys(cls, prefix: str = "") -> list[str]:
    out = []
    for name, tp in _hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out += _all_keys(tp, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def _leaf_index() -> dict[str, str]:
    """Unambiguous leaf names -> dotted keys, so `epochs=3` works as well as `train.epochs=3`."""
    full = _all_keys(Config)
    leaves: dict[str, list[str]] = {}
    for k in full:
        leaves.setdefault(k.rsplit(".", 1)[-1], []).append(k)
    return {leaf: keys[0] for leaf, keys in leaves.items() if len(keys) == 1}


def apply_overrides(raw: dict, overrides: list[str], problems: list[str]) -> dict:
    """Set dotted `key=value` pairs (values parsed as YAML) into the nested dict `raw`; a leaf
    name alone (`epochs=3`) works where it is unambiguous."""
    full = set(_all_keys(Config))
    leaves = _leaf_index()
    return loader.apply_overrides(raw, overrides, problems, resolve=lambda k: k if k in full else leaves.get(k),
                                  unknown=lambda k: _unknown(k, full | set(leaves)))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults <- YAML file <- overrides (mabe_store.config_loader). Raises ConfigError listing every problem."""
    raw: dict = {}
    name = "run"
    if path is not None:
        raw = loader.read_settings(path, ConfigError, "see configs/ (v5.yaml, debug.yaml, demo.yaml)")
        name = str(raw.pop("name", Path(path).stem))
    raw.setdefault("name", name)
    return load_config_dict(raw, overrides)


def load_config_dict(raw: dict, overrides: list[str] | None = None) -> Config:
    """A Config from a nested dict (e.g. `Config.to_dict()` sent to a remote worker) + overrides."""
    problems: list[str] = []
    raw = apply_overrides(copy.deepcopy(raw), list(overrides or []), problems)
    task = raw.get("task", Config.task)
    problems += [f"section {other!r} belongs to task: {other}, this config is task: {task} — remove it"
                 for other in TASK_SECTIONS if other != task and other in raw]
    cfg = _build(Config, raw, "", problems)
    problems += validate(cfg) if not problems else []
    loader.raise_problems(ConfigError, "config", problems)
    return cfg


def _at_least(cfg: Config, limits: dict[str, float]) -> list[str]:
    """`key must be >= lo` for each dotted key of `cfg` below its lower bound."""
    out = []
    for key, lo in limits.items():
        section, name = key.split(".", 1)
        node = getattr(cfg, section)
        for part in name.split("."):
            node = getattr(node, part)
        if node < lo:
            out.append(f"{key} must be >= {lo}, got {node}")
    return out


def validate(cfg: Config) -> list[str]:
    """Value checks that types cannot express: every numeric setting's range, every choice."""
    p = _at_least(cfg, {
        "data.sequence_length": 1, "data.batch_size": 1, "data.noise_std": 0, "data.max_videos": 0,
        "data.max_ram_gb": 0, "data.val_stride": 0, "data.split_seed": 0,
        "optim.learning_rate": 0, "optim.weight_decay": 0, "optim.grad_clip": 0, "optim.warmup_steps": 0,
        "optim.scheduler.patience": 0, "optim.scheduler.min_lr": 0,
        "train.epochs": 1, "train.steps_per_epoch": 0, "train.early_stopping_patience": 0,
        "train.save_freq": 1, "train.ckpt_every_steps": 0, "train.log_every": 1, "train.seed": 0,
        "train.max_val_videos": 0, "train.threads": 0,
        "model.kernel_size": 1, "model.lstm_hidden": 1, "model.lstm_layers": 1, "model.dropout": 0})
    d, t, o = cfg.data, cfg.train, cfg.optim
    if o.learning_rate == 0:
        p.append("optim.learning_rate must be > 0")
    if not 0 < d.val_fraction < 1:
        p.append(f"data.val_fraction must be in (0, 1), got {d.val_fraction}")
    if not 0 < o.scheduler.factor < 1:
        p.append(f"optim.scheduler.factor must be in (0, 1), got {o.scheduler.factor}")
    if cfg.model.dropout >= 1:
        p.append(f"model.dropout must be < 1, got {cfg.model.dropout}")
    if any(c < 1 for c in cfg.model.conv_channels):
        p.append(f"model.conv_channels must all be >= 1, got {cfg.model.conv_channels}")
    if t.amp not in ("none", "bf16", "fp16"):
        p.append(f"train.amp must be none, bf16 or fp16, got {t.amp!r}")
    if t.feeder not in ("auto", "plain", "thread", "device"):
        p.append(f"train.feeder must be auto, plain, thread or device, got {t.feeder!r}")
    if t.device not in ("auto", "cpu", "cuda", "mps") and not t.device.startswith("cuda:"):
        p.append(f"train.device must be auto, cpu, cuda[:N] or mps, got {t.device!r}")
    if o.scheduler.name not in ("plateau", "none"):
        p.append(f"optim.scheduler.name must be plateau or none, got {o.scheduler.name!r}")
    if d.storage_options and not is_url(d.data_dir):
        p.append(f"data.storage_options applies to a URL data.data_dir (s3://, gs://), not {d.data_dir!r}")
    if cfg.task not in TASK_SECTIONS:
        return p + [f"task must be one of {', '.join(TASK_SECTIONS)}, got {cfg.task!r}"]
    return p + getattr(cfg, cfg.task).problems() + (cfg.gbdt.problems() if config_kind(cfg).name == GBDT else [])
