"""train.py's settings: its defaults and choices, values no run can use, and what a resumed or inherited run
may change.

Each refusal is one line (ConfigError) before anything starts.
"""
import importlib.util
from pathlib import Path

from checkpoint import MODEL_KEYS
from configurator import ConfigError

# how the inherited blocks are chosen when no layer list names them: the paper's first n, n spread evenly,
# or the n that score highest on the reference (influence: block influence; rank: attention rank)
SELECT = ("first", "spread", "influence", "rank")

DEFAULTS = dict(
    # run directory and initialisation
    out_dir="out",
    init_from="scratch",  # 'scratch' | 'resume' (out_dir/ckpt.pt) | 'inherit' (see inherit_*) | 'pretrained'
    inherit_from="",  # reference for init_from='inherit': a checkpoint, a HF GPT-2 directory or hub id
    pretrained_from="",  # init_from='pretrained': the model (same kinds) whose weights and shape start the run
    inherit_parts="full",  # per-block parts: 'full' | 'attn_ln' | 'mlp_ln' | 'attn_mlp_noln'
    inherit_layers="",  # comma list of reference blocks, e.g. '0,1,2,5'; '' = chosen by inherit_select
    inherit_select="first",  # 'first' n (the paper) | 'spread' | 'influence' | 'rank': see inherit.py --select
    inherit_embeddings="wte",  # non-block tensors to inherit: 'wte' (= tied lm_head) as the paper; also wpe, ln_f
    # knowledge distillation (a baseline of the paper's later versions), from any init_from: loss =
    # (1 - distill_weight) * data loss + distill_weight * T^2 * KL(teacher || student) at temperature T (Hinton et
    # al. 2015). The paper releases no KD code or settings: 0.5 and T = 1 (the teacher's own distribution) are ours
    distill_from="",  # teacher: a checkpoint, a HF GPT-2 directory or hub id; '' = no distillation
    distill_weight=0.5,
    distill_temperature=1.0,
    seed=1337,  # model init (and dropout masks)
    data_seed=-1,  # batch order; -1: resumed run keeps its own, inherited = its reference's + 1, scratch = seed
    # data: data_dir/dataset/{train,val}.bin made by prepare_openwebtext.py
    data_dir="data",
    dataset="builtin",
    # model (GPT-2 small by default)
    n_layer=12,
    n_head=12,
    n_embd=768,
    block_size=1024,
    vocab_size=0,  # 0 = the dataset's (meta.json), rounded up to a multiple of 64: GPT-2's 50257 -> 50304
    bias=False,
    dropout=0.0,
    scale_attn_by_inverse_layer_idx=False,
    layer_norm_epsilon=1e-5,
    attn_divisors=[],  # per-block attention-logit divisors; [] = model.py's default (inherited runs: the reference's)
    # optimisation: the global batch is set in tokens; accumulation is derived from it
    batch_size=12,  # micro-batch (sequences per process per forward)
    tokens_per_step=12 * 1024,
    max_iters=1000,
    learning_rate=6e-4,
    min_lr=6e-5,
    warmup_iters=100,
    lr_decay_iters=0,  # 0 = max_iters
    weight_decay=0.1,
    decay_embeddings=False,  # False: only nn.Linear weights decay (the paper's code); True: wte and wpe too
    beta1=0.9,
    beta2=0.95,
    grad_clip=1.0,  # 0 disables clipping
    grad_scale=1.0,  # multiplies the mean gradient before clipping (the paper configs: see _paper_gpt2.py)
    # evaluation: fixed validation windows, the same for every run and rank
    eval_interval=250,
    ckpt_interval=0,  # also save a checkpoint every this many steps; 0 = only at evaluations
    eval_tokens=0,  # 0 = all of val.bin
    eval_only=False,  # evaluate the initial model (e.g. init_from='resume') and stop
    log_interval=10,
    # system
    device="auto",  # 'auto' | 'cpu' | 'cuda' | 'cuda:N'
    dtype="auto",  # 'auto' (bfloat16 where supported, else float32) | 'bfloat16' | 'float32'
    compile=False,
    compile_mode="default",  # torch.compile mode: 'default' | 'reduce-overhead' (CUDA graphs) | 'max-autotune' | ...
    attention="auto",  # SDPA kernel on CUDA: 'auto' (PyTorch's pick: cuDNN on an H200, torch 2.11) | 'flash' | ...
    backend="auto",  # DDP backend: 'auto' (nccl on CUDA, gloo on CPU) | 'nccl' | 'gloo'
    peak_tflops=0.0,  # MFU denominator override; 0 = look up the GPU name
    # experiment tracking (nanoGPT's names): rank 0 also sends each logged step and the config to Weights & Biases;
    # its files go to out_dir/wandb (WANDB_MODE=offline works without an account: `wandb sync` them later)
    wandb_log=False,
    wandb_project="inheritune",
    wandb_run_name="",  # '' = out_dir
    wandb_group="",  # runs shown together: the grow loop and study.py name their searches
    wandb_run_id="",  # '' = a new run; a resumed run continues its own (kept in the checkpoint)
)
CHOICES = dict(
    init_from=("scratch", "resume", "inherit", "pretrained"),
    inherit_parts=("full", "attn_ln", "mlp_ln", "attn_mlp_noln"),
    inherit_select=SELECT,
    dtype=("auto", "bfloat16", "float32"),
    backend=("auto", "nccl", "gloo"),
    attention=("auto", "flash", "cudnn", "efficient", "math"),
    compile_mode=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
)
# how a run began (init_from and its source): config.json and checkpoints keep them through resumes
ORIGIN_KEYS = ("init_from", "inherit_from", "inherit_parts", "inherit_layers", "inherit_select",
               "inherit_embeddings", "pretrained_from")

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


def data_seed_of(config):
    """The seed a run drew its batches with (runs made before data_seed existed used `seed`)."""
    return config.get("data_seed", config["seed"])


def target_data_seed(ref_config, seed):
    """The default batch order of a model inherited from this reference: not the reference's own
    (the paper's Inheritune script draws its batches from another seed than its baselines). A Hugging
    Face reference, trained on other data and with no config of ours, leaves it to the target's seed."""
    return data_seed_of(ref_config) + 1 if ref_config else seed


def changed_settings(config, skip=()):
    """config's train.py settings that differ from train.py's defaults, as --key=value arguments; tracking is
    left out (rerun as printed, a run would write into the wandb run of the one it copies)."""
    return [f"--{k}={v}" for k, v in config.items()
            if k in DEFAULTS and k not in (*skip, *TRACKING_KEYS) and v != DEFAULTS[k]]
