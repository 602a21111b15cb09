"""train.py's settings checks: values no run can use, and what a resumed or inherited run may change.

Each refusal is one line (ConfigError) before anything starts.
"""
import importlib.util
from pathlib import Path

from checkpoint import MODEL_KEYS
from configurator import ConfigError

POSITIVE = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "eval_interval", "log_interval", "grad_scale",
            "distill_temperature")
NON_NEGATIVE = ("seed", "max_iters", "learning_rate", "min_lr", "warmup_iters", "lr_decay_iters", "weight_decay",
                "grad_clip", "eval_tokens", "ckpt_interval", "peak_tflops", "vocab_size")
# a resumed run keeps these training settings; the ones after them may be changed on purpose
RESUME_FIXED = ("seed", "data_seed", "dataset", "tokens_per_step", "learning_rate", "min_lr", "warmup_iters",
                "lr_decay_iters", "weight_decay", "decay_embeddings", "beta1", "beta2", "grad_clip", "grad_scale",
                "distill_from", "distill_weight", "distill_temperature")
# experiment tracking: where a run's steps are also sent; no part of its recipe, so never handed to another run
TRACKING_KEYS = ("wandb_log", "wandb_project", "wandb_run_name", "wandb_group", "wandb_run_id")
RESUME_ADOPTED = ("max_iters", "eval_interval", "ckpt_interval", "eval_tokens", "log_interval", "batch_size",
                  "dtype") + TRACKING_KEYS
# values that mean "unset" even when given: a resumed run takes the checkpoint's
UNSET = dict(vocab_size=0, data_seed=-1)


def check_settings(cfg):
    """Values no run can use, refused in one line before anything starts."""
    for key in POSITIVE:
        if cfg[key] <= 0:
            raise ConfigError(f"{key}={cfg[key]} must be positive")
    for key in NON_NEGATIVE:
        if cfg[key] < 0:
            raise ConfigError(f"{key}={cfg[key]} must not be negative")
    for key in ("dropout", "beta1", "beta2"):
        if not 0 <= cfg[key] < 1:
            raise ConfigError(f"{key}={cfg[key]} must be in [0, 1)")
    if cfg["n_embd"] % cfg["n_head"]:
        raise ConfigError(f"n_embd={cfg['n_embd']} is not divisible by n_head={cfg['n_head']}: "
                          "choose an n_head that divides n_embd")
    if not cfg["out_dir"].strip():
        raise ConfigError("out_dir is empty: name the run's directory, e.g. --out_dir=out/my_run")
    if Path(cfg["out_dir"]).exists() and not Path(cfg["out_dir"]).is_dir():
        raise ConfigError(f"out_dir={cfg['out_dir']} is a file, not a directory: name the run's directory")
    divisors = cfg["attn_divisors"]
    if divisors and (len(divisors) != cfg["n_layer"] or not all(type(x) in (int, float) and x > 0 for x in divisors)):
        raise ConfigError(f"attn_divisors={divisors} must be [] or n_layer={cfg['n_layer']} positive numbers")
    if divisors and cfg["init_from"] == "inherit":
        raise ConfigError(f"attn_divisors={divisors} with init_from='inherit': inherited blocks keep their reference's "
                          "divisors; drop attn_divisors")
    if not 0 <= cfg["distill_weight"] <= 1:
        raise ConfigError(f"distill_weight={cfg['distill_weight']} must be in [0, 1] (the distillation term's share)")
    if cfg["data_seed"] < -1:
        raise ConfigError(f"data_seed={cfg['data_seed']} must be -1 (the default order) or a seed >= 0")
    if cfg["wandb_log"]:
        require_wandb()


def require_wandb(asked_by="wandb_log=True", off="--wandb_log=False"):
    """wandb is an optional dependency: asking for it without the package is refused before anything starts
    (`off`: how to train untracked, e.g. a resumed run that took wandb_log from its checkpoint)."""
    if importlib.util.find_spec("wandb") is None:
        raise ConfigError(f"{asked_by} needs the wandb package, which is not installed: pip install wandb, or "
                          f"track nothing ({off})")
    try:  # installed but broken (e.g. a dependency at a version it cannot use) fails here, not mid-start
        import wandb  # noqa: F401
    except Exception as e:
        reason = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(f"{asked_by} needs the wandb package, which is installed but cannot be imported "
                          f"({type(e).__name__}: {reason}): reinstall it (pip install --force-reinstall wandb), or "
                          f"track nothing ({off})") from None


def adopt_run_settings(cfg, saved, source, fixed, adopted=(), set_in=None):
    """Resuming continues the run: settings the user did not set (set_in: key -> the config file or
    --key=value that set it, load_config's sources) take the saved run's values, and a set `fixed` setting
    (training or model shape) that differs is refused rather than silently mixed in, even when it equals
    train.py's default."""
    for key in fixed + adopted:
        value = getattr(cfg, key)
        if key not in saved or value == saved[key]:
            continue
        if key not in (set_in or {}) or UNSET.get(key, object()) == value:
            setattr(cfg, key, saved[key])
        elif key in fixed:
            where = (set_in or {}).get(key, f"'--{key}=...'")
            drop = f"remove {key} from {where}" if where.endswith(".py") else f"drop {where}"
            raise ConfigError(f"{key}={value!r} (set by {where}) but the run in {source} was trained with {key}="
                              f"{saved[key]!r}; a resumed run keeps it: {drop} or start a new out_dir")


def check_model_args(cfg, model_args, source):
    """A config that disagrees with the checkpoint it builds on is a user error, not a silent override."""
    for key in MODEL_KEYS:
        if key not in ("n_layer", "attn_divisors") and getattr(cfg, key) != model_args[key]:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} but {source} has {key}={model_args[key]!r}; "
                              f"set --{key}={model_args[key]!r}")
