"""The strict configurator: defaults, config files, --key=value, and one-line errors."""
import pytest

import settings
import train
from configurator import ConfigError, load_config
from helpers import ROOT

DEFAULTS = dict(out_dir="out", init_from="scratch", learning_rate=6e-4, max_iters=1000,
                compile=False, inherit_layers="")
CHOICES = dict(init_from=("scratch", "resume", "inherit"))


def config_error(argv, defaults=DEFAULTS, choices=CHOICES):
    """The message of the ConfigError that argv raises; it must be a single line."""
    with pytest.raises(SystemExit) as excinfo:
        load_config(defaults, argv, choices)
    assert isinstance(excinfo.value, ConfigError)  # a SystemExit: no traceback for the user
    message = str(excinfo.value)
    assert message.startswith("config error: ") and "\n" not in message
    return message


def write_config(tmp_path, text, name="cfg.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_when_nothing_given():
    config = load_config(DEFAULTS, [], CHOICES)
    assert config == DEFAULTS
    config["max_iters"] = 1
    assert DEFAULTS["max_iters"] == 1000  # the defaults are not mutated


def test_config_file_then_overrides_in_argv_order(tmp_path):
    first = write_config(tmp_path, "learning_rate = 1e-3\nmax_iters = 50\n", "first.py")
    second = write_config(tmp_path, "max_iters = 70\n", "second.py")
    config = load_config(DEFAULTS, [first, "--learning_rate=2e-3"], CHOICES)
    assert config["learning_rate"] == 2e-3 and config["max_iters"] == 50
    # argv order decides: a file after an override wins over it, a later file over an earlier one
    config = load_config(DEFAULTS, ["--learning_rate=2e-3", first, second], CHOICES)
    assert config["learning_rate"] == 1e-3 and config["max_iters"] == 70
    assert config["out_dir"] == "out"


def test_config_file_ignores_private_names_imports_and_functions(tmp_path):
    path = write_config(tmp_path, "import math\n_width = 4\ndef helper():\n    return 1\n"
                                  "learning_rate = math.sqrt(4e-6)\nmax_iters = _width * 10\n")
    config = load_config(DEFAULTS, [path], CHOICES)
    assert config["learning_rate"] == pytest.approx(2e-3) and config["max_iters"] == 40


def test_int_accepted_where_float_expected(tmp_path):
    config = load_config(DEFAULTS, ["--learning_rate=1"], CHOICES)
    assert config["learning_rate"] == 1.0 and type(config["learning_rate"]) is float
    config = load_config(DEFAULTS, [write_config(tmp_path, "learning_rate = 2\n")], CHOICES)
    assert type(config["learning_rate"]) is float


def test_literals_are_parsed_for_non_string_keys():
    config = load_config(DEFAULTS, ["--compile=True", "--max_iters=12", "--learning_rate=3e-4"], CHOICES)
    assert config["compile"] is True and config["max_iters"] == 12 and config["learning_rate"] == 3e-4


def test_strings_stay_strings():
    config = load_config(DEFAULTS, ["--out_dir=123", "--inherit_layers=0,1,2"], CHOICES)
    assert config["out_dir"] == "123" and config["inherit_layers"] == "0,1,2"
    assert load_config(DEFAULTS, ["--out_dir=True"], CHOICES)["out_dir"] == "True"
    assert load_config(DEFAULTS, ["--out_dir=a=b"], CHOICES)["out_dir"] == "a=b"  # split at the first '='
    assert load_config(DEFAULTS, ["--out_dir="], CHOICES)["out_dir"] == ""


def test_unknown_key_names_it_and_suggests_the_close_match():
    message = config_error(["--lerning_rate=1e-3"])
    assert "'lerning_rate'" in message and "did you mean 'learning_rate'" in message


def test_unknown_key_in_config_file_names_the_file(tmp_path):
    path = write_config(tmp_path, "max_iter = 10\n")
    message = config_error([path])
    assert "'max_iter'" in message and path in message and "did you mean 'max_iters'" in message


def test_unknown_key_without_close_match_lists_valid_keys():
    message = config_error(["--zzzzzz=1"])
    assert "'zzzzzz'" in message and "did you mean" not in message
    assert all(key in message for key in DEFAULTS)


@pytest.mark.parametrize("arg, key, expected", [
    ("--max_iters=1.5", "max_iters", "int"),
    ("--max_iters=abc", "max_iters", "int"),
    ("--max_iters=True", "max_iters", "int"),  # a bool is an int to Python, not to a config
    ("--compile=1", "compile", "bool"),
    ("--learning_rate=fast", "learning_rate", "float"),
    ("--learning_rate=True", "learning_rate", "float"),
])
def test_wrong_type_names_key_and_expected_type(arg, key, expected):
    message = config_error([arg])
    assert key in message and f"expects {expected}" in message


def test_wrong_type_in_config_file(tmp_path):
    path = write_config(tmp_path, "out_dir = 3\n")
    message = config_error([path])
    assert "out_dir expects str" in message and path in message


def test_bad_choice_lists_the_choices():
    message = config_error(["--init_from=foo"])
    assert "init_from" in message and "'foo'" in message
    assert all(f"'{c}'" in message for c in CHOICES["init_from"])


def test_bad_choice_from_config_file(tmp_path):
    message = config_error([write_config(tmp_path, "init_from = 'resum'\n")])
    assert "'resum'" in message and "'resume'" in message


def test_missing_config_file(tmp_path):
    missing = str(tmp_path / "nope.py")
    message = config_error([missing])
    assert missing in message and "not found" in message


def test_flag_without_value():
    message = config_error(["--compile"])
    assert "'--compile'" in message and "--key=value" in message


def test_argument_that_is_neither_file_nor_flag():
    message = config_error(["max_iters=3"])
    assert "'max_iters=3'" in message


def test_train_config_files_resolve():
    """Every shipped config file names only train.py's keys, with the right types and choices."""
    paths = sorted((ROOT / "config").glob("*.py"))
    assert paths, "no config files found"
    for path in paths:
        config = load_config(settings.DEFAULTS, [str(path)], settings.CHOICES)
        assert set(config) == set(settings.DEFAULTS)
    tiny = load_config(settings.DEFAULTS, [str(ROOT / "config" / "tiny_cpu.py"), "--max_iters=3"], settings.CHOICES)
    assert tiny["max_iters"] == 3


@pytest.mark.parametrize("key", ["eval_interval", "log_interval", "batch_size"])
def test_train_rejects_non_positive_sizes_in_one_line(key):
    with pytest.raises(SystemExit) as e:
        train.main([f"--{key}=0"])
    msg = str(e.value)
    assert key in msg and "must be positive" in msg and "\n" not in msg
