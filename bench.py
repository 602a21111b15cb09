"""Time train.py's own training step (prepare, train_batches, train_step) and print JSON lines.

    python bench.py                  # GPU: gpt2m-24L, gpt2l-36L, gpt2l-18L: block 1024, the configs' micro-batch
    python bench.py --smoke          # CPU: config/tiny_cpu.py, a few steps (the tests run this)
    python bench.py --only gpt2l-36L --batch_size=8 --compile=False   # one model, train.py overrides

Each line: ms/iter, tokens/s and MFU (nanoGPT's 6N + 12·L·d·T FLOPs per token, and llm.c's 6N + 6·L·d·T as
mfu_llmc) with real memmap batches (data/<dataset>/train.bin), tokens/s
with synthetic tokens already on the device (their ratio shows whether the loader keeps up),
peak memory, compile time (first step minus a steady one), GPU name and torch version.
One optimizer step is one micro-batch (no accumulation) unless --accum says otherwise.
"""

import argparse
import datetime
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from configurator import load_config
from data import load_tokens, train_batches
from model import peak_flops
from settings import CHOICES, DEFAULTS
from train import accumulation_steps, autocast_context, dropout_seed, prepare, setup_distributed, train_step

CONFIG = Path(__file__).resolve().parent / "config"
BENCHES = {
    "gpt2m-24L": CONFIG / "gpt2m_baseline24.py",
    "gpt2l-36L": CONFIG / "gpt2l_baseline36.py",
    "gpt2l-18L": CONFIG / "gpt2l_scratch18.py",
}
SMOKE = {"tiny-cpu": CONFIG / "tiny_cpu.py"}


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny CPU version")
    p.add_argument("--only", choices=tuple(BENCHES) + tuple(SMOKE), help="one model only")
    p.add_argument("--warmup", type=int, default=0, help="steps after the first (default 10; 1 with --smoke)")
    p.add_argument("--iters", type=int, default=0, help="timed steps (default 20; 2 with --smoke)")
    p.add_argument("--accum", type=int, default=1,
                   help="micro-batches per optimizer step (default 1, as the anchors; the paper's "
                        "gpt2m config on 8 GPUs does 3)")
    p.add_argument("--profile", action="store_true", help="add device time per kernel category and top kernels")
    args, overrides = p.parse_known_args(argv)
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
