"""nanoGPT-style configuration: `python train.py config/file.py --key=value`.

Config files are Python files that assign known keys; `--key=value` overrides follow. Every key
must already exist among the defaults and keep its type, so a typo or a wrong type stops the
run at once with a message naming the key, instead of silently training something else.
"""

from __future__ import annotations

import ast
import difflib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .errors import NanogptDashError

ConfigValue = int | float | bool | str


class ConfigError(NanogptDashError):
    """A config file or --key=value override is wrong; the message names the key and the fix."""


def config_keys(namespace: Mapping[str, Any]) -> dict[str, ConfigValue]:
    """The configurable names of a module namespace: public ints, floats, bools and strings."""
    return {
        k: v for k, v in namespace.items()
        if not k.startswith("_") and isinstance(v, (int, float, bool, str))
    }


def parse_overrides(
    defaults: Mapping[str, ConfigValue],
    argv: Sequence[str],
    echo: Callable[[str], None] = print,
) -> dict[str, ConfigValue]:
    """Apply config files and --key=value arguments, in order, to a copy of `defaults`."""
    config = dict(defaults)
    for arg in argv:
        if arg in ("-h", "--help"):
            raise ConfigError(_usage(defaults))
        if not arg.startswith("--"):
            config.update(_read_config_file(Path(arg), defaults, echo))
            continue
        key, sep, text = arg[2:].partition("=")
        if not sep:
            raise ConfigError(f"argument {arg!r} has no value: write --{key}=VALUE")
        _check_known(key, defaults, where=f"argument {arg!r}")
        value = _coerce(key, _literal(text), defaults[key], where=f"--{key}")
        echo(f"Overriding: {key} = {value}")
        config[key] = value
    return config


def _read_config_file(path: Path, defaults: Mapping[str, ConfigValue], echo: Callable[[str], None]) -> dict:
    try:
        source = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}; config files are paths such as config/train_shakespeare_char.py") from e
    echo(f"Overriding config with {path}:")
    echo(source)
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, str(path), "exec"), namespace)
    except Exception as e:
        raise ConfigError(f"config file {path} failed to run: {type(e).__name__}: {e}") from e
    values = {}
    for key, value in namespace.items():
        if key.startswith("_") or not isinstance(value, (int, float, bool, str)):
            continue
        _check_known(key, defaults, where=f"config file {path}")
        values[key] = _coerce(key, value, defaults[key], where=f"{path}: {key}")
    return values


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word such as --device=cpu is a string


def _coerce(key: str, value: Any, default: ConfigValue, where: str) -> ConfigValue:
    expected = type(default)
    if type(value) is expected:
        return value
    if expected is float and type(value) is int:
        return float(value)
    if expected is str:
        return str(value)  # --out_dir=123 still names a directory
    raise ConfigError(
        f"{where}: '{key}' expects {expected.__name__} (default {default!r}), got {value!r} ({type(value).__name__})"
    )


def _check_known(key: str, defaults: Mapping[str, ConfigValue], where: str) -> None:
    if key in defaults:
        return
    close = difflib.get_close_matches(key, list(defaults), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    raise ConfigError(f"{where}: unknown config key '{key}'{hint}; run with --help to list the keys")


def _usage(defaults: Mapping[str, ConfigValue]) -> str:
    lines = ["usage: python train.py [config/file.py ...] [--key=value ...]", "", "keys and defaults:"]
    lines += [f"  --{k}={v!r}  ({type(v).__name__})" for k, v in defaults.items()]
    return "\n".join(lines)
