"""Build settings: the shipped YAML equals the built-in defaults; bad settings are all reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from mabe_store.build_config import BuildConfig, ConfigError, load_config, make_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_yaml_is_the_default():
    cfg = load_config(REPO / "configs" / "store.yaml")
    assert cfg == BuildConfig() and cfg.config_hash == BuildConfig().config_hash
    assert cfg.n_features == 144


@pytest.mark.parametrize(("name", "slot"), [
    ("nose", (0, False)), ("headpiece_topfrontleft", (5, True)), ("tail_tip", (17, False)),
    ("forepaw_left", None), ("headpiece", (5, False))])
def test_slot_of(name, slot):
    assert BuildConfig().slot_of(name) == slot


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as e:
        make_config(keypoints=["a", "a"], codec="gzip", clevel=11, chunk_rows=10, chunk_cols=0, aliases={"zz": ["q"]})
    for part in ("distinct", "codec", "clevel", "chunk_rows", "chunk_cols", "'zz' is not one of the keypoints"):
        assert part in str(e.value)
    with pytest.raises(ConfigError, match="unknown setting 'chunks'"):
        make_config(chunks=5)
    (tmp_path / "c.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "missing.yaml")


def test_content_settings_change_the_hash():
    assert make_config(keypoints=["nose", "tail_base"], mean_groups={}).config_hash != BuildConfig().config_hash


def test_yaml_syntax_error_is_one_line_with_its_place(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("aliases:\n  nose: [snout\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path} is not valid YAML: ") and "line 3" in msg


def test_overrides_go_over_the_file_and_problems_read_as_in_mabe_train(tmp_path):
    (tmp_path / "c.yaml").write_text("chunk_rows: 4096\ncodec: blosc-lz4\n")
    cfg = load_config(tmp_path / "c.yaml", ["chunk_rows=8192", "shard_rows=8192"])
    assert (cfg.chunk_rows, cfg.shard_rows, cfg.codec) == (8192, 8192, "blosc-lz4")
    assert load_config(None, ["clevel=3"]).clevel == 3
    with pytest.raises(ConfigError) as e:
        load_config(None, ["chunk_row=1", "novalue", "codec=[unclosed"])
    msg = str(e.value)
    assert msg.startswith("invalid store config: unknown setting 'chunk_row' (settings: ")
    assert "'novalue' is not key=value" in msg and "codec='[unclosed' is not a YAML value" in msg
    (tmp_path / "list.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping of settings"):
        load_config(tmp_path / "list.yaml")
