"""What train.py's step costs beyond a plain loop's on a CPU, lever by lever, in one process (bench.py --cpu's
follow-up: whole processes of one command differ in step time by several percent, more than any lever).

    OMP_NUM_THREADS=1 python -m results.cpu_levers --out=FILE.json   # from the repo root; any train.py key after

At the study's shape (bench.py's CPU_SHAPE) two copies of train.py's model and optimizer, equal at the start, step
in turn on the same batches, one by the plain loop's step (bench.plain_step) and one by train.py's
(train.train_step: the dropout seed, forward_backward's loss sum, clip_and_step); CPU time per step, median over
--steps steps each. Beside that, each of train.py's per-step extras is timed alone over many calls: the dropout
seed, clip_and_step over clip_grad_norm_ + step (on a real step's gradients), Loop.count, Loop.at_step at a step
that neither logs nor evaluates, and Loop.log_record with its JSONL line (once per log_interval steps).
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext, redirect_stdout
from copy import deepcopy
from pathlib import Path
from types import SimpleNamespace

import torch

import bench
import train
from data import train_batches
from guards import NEVER
from run_records import RunLog


def in_turn(calls, n, warmup=0, before=lambda i: None):
    """CPU ms of each call(i), median over n calls after `warmup`, the calls taking turns (which goes first
    alternates); before(i) runs untimed ahead of each."""
    times = {name: [] for name in calls}
    for i in range(warmup + n):
        for name in sorted(calls, reverse=bool(i % 2)):
            before(i)
            t0 = time.process_time()
            calls[name](i)
            if i >= warmup:
                times[name].append((time.process_time() - t0) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def steps_in_turn(setup, steps, warmup):
    """CPU ms per step of the plain step and of train.train_step on two equal copies of the model and optimizer,
    taking turns on the same batches."""
    cfg, d, plain_model, plain_opt, accum, data = setup
    model = deepcopy(plain_model)
    opt = bench.plain_optimizer(model, cfg, d)
    batches = lambda step: train_batches(data, cfg, step, accum, d)  # noqa: E731
    return in_turn({"plain": lambda step: bench.plain_step(plain_model, plain_opt, batches(step), accum,
                                                           train.lr_at(step, cfg), cfg.grad_clip),
                    "train": lambda step: train.train_step(model, opt, batches(step), accum, nullcontext(),
                                                           train.lr_at(step, cfg), cfg.grad_clip,
                                                           train.dropout_seed(cfg, step, 0))}, steps, warmup)


def lever_ms(setup, out_dir, calls):
    """Each per-step extra of train.py alone, in CPU ms per training step (median over `calls` calls), and the sum of
    those train.py pays at cfg (no seeding without dropout)."""
    cfg, d, model, opt, accum, data = setup
    params = [p for group in opt.param_groups for p in group["params"]]

    def backward(i):  # a real step's gradients for the clip and step under test
        opt.zero_grad(set_to_none=True)
        train.forward_backward(model, train_batches(data, cfg, i, accum, d), accum, nullcontext())
    clips = in_turn({"ours": lambda i: train.clip_and_step(opt, cfg.grad_clip),
                     "plain": lambda i: (torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip), opt.step())},
                    calls // 10, before=backward)
    loss, norm = torch.tensor(3.0), torch.tensor(0.5)
    loop = SimpleNamespace(cfg=cfg, d=d, clipped_steps=torch.tensor(0), first_bad=torch.tensor(NEVER),
                           resumed_step=None, signals=SimpleNamespace(received=None),
                           state=SimpleNamespace(teacher=None), pace=train.Pace(0.0, 0), flops_per_token=1, peak=None,
                           log=RunLog(out_dir, True))
    quiet_step = next(s for s in range(1, cfg.max_iters) if s % cfg.eval_interval and s % cfg.log_interval and
                      not (cfg.ckpt_interval > 0 and s % cfg.ckpt_interval == 0))

    def log_line(i):  # its printed line goes to the null device, as to a log file
        record = train.Loop.log_record(loop, 50, 1e-3, loss, norm)
        with open(os.devnull, "w") as null, redirect_stdout(null):
            loop.log.write(step=50, tokens=50 * cfg.tokens_per_step, **record, elapsed_s=loop.pace.elapsed(),
                           eta_s=loop.pace.eta_s(50, cfg.max_iters))
    with_dropout = SimpleNamespace(seed=cfg.seed, dropout=0.1)  # train.py seeds a step only where it has dropout
    extras = in_turn({"seed": lambda i: torch.manual_seed(train.dropout_seed(with_dropout, i, 0)),
                      "count": lambda i: train.Loop.count(loop, i, loss, norm),
                      "at_step": lambda i: train.Loop.at_step(loop, quiet_step, {}),
                      "log": log_line}, calls)
    seeding = "dropout seed (SeedSequence) and torch.manual_seed" + ("" if cfg.dropout else ": skipped at dropout=0")
    levers = {seeding: extras["seed"],
              "clip_and_step over clip_grad_norm_ + step": clips["ours"] - clips["plain"],
              "Loop.count (clip count, non-finite guard)": extras["count"],
              "Loop.at_step at a step that neither logs nor evaluates": extras["at_step"],
              f"Loop.log_record and its JSONL line, once per {cfg.log_interval} steps":
                  extras["log"] / cfg.log_interval}
    return levers, sum(levers.values()) - (0.0 if cfg.dropout else extras["seed"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=200, help="timed steps of each side, taking turns")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--calls", type=int, default=2000, help="timed calls of each lever (of the clip: a tenth)")
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args, overrides = p.parse_known_args(argv)
    shape = [str(bench.CPU_SHAPE), *overrides]
    setup = bench.plain_setup(shape)
    steps = steps_in_turn(setup, args.steps, args.warmup)
    plain_ms, train_ms = steps["plain"], steps["train"]
    with tempfile.TemporaryDirectory() as tmp:
        levers, paid = lever_ms(setup, tmp, args.calls)
    rows = [("plain step (bench.plain_step)", plain_ms), ("train.train_step", train_ms),
            ("train.train_step over the plain step", train_ms - plain_ms), *levers.items(),
            ("train.py's per-step extras (the levers above it pays, summed)", paid)]
    print(f"| CPU, one thread ({torch.get_num_threads()}), torch {torch.__version__}: {' '.join(shape)} "
          "| ms per step | of the plain step |\n|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} | {ms / plain_ms:.2%} |")
    if args.out:
        args.out.write_text(json.dumps({"bench": "cpu-levers", "date": datetime.date.today().isoformat(),
                                        "torch": torch.__version__, "argv": shape, "steps": args.steps,
                                        "ms_per_step_cpu": dict(rows)}, indent=1) + "\n")
    return dict(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
