"""Time train.py's own training step (prepare, train_batches, train_step) and print JSON lines.

    python bench.py                  # GPU: gpt2m-24L, gpt2l-36L, gpt2l-18L: block 1024, the configs' micro-batch
    python bench.py --smoke          # CPU: config/tiny_cpu.py, a few steps (the tests run this)
    python bench.py --only gpt2l-36L --batch_size=8 --compile=False   # one model, train.py overrides
    python bench.py --cpu            # CPU: train.py's step over a plain loop's, at the study's shape, one thread

Each line: ms/iter, tokens/s and MFU (nanoGPT's 6N + 12·L·d·T FLOPs per token, and llm.c's 6N + 6·L·d·T as
mfu_llmc) with real memmap batches (data/<dataset>/train.bin), tokens/s
with synthetic tokens already on the device (their ratio shows whether the loader keeps up),
peak memory, compile time (first step minus a steady one), GPU name and torch version.
One optimizer step is one micro-batch (no accumulation) unless --accum says otherwise.

--cpu runs train.py and a plain loop (forward, backward, clip, AdamW step on the same model, optimizer and
batches, as nanoGPT's train.py does) as processes of one thread, each for WARMUP and WARMUP + ITERS steps: the
difference is the cost of ITERS steps without start-up, evaluation or checkpoint, and train.py's over the plain
loop's is the overhead of its step (guards, clip counting, logging). The whole process's ratio is printed too.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import torch

from configurator import load_config
from data import load_tokens, resolve_vocab_size, train_batches
from model import peak_flops
from settings import CHOICES, DEFAULTS
from train import (accumulation_steps, autocast_context, build_model, dropout_seed, lr_at, prepare,
                   resolve_data_seed, setup_distributed, train_step)

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "config"
BENCHES = {
    "gpt2m-24L": CONFIG / "gpt2m_baseline24.py",
    "gpt2l-36L": CONFIG / "gpt2l_baseline36.py",
    "gpt2l-18L": CONFIG / "gpt2l_scratch18.py",
}
SMOKE = {"tiny-cpu": CONFIG / "tiny_cpu.py"}
CPU_SHAPE = CONFIG / "study_pcfg.py"  # the depth regime's reference: 8 blocks of 64, 32 x 128 tokens a step


def synchronize(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed_steps(step_fn, n, device):
    """Seconds per step over n steps; the loss is read once at the end (one host sync)."""
    synchronize(device)
    t0 = time.perf_counter()
    for i in range(n):
        loss, _ = step_fn(i)
    loss.item()
    synchronize(device)
    return (time.perf_counter() - t0) / n


# kernel-name patterns for --profile's summary; the first match names a kernel's category
CATEGORIES = (
    ("attention", r"flash|fmha|attention|sdpa|cudnn"),
    ("matmul", r"gemm|xmma|nvjet|cutlass|cublas|aten::(add|b)?mm\b"),
    ("optimizer", r"adam|multi_tensor|foreach"),
    ("fused (inductor)", r"triton"),
)


def category(kernel):
    return next((cat for cat, pattern in CATEGORIES if re.search(pattern, kernel, re.I)), "other")


def profile_kernels(step_fn, device, steps=3, top=20):
    """Device time per step by kernel category and for the top kernels, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile
    cuda = device.startswith("cuda")
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        timed_steps(step_fn, steps, device)
    kind = torch.autograd.DeviceType.CUDA if cuda else torch.autograd.DeviceType.CPU
    times = {}  # kernel name -> device ms per step
    for e in prof.key_averages():
        ms = (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1e3 / steps
        if e.device_type == kind and ms > 0:
            times[e.key] = times.get(e.key, 0.0) + ms
    total = sum(times.values()) or 1.0
    by_category = {}
    for kernel, ms in times.items():
        by_category[category(kernel)] = by_category.get(category(kernel), 0.0) + ms

    def share(ms):
        return {"ms": round(ms, 3), "share": round(ms / total, 4)}

    return {"device_ms_per_step": round(total, 2),
            "categories": {c: share(ms) for c, ms in sorted(by_category.items(), key=lambda kv: -kv[1])},
            "top_kernels": [{"kernel": k[:120], **share(ms)}
                            for k, ms in sorted(times.items(), key=lambda kv: -kv[1])[:top]]}


def bench(name, argv, warmup, iters, accum=1, profile=False):
    cfg = SimpleNamespace(**load_config(DEFAULTS, argv, CHOICES))
    cfg.tokens_per_step = cfg.batch_size * cfg.block_size * accum
    d = setup_distributed(cfg.device, cfg.backend)
    run_state = prepare(cfg, d, ckpt_path=None)
    raw_model, model, optimizer = run_state.raw_model, run_state.model, run_state.optimizer
    accum = accumulation_steps(cfg, d.world_size)
    ctx = autocast_context(d.device, cfg.dtype)
    data = load_tokens(cfg, "train")
    shape = (cfg.batch_size, cfg.block_size)
    fake = [(torch.randint(0, cfg.vocab_size, shape, device=d.device),
             torch.randint(0, cfg.vocab_size, shape, device=d.device))] * accum

    def step_on(batches_at):
        return lambda i: train_step(model, optimizer, batches_at(i), accum, ctx, cfg.learning_rate,
                                    cfg.grad_clip, dropout_seed(cfg, i, d.rank), cfg.grad_scale)

    real_step = step_on(lambda i: train_batches(data, cfg, i, accum, d))
    synthetic_step = step_on(lambda i: fake)

    if d.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(d.device)
    first = timed_steps(real_step, 1, d.device)  # includes torch.compile
    timed_steps(real_step, warmup, d.device)
    synthetic = timed_steps(synthetic_step, iters, d.device)
    real = timed_steps(real_step, iters, d.device)
    tokens_per_s = cfg.tokens_per_step / real
    device_name = torch.cuda.get_device_name(d.device) if d.device.startswith("cuda") else "cpu"
    peak = peak_flops(device_name, cfg.peak_tflops)
    result = {
        "bench": name, "date": datetime.date.today().isoformat(), "device": device_name, "torch": torch.__version__,
        "n_layer": cfg.n_layer,
        "n_embd": cfg.n_embd, "batch_size": cfg.batch_size, "block_size": cfg.block_size, "accum": accum,
        "compile": cfg.compile, "ms_per_iter": round(real * 1e3, 2), "tokens_per_s": round(tokens_per_s),
        "mfu": round(tokens_per_s * raw_model.flops_per_token() / peak, 4) if peak else None,
        "mfu_llmc": round(tokens_per_s * raw_model.flops_per_token(attention_factor=6) / peak, 4) if peak else None,
        "tokens_per_s_synthetic": round(cfg.tokens_per_step / synthetic),
        "real_over_synthetic": round(synthetic / real, 4),
        "peak_mem_gb": round(torch.cuda.max_memory_allocated(d.device) / 1e9, 2)
        if d.device.startswith("cuda") else None,
        "compile_s": round(max(0.0, first - real), 2),
        "attention": cfg.attention, "compile_mode": cfg.compile_mode,
    }
    if profile:
        result["profile"] = profile_kernels(real_step, d.device)
    return result


def plain_setup(argv):
    """train.py's config, devices, model (its own init), optimizer, accumulation and training tokens for `argv`."""
    cfg = SimpleNamespace(**load_config(DEFAULTS, argv, CHOICES))
    cfg.vocab_size = resolve_vocab_size(cfg)
    resolve_data_seed(cfg, None)
    d = setup_distributed(cfg.device, cfg.backend)
    model = build_model(cfg, None)[0].to(d.device)  # train.py's own init, so both start from the same weights
    return cfg, d, model, plain_optimizer(model, cfg, d), accumulation_steps(cfg, d.world_size), \
        load_tokens(cfg, "train")


def plain_optimizer(model, cfg, d):
    """train.py's AdamW for `model`, as configured by cfg."""
    return model.configure_optimizer(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2),
                                     d.device.split(":")[0], cfg.decay_embeddings)


def plain_step(model, optimizer, batches, accum, lr, grad_clip):
    """nanoGPT's step and nothing else: lr, forward and backward per micro-batch, clip, AdamW step."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    for x, y in batches:
        _, loss = model(x, y)
        (loss / accum).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def plain_loop(argv, steps):
    """The plain step on train.py's model, optimizer and batches for `steps` steps. Returns the model. --cpu's
    yardstick."""
    cfg, d, model, optimizer, accum, data = plain_setup(argv)
    for step in range(steps):
        plain_step(model, optimizer, train_batches(data, cfg, step, accum, d), accum, lr_at(step, cfg), cfg.grad_clip)
    return model


def timed_process(argv):
    """Wall and CPU seconds (user + system) of a child process on one thread; a failure ends in one line."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(argv, cwd=HERE, env={**os.environ, "OMP_NUM_THREADS": "1"},
                                 stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        if status:
            err.seek(0)
            last = (err.read().strip().splitlines() or ["(no output)"])[-1]
            raise SystemExit(f"bench.py --cpu: {' '.join(argv[1:3])} failed: {last}")
    return wall, usage.ru_utime + usage.ru_stime


def train_command(argv, runner=("train.py",)):
    """argv for train.py (or `runner`, which runs it) for n steps in out_dir, evaluating at the first and last."""
    return lambda n, out: [sys.executable, *runner, *argv, f"--max_iters={n}", f"--eval_interval={n}",
                           f"--out_dir={out}"]


def plain_command(argv):
    return lambda n, out: [sys.executable, "bench.py", f"--plain={n}", *argv]


def paired_runs(commands, warmup, iters, repeats, parallel=1):
    """Per repeat, side -> [(wall, CPU) seconds at `warmup` steps, at `warmup + iters` steps]; commands[side](n, dir)
    is the side's argv for n steps. `parallel` processes run at once (1: one after another, in order)."""
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(parallel) as pool:
        def repeat(r):
            jobs = {side: [pool.submit(timed_process, command(n, f"{tmp}/{side}_{r}_{n}"))
                           for n in (warmup, warmup + iters)] for side, command in commands.items()}
            return {side: [job.result() for job in side_jobs] for side, side_jobs in jobs.items()}
        return [repeat(r) for r in range(repeats)]


def step_ms(pair, side, iters, k=1):
    """ms per step of `side` in one repeat, from the difference of its two runs; k: 0 wall, 1 CPU."""
    short, long = pair[side]
    return (long[k] - short[k]) / iters * 1e3


def median_over(pairs, f):
    return round(statistics.median(f(p) for p in pairs), 3)


def cpu_step_ratio(argv, warmup, iters, repeats):
    """train.py's step time over the plain loop's (CPU and wall seconds, median of `repeats` paired runs), from
    each run at `warmup` and `warmup + iters` steps; evaluations at the first and last step only."""
    pairs = paired_runs({"train": train_command(argv), "plain": plain_command(argv)}, warmup, iters, repeats)
    return {"bench": "cpu-step", "date": datetime.date.today().isoformat(), "torch": torch.__version__,
            "argv": argv, "steps": [warmup, warmup + iters], "repeats": repeats,
            "train_ms_per_step_cpu": median_over(pairs, lambda p: step_ms(p, "train", iters)),
            "plain_ms_per_step_cpu": median_over(pairs, lambda p: step_ms(p, "plain", iters)),
            "ratio_cpu": median_over(pairs, lambda p: step_ms(p, "train", iters) / step_ms(p, "plain", iters)),
            "ratio_wall": median_over(pairs, lambda p: step_ms(p, "train", iters, 0) / step_ms(p, "plain", iters, 0)),
            "ratio_whole_process_cpu": median_over(pairs, lambda p: p["train"][1][1] / p["plain"][1][1]),
            "ratio_whole_process_wall": median_over(pairs, lambda p: p["train"][1][0] / p["plain"][1][0])}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny CPU version")
    p.add_argument("--cpu", action="store_true", help="train.py's CPU step over a plain loop's, at the study's "
                   f"shape ({CPU_SHAPE.relative_to(HERE)}); warm-up and timed steps default to 20 and 100")
    p.add_argument("--repeats", type=int, default=3, help="--cpu: paired runs, the median reported")
    p.add_argument("--plain", type=int, default=0, metavar="STEPS", help="only the plain loop, STEPS steps "
                   "(what --cpu times in a child process)")
    p.add_argument("--only", choices=tuple(BENCHES) + tuple(SMOKE), help="one model only")
    p.add_argument("--warmup", type=int, default=0, help="steps after the first (default 10; 1 with --smoke)")
    p.add_argument("--iters", type=int, default=0, help="timed steps (default 20; 2 with --smoke)")
    p.add_argument("--accum", type=int, default=1,
                   help="micro-batches per optimizer step (default 1, as the anchors; the paper's "
                        "gpt2m config on 8 GPUs does 3)")
    p.add_argument("--profile", action="store_true", help="add device time per kernel category and top kernels")
    args, overrides = p.parse_known_args(argv)
    if args.plain or args.cpu:
        shape = [str(CPU_SHAPE), *overrides]
        if args.plain:
            return plain_loop(shape, args.plain)
        result = cpu_step_ratio(shape, args.warmup or 20, args.iters or 100, args.repeats)
        print(json.dumps(result), flush=True)
        return [result]
    benches = SMOKE if args.smoke else BENCHES
    if args.only:
        benches = {args.only: {**BENCHES, **SMOKE}[args.only]}
    gpu_only = any(name in BENCHES for name in benches) and not any(o.startswith("--device=") for o in overrides)
    if gpu_only and not torch.cuda.is_available():
        raise SystemExit("bench.py times the paper's GPU models and torch sees no CUDA GPU; on a CPU run "
                         "python bench.py --smoke")
    warmup = args.warmup or (1 if args.smoke else 10)
    iters = args.iters or (2 if args.smoke else 20)
    common = ["--init_from=scratch", "--dataset=builtin"]  # each config's own micro-batch
    results = []
    for name, config in benches.items():
        result = bench(name, [str(config)] + common + overrides, warmup, iters, args.accum, args.profile)
        print(json.dumps(result), flush=True)
        results.append(result)
        torch._dynamo.reset()  # drop the compiled graphs (and the model they hold) before the next
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return results


if __name__ == "__main__":
    main()
