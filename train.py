"""Train a GPT-2: from scratch, from an Inheritune initialisation, or resuming a run.

Single process (CPU or one GPU):
    python train.py config/tiny_cpu.py --max_iters=100
Data-parallel on 8 GPUs (multi-node works with torchrun's usual flags):
    torchrun --nproc_per_node=8 train.py config/gpt2l_inherit18.py

The run directory (out_dir) receives config.json (resolved config + git commit), log.jsonl
(one JSON line per logged step), ckpt.pt (tensors and plain types only) and, once
finished, result.json with the final deterministic validation loss. run.lock keeps a second
run out while this one lives; SIGTERM or Ctrl-C saves a checkpoint after the current step and stops.
"""

import json
import math
import os
import re
import secrets
import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from checkpoint import MODEL_KEYS, load_checkpoint, load_model_source, lock_run_dir, save_checkpoint
from configurator import ConfigError, load_config
from distill import Teacher, load_teacher
from data import check_tokenizer, load_tokens, resolve_vocab_size, train_batches, val_windows, windows
from guards import NEVER, StopSignals, agree, note_non_finite, stop_every_rank
from inherit import inherit_from_checkpoint
from model import GPT, GPTConfig, peak_flops
from run_records import RunLog, git_commit, tracking, warn_if_disk_is_short, write_run_json
from settings import (CHOICES, DEFAULTS, ORIGIN_KEYS, RESUME_ADOPTED, RESUME_FIXED, adopt_run_settings,
                      check_model_args, check_settings, data_seed_of, target_data_seed)

NOT_GIVEN = object()  # a value no flag takes


@dataclass
class Dist:
    rank: int
    local_rank: int
    world_size: int
    device: str

    @property
    def master(self):
        return self.rank == 0


def resolve_device(device):
    """'auto', 'cpu', 'cuda' or 'cuda:N' as the device to use; one that cannot be used stops with one line."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ConfigError(f"device={device!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but torch sees no CUDA GPU; use --device=cpu (or auto)")
    return device


def setup_distributed(device, backend):
    """Join the torchrun process group if launched by torchrun; pick this process's device."""
    device = resolve_device(device)
    if "RANK" not in os.environ:
        return Dist(0, 0, 1, device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    if backend == "auto":
        backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return Dist(rank, local_rank, dist.get_world_size(), device)


def autocast_context(device, dtype):
    """bf16 autocast on GPUs that support it; plain fp32 on CPU (bf16 matmuls are slow there)."""
    if dtype == "auto":
        bf16_ok = device.startswith("cuda") and torch.cuda.is_bf16_supported()
        dtype = "bfloat16" if bf16_ok else "float32"
    if dtype == "float32":
        return nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


# SDPA kernel families and the switch that enables each
SDPA_SWITCHES = dict(flash="enable_flash_sdp", cudnn="enable_cudnn_sdp", efficient="enable_mem_efficient_sdp",
                     math="enable_math_sdp")


def select_attention(name, device):
    """Allow only the named SDPA kernel on CUDA, so a kernel that cannot run fails loudly instead of
    falling back to a slow one. 'auto', and any CPU run, keep PyTorch's choice."""
    if name == "auto" or not device.startswith("cuda"):
        return
    for backend, switch in SDPA_SWITCHES.items():
        getattr(torch.backends.cuda, switch)(backend == name)


# torch.compile modes that replay CUDA graphs
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def accumulation_steps(cfg, world_size):
    per_micro = cfg.batch_size * cfg.block_size * world_size
    if cfg.tokens_per_step <= 0 or cfg.tokens_per_step % per_micro:
        raise ConfigError(
            f"tokens_per_step={cfg.tokens_per_step} is not a positive multiple of batch_size*block_size*"
            f"world_size={per_micro}; change tokens_per_step or batch_size")
    accum = cfg.tokens_per_step // per_micro
    if accum > 1 and cfg.compile and cfg.compile_mode in CUDA_GRAPH_MODES:
        raise ConfigError(
            f"compile_mode='{cfg.compile_mode}' (CUDA graphs) cannot accumulate gradients over {accum} micro-batches "
            "(each replay overwrites the last one's outputs); use compile_mode='default' or raise batch_size "
            f"to tokens_per_step/(block_size*world_size)={cfg.tokens_per_step // (cfg.block_size * world_size)}")
    return accum


@torch.no_grad()
def evaluate(model, data, cfg, d, ctx):
    """Mean loss over all fixed validation windows, sharded across ranks and summed."""
    model.eval()
    starts = val_windows(data, cfg)[d.rank::d.world_size]
    total = torch.zeros(2, dtype=torch.float64, device=d.device)  # loss sum, token count
    for i in range(0, len(starts), cfg.batch_size):
        x, y = windows(data, starts[i:i + cfg.batch_size], cfg.block_size, d.device)
        with ctx:
            _, loss = model(x, y)
        total += torch.stack([loss.double() * y.numel(), torch.tensor(y.numel(), device=d.device)])
    if d.world_size > 1:
        dist.all_reduce(total)
    model.train()
    return (total[0] / total[1]).item()


def lr_at(step, cfg):
    """Linear warmup, then cosine decay to min_lr at lr_decay_iters."""
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def forward_backward(model, batches, accum, ctx, teacher=None):
    """Accumulate gradients of the mean loss over `accum` micro-batches; DDP syncs only on the last.
    With a teacher, the loss is its mix of the data loss and the distillation term; the teacher keeps the two
    parts' means (last_parts).

    Returns the mean loss as a tensor (no host sync).
    """
    total = parts = 0.0
    for micro, (x, y) in enumerate(batches):
        if isinstance(model, DDP):
            model.require_backward_grad_sync = micro == accum - 1
        with ctx:
            logits, loss = model(x, y)
            if teacher is not None:
                loss, micro_parts = teacher.loss(logits, loss, x)
                parts = parts + micro_parts / accum
        (loss / accum).backward()
        total = total + loss.detach() / accum
    if teacher is not None:
        teacher.last_parts = parts
    return total


def dropout_seed(cfg, step, rank):
    """Like the batches, dropout masks are a pure function of (seed, step, rank): a resumed run
    draws the masks an uninterrupted one would, on any number of GPUs, with no RNG state saved.
    None without dropout: a step then draws no random number, and seeding costs ~0.1 ms (results/cpu_levers.py)."""
    if cfg.dropout == 0:
        return None
    return int(np.random.SeedSequence([cfg.seed, step, rank]).generate_state(1)[0])


def clip_and_step(optimizer, grad_clip, grad_scale=1.0):
    """Multiply the mean gradient by grad_scale, clip it to norm grad_clip (0: no clipping) and take
    the optimizer step.

    Returns the norm of the scaled gradient before clipping (a tensor). The clip factor is
    min(1, grad_clip / (norm + 1e-6)), as in torch.nn.utils.clip_grad_norm_. A fused AdamW applies
    scale and clip inside its own kernel (its `grad_scale` divides the gradients), which saves a
    read and a write of every gradient.
    """
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    norm = grad_scale * torch.nn.utils.get_total_norm(grads)
    if grad_clip > 0 or grad_scale != 1.0:
        clip = torch.clamp(grad_clip / (norm + 1e-6), max=1.0) if grad_clip > 0 else torch.ones_like(norm)
        factor = grad_scale * clip
        if optimizer.defaults.get("fused"):
            optimizer.grad_scale = 1.0 / factor
        elif grads:  # one multi-tensor multiply, as clip_grad_norm_ does: a loop over them cost 0.35% of a CPU step
            torch._foreach_mul_(grads, factor)
    optimizer.step()
    return norm


def train_step(model, optimizer, batches, accum, ctx, lr, grad_clip, seed, grad_scale=1.0, teacher=None):
    """One optimizer step on the global batch; the mean gradient is multiplied by grad_scale before clipping.

    Returns the mean loss and the gradient norm before clipping, as tensors (no host sync). `seed` (None: no
    dropout) seeds the step's dropout masks.
    """
    if seed is not None:
        torch.manual_seed(seed)
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = forward_backward(model, batches, accum, ctx, teacher)
    grad_norm = clip_and_step(optimizer, grad_clip, grad_scale)
    optimizer.zero_grad(set_to_none=True)
    return loss, grad_norm


def mean_across_ranks(x, d):
    if d.world_size > 1:
        dist.all_reduce(x)  # SUM then divide: gloo lacks ReduceOp.AVG before torch 2.8
        x /= d.world_size
    return x


def resolve_data_seed(cfg, ckpt):
    """data_seed=-1 picks the batch order: a resumed run keeps its checkpoint's, a scratch or pretrained
    run takes its seed. (An inherited run took its reference's + 1 in build_model: it must not replay
    the batches its reference was trained on.)"""
    if cfg.data_seed == -1:
        cfg.data_seed = data_seed_of(ckpt["config"]) if ckpt is not None else cfg.seed


def build_model(cfg, ckpt_path, mmap=True, set_in=None, device="cpu"):
    """The model to train and, for inheritance, the manifest of what came from where."""
    if cfg.init_from == "resume":  # the checkpoint's model wins, as in nanoGPT; other shape flags are refused
        ckpt = load_checkpoint(ckpt_path, mmap=mmap)
        # runs from before decay_embeddings existed decayed the embeddings (their optimizer groups say so)
        ckpt["config"] = {"decay_embeddings": True, **ckpt["config"]}
        if ckpt["config"].get("init_from") == "pretrained":  # its shape came from the source, not the config:
            started = ckpt["config"].get("pretrained_flags", {})  # model flags as its first command gave them
            set_in = {k: v for k, v in (set_in or {}).items() if getattr(cfg, k) != started.get(k, NOT_GIVEN)}
        adopt_run_settings(cfg, ckpt["model_args"], ckpt_path, MODEL_KEYS, set_in=set_in)
        model = GPT(GPTConfig(**ckpt["model_args"]))
        model.load_state_dict(ckpt["model"])
        return model, ckpt, ckpt.get("inherit_manifest")
    if cfg.init_from == "inherit":
        model, manifest, ref_config = inherit_from_checkpoint(
            cfg.inherit_from, cfg.n_layer, parts=cfg.inherit_parts, layers=cfg.inherit_layers,
            embeddings=cfg.inherit_embeddings, seed=cfg.seed, check=lambda args, src: check_model_args(cfg, args, src),
            select=cfg.inherit_select, data=(cfg.data_dir, cfg.dataset), device=device)
        if cfg.data_seed == -1:
            cfg.data_seed = target_data_seed(ref_config, cfg.seed)
        return model, None, manifest
    if cfg.init_from == "pretrained":  # continued pre-training: its weights and shape, a fresh optimizer at step 0
        if not cfg.pretrained_from:
            raise ConfigError("init_from='pretrained' needs pretrained_from: a hub id (gpt2-medium), a HF GPT-2 "
                              "directory or RUN/ckpt.pt")
        source = load_model_source(cfg.pretrained_from)
        check_tokenizer(source.get("tokenizer"), cfg.data_dir, cfg.dataset, f"pretrained_from={cfg.pretrained_from}")
        model = GPT(GPTConfig(**{**source["model_args"], "dropout": cfg.dropout}))
        model.load_state_dict(source["model"])
        print(f"starting from {cfg.pretrained_from}: {source['model_args']}", flush=True)
        return model, None, None
    torch.manual_seed(cfg.seed)
    return GPT(GPTConfig(**{k: getattr(cfg, k) for k in MODEL_KEYS})), None, None


@dataclass
class Prepared:
    """What prepare builds: the model (raw, wrapped for training, for evaluation), its optimizer, where the run starts
    and what its records keep."""
    raw_model: GPT
    model: torch.nn.Module
    eval_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    step: int  # where training starts: 0, or the checkpoint's step
    elapsed_before: float  # seconds the run trained before this process
    clipped_before: int  # steps it clipped before this process
    resumed: bool  # False for a fresh run and a checkpoint without optimizer state (inherit.py's step 0)
    manifest: dict | None  # an inherited model's record of what came from where
    run_config: dict  # config.json's settings: how the run began survives resumes
    tokenizer: str | None  # the dataset's tokenizer, kept in config.json and checkpoints
    teacher: Teacher | None


def prepare(cfg, d, ckpt_path, set_in=None):
    """Model (raw, wrapped for training, for evaluation), optimizer and where the run starts.

    Resuming also sets cfg's model keys and the training settings the user did not set to the checkpoint's.
    bench.py times what this builds.
    A checkpoint without optimizer state (inherit.py's step-0 output) starts a run afresh:
    `resumed` is False, so its first step is evaluated and its log begins there.
    """
    if cfg.init_from != "resume":  # a resumed run's vocabulary, like its shape, is its checkpoint's
        cfg.vocab_size = resolve_vocab_size(cfg)
    cfg_dict = dict(vars(cfg))
    # on CPU the optimizer would keep tensors of a memory-mapped checkpoint, and with them the pages of
    # a file that the next save replaces; on a GPU everything is copied to the device
    raw_model, ckpt, manifest = build_model(cfg, ckpt_path, mmap=d.device.startswith("cuda"), set_in=set_in,
                                            device=d.device)
    vars(cfg).update({k: getattr(raw_model.config, k) for k in MODEL_KEYS})
    if ckpt is not None and "optimizer" in ckpt:
        adopt_run_settings(cfg, ckpt["config"], ckpt_path, RESUME_FIXED, RESUME_ADOPTED, set_in)
    resolve_data_seed(cfg, ckpt)
    if cfg.wandb_log and not cfg.wandb_run_id:  # kept in config.json and checkpoints: resuming continues this run
        cfg.wandb_run_id = secrets.token_hex(8)
    # the dataset's tokenizer, kept in config.json and checkpoints; a resumed run must train on the same one
    trained_on = ckpt.get("tokenizer") if ckpt else None
    tokenizer = check_tokenizer(trained_on, cfg.data_dir, cfg.dataset, ckpt_path) or trained_on
    # how the run began survives resumes: config.json and checkpoints keep init_from/inherit_*
    origin = ckpt["config"] if ckpt else cfg_dict
    run_config = {**vars(cfg), **{k: origin.get(k, cfg_dict[k]) for k in ORIGIN_KEYS}}
    if run_config["init_from"] == "pretrained":  # the model flags it began with, which the source's shape overrode
        run_config["pretrained_flags"] = origin.get("pretrained_flags", {k: cfg_dict[k] for k in MODEL_KEYS})
    model = raw_model.to(d.device)
    select_attention(cfg.attention, d.device)
    optimizer = model.configure_optimizer(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2),
                                          d.device.split(":")[0], cfg.decay_embeddings)
    step, elapsed_before, clipped_before, resumed = 0, 0.0, 0, False
    if ckpt is not None:
        resumed = "optimizer" in ckpt
        if "optimizer" in ckpt:
            optimizer.load_state_dict(ckpt["optimizer"])
        # a stacked checkpoint (inherit.py --stack) carries its source's clipped steps without optimizer state
        step, elapsed_before, clipped_before = ckpt["step"], ckpt.get("elapsed_s", 0.0), ckpt.get("clipped_steps", 0)
    if cfg.compile:
        model = torch.compile(model, mode=cfg.compile_mode)
    eval_model = model
    if d.world_size > 1:
        model = DDP(model, device_ids=[d.local_rank] if d.device.startswith("cuda") else None,
                    gradient_as_bucket_view=True)
    return Prepared(raw_model=raw_model, model=model, eval_model=eval_model, optimizer=optimizer, step=step,
                    elapsed_before=elapsed_before, clipped_before=clipped_before, resumed=resumed, manifest=manifest,
                    run_config=run_config, tokenizer=tokenizer,
                    teacher=load_teacher(cfg, d.device, ckpt.get("teacher") if ckpt else None))


def main(argv=None):
    """Train (or with eval_only, evaluate) as configured by argv; returns the final val loss."""
    set_in = {}  # where each setting the user set came from: on resume, only the others come from the checkpoint
    cfg_dict = load_config(DEFAULTS, sys.argv[1:] if argv is None else argv, CHOICES, set_in)
    check_settings(cfg_dict)
    d = setup_distributed(cfg_dict["device"], cfg_dict["backend"])
    try:
        with ExitStack() as held:  # the run directory's lock and signal handlers, released however run ends
            return run(cfg_dict, d, held, set_in)
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (start-up, final files): every write is atomic
        raise SystemExit("interrupted (Ctrl-C); run the same command again (--init_from=resume continues from the "
                         "last checkpoint)" if d.master else 1) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def refuse_to_overwrite(cfg, out_dir):
    """A run that does not resume never replaces another's checkpoint or result (eval_only neither: it would score
    another model than the run's)."""
    if cfg.init_from == "resume":
        return
    for name in ("ckpt.pt", "result.json"):
        if (out_dir / name).exists():
            raise SystemExit(f"{out_dir / name} already exists: {'evaluate' if cfg.eval_only else 'continue'} it "
                             "with --init_from=resume, or choose another out_dir (nothing was overwritten)")


def run(cfg_dict, d, held, set_in=None):
    """Train (or with eval_only, evaluate) the run cfg_dict describes; returns the final val loss. `held` keeps the
    run directory's lock, the tracker and the signal handlers until the run ends, however it ends."""
    cfg = SimpleNamespace(**cfg_dict)
    out_dir = Path(cfg.out_dir)
    refuse_to_overwrite(cfg, out_dir)
    state = prepare(cfg, d, out_dir / "ckpt.pt", set_in)
    ctx = autocast_context(d.device, cfg.dtype)
    train_data, val_data = load_tokens(cfg, "train", d.master), load_tokens(cfg, "val", d.master)
    if len(val_windows(val_data, cfg)) == 0:
        raise ConfigError(f"eval_tokens={cfg.eval_tokens} holds no validation window of block_size="
                          f"{cfg.block_size} tokens; use 0 (all of val.bin) or at least {cfg.block_size + 1}")
    if cfg.eval_only:  # reads the run and writes only eval.json: no writer's lock, no batch to split
        return evaluate_only(state, val_data, cfg, d, ctx)
    accum = accumulation_steps(cfg, d.world_size)
    if d.master:
        take_run_dir(cfg, state.raw_model, accum, d, held)
    if state.step > cfg.max_iters:  # the loop stops at step == max_iters: it would never stop
        raise ConfigError(f"max_iters={cfg.max_iters} is below step {state.step}, where this run starts; "
                          f"set --max_iters={state.step} or more")
    log = start_records(cfg, state, d, held)
    loop = Loop(cfg, d, state, log, held.enter_context(StopSignals(d.master)), val_data, ctx)
    step = state.step
    val_loss = loop.at_step(step, {})  # where the run starts: nothing trained yet
    while step < cfg.max_iters:
        lr = lr_at(step, cfg)
        loss, grad_norm = train_step(state.model, state.optimizer, train_batches(train_data, cfg, step, accum, d),
                                     accum, ctx, lr, cfg.grad_clip, dropout_seed(cfg, step, d.rank), cfg.grad_scale,
                                     state.teacher)
        step += 1
        loop.count(step, loss, grad_norm)
        record = loop.log_record(step, lr, loss, grad_norm) if step % cfg.log_interval == 0 else {}
        val_loss = loop.at_step(step, record)
    if d.master:
        write_run_json(out_dir / "result.json", loop.result(step, val_loss))
    return val_loss


def evaluate_only(state, val_data, cfg, d, ctx):
    """eval_only: the run's model scored on the validation windows and recorded in eval.json (atomically); the run's
    other files are left as they are."""
    out_dir = Path(cfg.out_dir)
    val_loss = evaluate(state.eval_model, val_data, cfg, d, ctx)
    if not math.isfinite(val_loss):
        stop_every_rank(f"non-finite validation loss ({val_loss}) of the model in {out_dir}: its weights "
                        "or the data are broken", d)
    if d.master:
        evaluation = {"step": state.step, "val_loss": val_loss, "eval_tokens": cfg.eval_tokens, "dataset": cfg.dataset,
                      "world_size": d.world_size}
        out_dir.mkdir(parents=True, exist_ok=True)
        write_run_json(out_dir / "eval.json", evaluation)
        print(json.dumps(evaluation), flush=True)
    return val_loss


def take_run_dir(cfg, raw_model, accum, d, held):
    """The master's claim on out_dir: its lock (held until the run ends), a second look for a run that finished there
    meanwhile, a warning if the disk cannot hold a checkpoint, and the run's shape printed."""
    out_dir = Path(cfg.out_dir)
    held.enter_context(lock_run_dir(out_dir))
    refuse_to_overwrite(cfg, out_dir)  # again: another run may have finished here since the first look
    warn_if_disk_is_short(out_dir, raw_model)
    print(f"{raw_model.num_params() / 1e6:.2f}M parameters, {raw_model.config.n_layer} layers | "
          f"global batch {cfg.tokens_per_step} tokens = micro-batch {cfg.batch_size} x block "
          f"{cfg.block_size} x accumulation {accum} x world {d.world_size} | {d.device}", flush=True)


def start_records(cfg, state, d, held):
    """The run's records begun: config.json (its settings, the commit, the model's size), log.jsonl (emptied, or on
    resume cut back to the checkpoint's step) and, with wandb_log, the tracked run (held until the run ends)."""
    log = RunLog(cfg.out_dir, d.master)
    described = {**state.run_config, "git_commit": git_commit(), "num_params": state.raw_model.num_params(),
                 "world_size": d.world_size, "device": d.device, "tokenizer": state.tokenizer}
    log.start(described, state.step if state.resumed else None)
    log.tracker = held.enter_context(tracking(cfg, described, d.master))
    return log


class Pace:
    """The run's clock: time elapsed (earlier processes' included), time left at this process's pace, and training
    throughput over a window that restarts after each log, evaluation and save (they are not training)."""

    def __init__(self, elapsed_before, first_step):
        self.elapsed_before, self.first_step = elapsed_before, first_step
        self.started = self.window_start = time.time()
        self.window_step = first_step

    def elapsed(self):
        return self.elapsed_before + time.time() - self.started

    def eta_s(self, step, max_iters):
        """Seconds left at this process's pace so far (None before its first step)."""
        done = step - self.first_step
        return (time.time() - self.started) / done * (max_iters - step) if done > 0 else None

    def tokens_per_s(self, step, tokens_per_step):
        return (step - self.window_step) * tokens_per_step / (time.time() - self.window_start)

    def restart_window(self, step):
        self.window_start, self.window_step = time.time(), step


class Loop:
    """What the training loop does at each step it reaches (evaluate, log, check, save, stop if asked) and what it
    carries from step to step: the clock, the clipped steps and the first non-finite one (both kept on the device: no
    host sync per step), and the last step saved."""

    def __init__(self, cfg, d, state, log, signals, val_data, ctx):
        self.cfg, self.d, self.state, self.log, self.signals = cfg, d, state, log, signals
        self.val_data, self.ctx = val_data, ctx
        self.ckpt_path = Path(cfg.out_dir) / "ckpt.pt"
        self.resumed_step = state.step if state.resumed else None
        self.pace = Pace(state.elapsed_before, state.step)
        self.clipped_steps = torch.tensor(state.clipped_before, device=d.device)
        self.first_bad = torch.tensor(NEVER, device=d.device)
        self.saved_at = state.step if self.ckpt_path.exists() else None
        device_name = torch.cuda.get_device_name(d.device) if d.device.startswith("cuda") else "cpu"
        self.peak = peak_flops(device_name, cfg.peak_tflops)
        self.flops_per_token = state.raw_model.flops_per_token()

    def count(self, step, loss, grad_norm):
        """The step just trained into `step`: whether it clipped, and whether its loss or gradient norm is finite."""
        if self.cfg.grad_clip > 0:
            self.clipped_steps += grad_norm > self.cfg.grad_clip
        self.first_bad = note_non_finite(self.first_bad, loss, grad_norm, step)

    def log_record(self, step, lr, loss, grad_norm):
        """The log record of the step just trained."""
        cfg, d, teacher = self.cfg, self.d, self.state.teacher
        train_loss = mean_across_ranks(loss, d).item()  # host syncs: at log, eval and save steps only
        tokens_per_s = self.pace.tokens_per_s(step, cfg.tokens_per_step)
        mfu = tokens_per_s / d.world_size * self.flops_per_token / self.peak if self.peak else None
        norm = grad_norm.item()
        record = dict(lr=lr, train_loss=train_loss, grad_norm=norm, clipped=0 < cfg.grad_clip < norm,
                      tokens_per_s=tokens_per_s, mfu=mfu)
        if teacher is not None:  # the mix's two parts: how far from the data, and from the teacher
            data_loss, kl = mean_across_ranks(teacher.last_parts, d).tolist()
            record.update(data_loss=data_loss, distill_kl=kl)
        self.pace.restart_window(step)
        return record

    def at_step(self, step, record):
        """At a step reached (the first included): evaluate, log `record` (the trained step's, {} if not logged), check,
        save, and stop if asked to before max_iters. Returns the validation loss (None where not evaluated)."""
        cfg, resumed_step = self.cfg, self.resumed_step
        evaluating = (step % cfg.eval_interval == 0 and step != resumed_step) or step == cfg.max_iters
        saving = evaluating or (cfg.ckpt_interval > 0 and step % cfg.ckpt_interval == 0 and step != resumed_step)
        val_loss = evaluate(self.state.eval_model, self.val_data, cfg, self.d, self.ctx) if evaluating else None
        if evaluating:
            record = {**record, "val_loss": val_loss}
        if record and step != resumed_step:  # a resumed finished run has logged its final step already
            self.log.write(step=step, tokens=step * cfg.tokens_per_step, **record, elapsed_s=self.pace.elapsed(),
                           eta_s=self.pace.eta_s(step, cfg.max_iters))
        # check points: every log, eval and save step on all ranks alike, and any step of a signalled single process
        stopping = False
        if record or saving or (self.signals.received and self.d.world_size == 1):
            stopping = self.check(step, val_loss)
        if saving or stopping:
            self.save(step)
        if stopping and step < cfg.max_iters:
            self.stop(step)
        return val_loss

    def check(self, step, val_loss):
        """Every rank stops at a non-finite loss or gradient norm (any rank's) or validation loss; returns whether any
        rank was asked to stop."""
        bad_step, stopping = agree(self.first_bad, self.signals.received is not None, self.d)
        if bad_step is not None or not math.isfinite(0.0 if val_loss is None else val_loss):
            kept = f"{self.ckpt_path} (step {self.saved_at}) is kept" if self.saved_at is not None else \
                "no checkpoint was written"
            where = f"training loss or gradient norm at step {bad_step}" if bad_step is not None else \
                f"validation loss at step {step}"
            stop_every_rank(f"non-finite {where}: stopped; {kept}. Resume it with --init_from=resume (e.g. "
                            "after fixing the data) or start a new out_dir with a lower learning_rate", self.d)
        return stopping

    def save(self, step):
        state = self.state
        if self.d.master:
            save_checkpoint(self.ckpt_path, state.raw_model, state.run_config, step, state.optimizer,
                            self.pace.elapsed(), state.manifest, clipped_steps=int(self.clipped_steps),
                            tokenizer=state.tokenizer, teacher=state.teacher and state.teacher.identity)
        self.saved_at = step
        self.pace.restart_window(step)

    def stop(self, step):
        if self.d.world_size > 1:
            dist.barrier()  # the other ranks wait for the master's save
        stop_every_rank(f"stopped by {self.signals.received or 'a signal on another rank'} at step {step}; saved "
                        f"{self.ckpt_path}. Resume with the same command and --init_from=resume", self.d)

    def result(self, step, val_loss):
        """result.json: the finished run's final numbers."""
        return {"step": step, "tokens": step * self.cfg.tokens_per_step, "val_loss": val_loss,
                "num_params": self.state.raw_model.num_params(), "elapsed_s": self.pace.elapsed(),
                "clip_rate": int(self.clipped_steps) / step if step else 0.0}


if __name__ == "__main__":
    main()
