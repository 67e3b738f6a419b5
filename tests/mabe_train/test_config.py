"""Config loading: defaults <- YAML <- key=value, typed, every problem named in one error."""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from mabe_store.constants import ACTIONS
from mabe_train.config import Config, ConfigError, load_config
from mabe_train.grouped.features import check_features
from mabe_train.grouped.labels import GROUPS
from mabe_train.pairs.settings import PairsSettings
from mabe_train.run import save_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# The original design's settings: (where they live now) -> value.
ORIGINAL = {
    ("data", "data_dir"): "data/store.zarr", ("model", "conv_channels"): [64, 128, 256],
    ("model", "kernel_size"): 3, ("model", "lstm_hidden"): 256, ("model", "lstm_layers"): 2,
    ("model", "bidirectional"): True, ("model", "dropout"): 0.3, ("data", "sequence_length"): 100,
    ("grouped", "frame_gap"): 1, ("train", "epochs"): 100, ("data", "batch_size"): 64,
    ("optim", "learning_rate"): 3e-4, ("optim", "weight_decay"): 1e-4, ("optim", "grad_clip"): 1.0,
    ("grouped", "class_weights"): [0.5, 10.0, 15.0, 15.0], ("data", "noise_std"): 0.01,
    ("grouped", "temporal_jitter"): 2, ("train", "early_stopping_patience"): 15, ("train", "save_freq"): 5,
    ("train", "checkpoint_dir"): "runs",
}


def test_v5_resolves_to_every_original_value():
    """v5.yaml states only what differs from the defaults (nothing but the task): the resolved config
    carries the original design's values, and the derived widths are the original 144 inputs and 4
    classes (4 mice x 18 slots, read from the store, never settings)."""
    cfg = load_config(CONFIGS / "v5.yaml")
    for (section, key), value in ORIGINAL.items():
        assert getattr(getattr(cfg, section), key) == value, (section, key)
    s = cfg.optim.scheduler
    assert (s.name, s.patience, s.factor, s.min_lr) == ("plateau", 5, 0.5, 1e-5)
    assert sorted(cfg.grouped.label_groups) == sorted(ACTIONS)
    assert cfg.task == "grouped" and cfg.model.name == "conv1d_bilstm" and cfg.grouped.features == ["coords"]
    assert check_features(cfg.grouped.features) == 144 and len(GROUPS) == 4
    assert cfg.name == "v5"


def test_shipped_configs_state_only_what_differs_from_the_defaults():
    defaults = Config().to_dict()
    for path in CONFIGS.glob("*.yaml"):
        if path.name == "store.yaml" or path.name.endswith("keypoints.yaml"):  # build and import settings, not runs
            continue
        raw = yaml.safe_load(path.read_text())

        def same(node, base, where, path=path):
            for k, v in node.items():
                if isinstance(v, dict) and isinstance(base.get(k), dict):
                    same(v, base[k], f"{where}{k}.", path)
                elif k != "task" and base.get(k) == v and path.name != "pairs.yaml":
                    raise AssertionError(f"{path.name}: {where}{k} restates its default {v!r}")
        same(raw, {**defaults, **Config(task=raw["task"]).to_dict()}, "")


@pytest.mark.parametrize("name", ["v5", "v6", "debug", "demo", "pairs", "pairs_demo"])
def test_shipped_configs_load(name):
    assert load_config(CONFIGS / f"{name}.yaml").name == name


def test_overrides_are_typed_and_nested():
    cfg = load_config(CONFIGS / "debug.yaml", [
        "train.epochs=3", "optim.learning_rate=1e-3", "grouped.features=[coords, velocity]",
        "model.bidirectional=false", "optim.scheduler.patience=7", "batch_size=8", "data.data_dir=x/y"])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.optim.learning_rate == 1e-3 and isinstance(cfg.optim.learning_rate, float)
    assert cfg.grouped.features == ["coords", "velocity"]
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
    ("optim.scheduler.name=cosine", "scheduler.name"), ("grouped.frame_gap=0", "grouped.frame_gap"),
    ("grouped.class_weights=[1,2]", "grouped.class_weights"), ("grouped.assume_absent=[bogus]", "bogus")])
def test_invalid_values(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(CONFIGS / "debug.yaml", [override])


@pytest.mark.parametrize("override, fragment", [
    ("pairs.decode.smooth=0", "pairs.decode: bad decode settings: smooth must be >= 1"),
    ("pairs.decode.max_gap=-1", "max_gap must be >= 0"), ("pairs.positive_fraction=1.5", "pairs.positive_fraction"),
    ("pairs.pos_weight=[1.0, -2.0]", "pairs.pos_weight needs positive values")])
def test_invalid_pairs_values(override, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_config(CONFIGS / "pairs_demo.yaml", [override])


def test_every_range_problem_is_reported_in_one_message():
    with pytest.raises(ConfigError) as e:
        load_config(CONFIGS / "debug.yaml", ["optim.learning_rate=-1", "train.steps_per_epoch=-5",
                                              "data.noise_std=-0.1", "data.max_videos=-2",
                                              "train.ckpt_every_steps=-1", "train.threads=-1"])
    msg = str(e.value)
    for key in ("optim.learning_rate", "train.steps_per_epoch", "data.noise_std", "data.max_videos",
                "train.ckpt_every_steps", "train.threads"):
        assert f"{key} must be >= " in msg, key


def test_a_section_of_another_task_is_refused_and_moved_keys_say_where_they_went(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text("task: pairs\ngrouped:\n  frame_gap: 2\ndata:\n  frame_gap: 2\nmodel:\n  input_dim: 149\n"
                    "loss:\n  class_weights: [1.0]\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, ["pairs.smooth=3"])
    msg = str(e.value)
    for part in ("section 'grouped' belongs to task: grouped, this config is task: pairs",
                 "'data.frame_gap' is gone — grouped.frame_gap", "'model.input_dim' is gone — derived",
                 "'loss' is gone", "'pairs.smooth' is gone — pairs.decode.smooth"):
        assert part in msg, part
    saved = load_config(CONFIGS / "pairs_demo.yaml").to_dict()
    assert "pairs" in saved and "grouped" not in saved


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "v5.yaml", ["train.epochs=2", "grouped.assume_absent=[mating]"])
    save_config(cfg, tmp_path)
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg and isinstance(again, Config)


def test_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(ConfigError, match="configs/"):
        load_config(tmp_path / "nope.yaml")


def test_pairs_yaml_shows_every_pairs_key_with_its_default_and_a_comment():
    text = (CONFIGS / "pairs.yaml").read_text()
    shown = yaml.safe_load(text)["pairs"]
    assert shown == dataclasses.asdict(PairsSettings())
    lines = {ln.split(":")[0].strip(): ln for ln in text.splitlines() if ln.startswith("  ")}
    for key in [*shown, *shown["decode"]]:
        assert "#" in lines[key], f"pairs.{key} has no comment in pairs.yaml"
    assert load_config(CONFIGS / "pairs.yaml").pairs == PairsSettings()


def test_pairs_section_overrides_validation_and_resolved_config(tmp_path):
    cfg = load_config(CONFIGS / "pairs_demo.yaml", ["pairs.decode.smooth=9", "min_bout=2"])
    dec = cfg.pairs.decode
    assert (dec.smooth, dec.min_bout, dec.max_gap) == (9, 2, 3)
    assert isinstance(cfg.pairs, PairsSettings) and load_config().pairs == PairsSettings()
    save_config(cfg, tmp_path)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["pairs"]["decode"]["smooth"] == 9
    assert load_config(tmp_path / "config.yaml") == cfg
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: pairs\npairs:\n  decode:\n    smoth: 3\n  positive_fraction: lots\n")
    with pytest.raises(ConfigError) as e:
        load_config(bad, ["pairs.decode.max_gapp=1"])
    for part in ("'pairs.decode.smoth' (did you mean 'pairs.decode.smooth'?)",
                 "pairs.positive_fraction: expected float",
                 "'pairs.decode.max_gapp' (did you mean 'pairs.decode.max_gap'?)"):
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
