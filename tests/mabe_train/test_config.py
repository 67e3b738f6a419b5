"""Config loading: defaults <- YAML <- key=value, typed, every problem named in one error."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from mabe_store.constants import ACTIONS
from mabe_train.config import Config, ConfigError, PairsSettings, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# The original design's keys and values (section, key) -> value.
ORIGINAL = {
    ("data", "data_dir"): "data/store.zarr", ("data", "n_mice"): 4, ("data", "n_keypoints"): 18,
    ("model", "input_dim"): 144, ("model", "conv_channels"): [64, 128, 256], ("model", "kernel_size"): 3,
    ("model", "lstm_hidden"): 256, ("model", "lstm_layers"): 2, ("model", "bidirectional"): True,
    ("model", "dropout"): 0.3, ("data", "sequence_length"): 100, ("data", "frame_gap"): 1,
    ("train", "epochs"): 100, ("data", "batch_size"): 64, ("optim", "learning_rate"): 3e-4,
    ("optim", "weight_decay"): 1e-4, ("optim", "grad_clip"): 1.0,
    ("loss", "class_weights"): [0.5, 10.0, 15.0, 15.0], ("data", "noise_std"): 0.01,
    ("data", "temporal_jitter"): 2, ("train", "early_stopping_patience"): 15, ("train", "save_freq"): 5,
    ("model", "num_classes"): 4, ("train", "checkpoint_dir"): "runs",
}


def test_v5_yaml_carries_every_original_key_and_value():
    raw = __import__("yaml").safe_load((CONFIGS / "v5.yaml").read_text())
    cfg = load_config(CONFIGS / "v5.yaml")
    for (section, key), value in ORIGINAL.items():
        assert key in raw[section], f"{section}.{key} missing from v5.yaml"
        assert getattr(getattr(cfg, section), key) == value, (section, key)
    s = cfg.optim.scheduler
    assert (s.name, s.patience, s.factor, s.min_lr) == ("plateau", 5, 0.5, 1e-5)
    assert sorted(raw["data"]["label_groups"]) == sorted(ACTIONS)
    assert cfg.task == "grouped" and cfg.model.name == "conv1d_bilstm" and cfg.data.features == ["coords"]
    assert cfg.name == "v5"


@pytest.mark.parametrize("name", ["v5", "debug", "demo", "pairs", "pairs_demo"])
def test_shipped_configs_load(name):
    assert load_config(CONFIGS / f"{name}.yaml").name == name


def test_overrides_are_typed_and_nested():
    cfg = load_config(CONFIGS / "debug.yaml", [
        "train.epochs=3", "optim.learning_rate=1e-3", "data.features=[coords, velocity]",
        "model.bidirectional=false", "optim.scheduler.patience=7", "batch_size=8", "data.data_dir=x/y"])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.optim.learning_rate == 1e-3 and isinstance(cfg.optim.learning_rate, float)
    assert cfg.data.features == ["coords", "velocity"]
    assert cfg.model.bidirectional is False
    assert cfg.optim.scheduler.patience == 7 and cfg.optim.scheduler.factor == 0.5  # sibling default kept
    assert cfg.data.batch_size == 8  # unambiguous leaf name
    assert cfg.data.data_dir == "x/y"


def test_unknown_and_mistyped_keys_are_all_named_with_suggestions(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  lstm_hiden: 3\n  dropout: high\ntrian:\n  epochs: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, ["optim.lerning_rate=1", "train.epochs=many", "novalue"])
    msg = str(e.value)
    for part in ("'model.lstm_hiden' (did you mean 'model.lstm_hidden'?)", "'trian'", "'train'", "model.dropout: expected float",
                 "'optim.lerning_rate'", "'optim.learning_rate'", "train.epochs: expected int",
                 "'novalue' is not key=value"):
        assert part in msg, part


@pytest.mark.parametrize("override, fragment", [
    ("train.amp=fp8", "train.amp"), ("data.val_fraction=1.5", "val_fraction"),
    ("train.device=tpu", "train.device"), ("data.sequence_length=0", "sequence_length"),
    ("optim.scheduler.name=cosine", "scheduler.name"), ("pairs.smooth=0", "pairs.smooth"),
    ("pairs.max_gap=-1", "pairs.max_gap"), ("pairs.positive_fraction=1.5", "pairs.positive_fraction")])
def test_invalid_values(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(CONFIGS / "debug.yaml", [override])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "v5.yaml", ["train.epochs=2", "data.assume_absent=[mating]"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg and isinstance(again, Config)


def test_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(ConfigError, match="configs/"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["pairs", "pairs_demo"])
def test_pairs_configs_show_every_pairs_key_with_its_default_and_a_comment(name):
    text = (CONFIGS / f"{name}.yaml").read_text()
    shown = yaml.safe_load(text)["pairs"]
    assert shown == dataclasses.asdict(PairsSettings())
    lines = {ln.split(":")[0].strip(): ln for ln in text.splitlines() if ln.startswith("  ")}
    for key in shown:
        assert "#" in lines[key], f"pairs.{key} has no comment in {name}.yaml"
    assert load_config(CONFIGS / f"{name}.yaml").pairs == PairsSettings()


def test_pairs_section_overrides_validation_and_resolved_config(tmp_path):
    cfg = load_config(CONFIGS / "pairs_demo.yaml", ["pairs.smooth=9", "min_bout=2"])
    assert (cfg.pairs.smooth, cfg.pairs.min_bout, cfg.pairs.max_gap) == (9, 2, 3)
    assert isinstance(cfg.pairs, PairsSettings) and load_config().pairs == PairsSettings()
    save_config(cfg, tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["pairs"]["smooth"] == 9
    assert load_config(tmp_path / "config.yaml") == cfg
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: pairs\npairs:\n  smoth: 3\n  positive_fraction: lots\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad, ["pairs.max_gapp=1"])
    for part in ("'pairs.smoth' (did you mean 'pairs.smooth'?)", "pairs.positive_fraction: expected float",
                 "'pairs.max_gapp' (did you mean 'pairs.max_gap'?)"):
        assert part in str(e.value), part


def test_yaml_syntax_error_is_one_line_with_its_place(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path} is not valid YAML: ") and "line 3" in msg


def test_override_that_is_not_yaml_joins_the_other_problems():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["train.epochs=[", "trian.seed=1"])
    msg = str(e.value)
    assert "train.epochs='[' is not a YAML value" in msg and "'trian.seed'" in msg and "\n" not in msg
