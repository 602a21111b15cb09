"""nanoGPT-style configuration, but strict: defaults, then config files, then --key=value.

    python train.py config/tiny_cpu.py --max_iters=200 --learning_rate=3e-4

Unlike nanoGPT's exec-based configurator, an unknown key or a value of the wrong type
stops the run with one line naming the key and what would be valid.
"""

import ast
import difflib
import math
import os


class ConfigError(SystemExit):
    """A mistake in the user's configuration: exits with a one-line message, no traceback."""

    def __init__(self, message):
        super().__init__(f"config error: {message}")


def _suggest(key, valid):
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}valid keys: {', '.join(sorted(valid))}"


def _check_type(key, value, default, where):
    """Accept value if it has the default's type (an int is fine where a float is expected)."""
    expected = type(default)
    if expected is float and type(value) is int:
        return float(value)
    if type(value) is not expected:
        raise ConfigError(
            f"{key} expects {expected.__name__} (like {default!r}), got {value!r} from {where}")
    if expected is float and not math.isfinite(value):
        raise ConfigError(f"{key}={value!r} from {where} is not a finite number")
    return value


def _parse_value(text, default):
    """Python literal if it parses as one (3e-4, True), else the raw string; strings stay raw."""
    if isinstance(default, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _read_config_file(path):
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} not found")
    namespace = {}
    with open(path) as f:
        source = f.read()
    try:
        exec(compile(source, path, "exec"), namespace)  # config files are small trusted Python files, as in nanoGPT
    except SyntaxError as e:
        raise ConfigError(f"config file {path} line {e.lineno}: {e.msg}") from None
    except Exception as e:
        raise ConfigError(f"config file {path} fails to run: {type(e).__name__}: {e}") from None
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and not callable(v) and type(v).__name__ != "module"}


def load_config(defaults, argv, choices=None, sources=None):
    """Resolve the config from defaults, then each config file and --key=value in argv order.

    `choices` maps a key to its allowed values, checked once everything is applied. `sources`, a dict,
    receives for each key a config file or flag set (whatever the value: the default's too) where
    it came from: the config file or '--key=value'. On resume only the keys not set take the checkpoint's.
    """
    config = dict(defaults)
    for arg in argv:
        if arg.startswith("--"):
            key, sep, text = arg[2:].partition("=")
            if not sep:
                raise ConfigError(f"'{arg}' must be written as --key=value")
            updates, where = {key: _parse_value(text, defaults.get(key))}, f"'{arg}'"
        elif arg.endswith(".py"):
            updates, where = _read_config_file(arg), arg
        else:
            raise ConfigError(f"'{arg}' is neither a config file (*.py) nor --key=value")
        for key, value in updates.items():
            if key not in defaults:
                raise ConfigError(f"unknown key '{key}' in {where}; {_suggest(key, defaults)}")
            config[key] = _check_type(key, value, defaults[key], where)
            if sources is not None:
                sources[key] = where
    for key, allowed in (choices or {}).items():
        if config[key] not in allowed:
            raise ConfigError(f"{key}={config[key]!r} is not one of {', '.join(map(repr, allowed))}")
    return config
