import pytest

from nanogpt_dash.configure import ConfigError, config_keys, parse_overrides

DEFAULTS = {"learning_rate": 1e-3, "max_iters": 100, "compile": False, "device": "auto"}


def parse(*argv):
    return parse_overrides(DEFAULTS, list(argv), echo=lambda _: None)


def test_overrides_keep_their_types():
    config = parse("--learning_rate=3e-4", "--max_iters=5", "--compile=True", "--device=cpu")
    assert config == {"learning_rate": 3e-4, "max_iters": 5, "compile": True, "device": "cpu"}


def test_an_int_is_accepted_where_a_float_is_expected():
    assert parse("--learning_rate=1")["learning_rate"] == 1.0


def test_config_file_then_command_line_in_order(tmp_path):
    path = tmp_path / "small.py"
    path.write_text("max_iters = 7\ndevice = 'cpu'\nimport math\n_private = 1\n")
    assert parse(str(path), "--max_iters=9") == {**DEFAULTS, "max_iters": 9, "device": "cpu"}


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'max_iter' \(did you mean 'max_iters'\?\)"):
        parse("--max_iter=5")


def test_wrong_type_names_key_and_expected_type():
    with pytest.raises(ConfigError, match=r"'compile' expects bool \(default False\), got 'yes' \(str\)"):
        parse("--compile=yes")


def test_unknown_key_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("learning_rat = 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.py: unknown config key 'learning_rat'"):
        parse(str(path))


def test_missing_config_file_and_missing_value_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        parse(str(tmp_path / "nope.py"))
    with pytest.raises(ConfigError, match="has no value: write --max_iters=VALUE"):
        parse("--max_iters")


def test_config_keys_are_the_public_scalars_of_a_namespace():
    assert config_keys({"a": 1, "_b": 2, "c": [1], "d": "x", "e": print}) == {"a": 1, "d": "x"}
