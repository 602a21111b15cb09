"""The paper's GPT-2 comparisons at small scale, on the built-in corpus, on CPU.

    python study.py             # 3 seeds, about an hour on 2 cores; writes results/
    python study.py --quick     # a few steps and one seed: checks the pipeline (the tests run it)

Per seed: a K-layer reference trained T steps; Inheritune grown from n = K/2 until it matches
the reference; the same n-layer model from scratch for T and 2T steps. Once: the four
ablation presets at n = 2K/3. Every model uses the reference's hyperparameters and the
deterministic evaluator; inherited models take the blocks and the token embedding (the paper's
default) and, like the scratch models they are compared with, train on another batch order than
their reference (data_seed: the reference's + 1). Interrupted, rerun the same command: finished runs are skipped.
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

import inherit
from configurator import load_config
from plots.plot_ablation import plot_ablation
from plots.plot_grow import plot_grow
from plots.plot_runs import plot_runs
from plots.report import report_table
from prepare_openwebtext import prepare_builtin, write_json_atomically
from train import DEFAULTS

HERE = Path(__file__).resolve().parent
PRESETS = ("attn_ln", "mlp_ln", "attn_mlp_noln", "full")
FULL = dict(n_layer=12, max_iters=100, eval_interval=50, eval_tokens=16384, seeds=(0, 1, 2))
QUICK = dict(n_layer=4, max_iters=2, eval_interval=2, eval_tokens=512, seeds=(0,))


def study_settings(quick):
    """The reference's training config: config/builtin_reference.py at the study's depth and T."""
    s = QUICK if quick else FULL
    cfg = load_config(DEFAULTS, [str(HERE / "config" / "builtin_reference.py")])
    cfg.update(n_layer=s["n_layer"], max_iters=s["max_iters"], eval_interval=s["eval_interval"],
               eval_tokens=s["eval_tokens"], log_interval=10)
    return inherit.reference_overrides(cfg), s["seeds"]


def run(base, out_dir, **changes):
    """Train one model of the study (skipped when already finished) and return its run dir."""
    launch = inherit.parse_args(["--grow-until-baseline"])  # plain single-process launcher
    inherit.run_training(launch, {**base, **changes}, str(out_dir))
    return out_dir


def control_data_seed(ref_dir):
    """The batch order of the models inherited from this reference, for the scratch runs compared with them."""
    return inherit.target_data_seed(json.loads((Path(ref_dir) / "config.json").read_text()))


def grow(ref_dir, grow_dir):
    return inherit.grow_until_baseline(
        inherit.parse_args(["--grow-until-baseline", "--reference-run", str(ref_dir), "--out", str(grow_dir)]))


def headline_runs(base, seeds, out):
    """Reference, grow loop, and scratch T / 2T at the depth Inheritune needed, for every seed."""
    K, T = base["n_layer"], base["max_iters"]
    refs = {s: run(base, out / f"seed{s}" / "reference", seed=s) for s in seeds}
    stops = {s: grow(refs[s], out / f"seed{s}" / "grow") for s in seeds}
    # the depth compared with scratch: the deepest any seed needed (K-2 if none matched)
    n = max((v for v in stops.values() if v), default=None) or K - 2
    groups = {"reference": [], "inheritune": [], "scratch_T": [], "scratch_2T": []}
    for s in seeds:
        inherit_cfg = {"init_from": "inherit", "inherit_from": str(refs[s] / "ckpt.pt"), "n_layer": n, "seed": s}
        groups["reference"].append(refs[s])
        groups["inheritune"].append(run(base, out / f"seed{s}" / "grow" / f"n{n:02d}", **inherit_cfg))
        scratch = dict(n_layer=n, seed=s, data_seed=control_data_seed(refs[s]))
        groups["scratch_T"].append(run(base, out / f"seed{s}" / f"scratch{n}_T", **scratch))
        groups["scratch_2T"].append(run(base, out / f"seed{s}" / f"scratch{n}_2T", **scratch, max_iters=2 * T))
    return n, stops, groups


def ablation_runs(base, seed, out):
    """The four presets at n = 2K/3 and, to compare them with, the same depth from scratch."""
    K = base["n_layer"]
    n = round(2 * K / 3)
    ref = out / f"seed{seed}" / "reference"
    presets = [run(base, out / f"seed{seed}" / f"ablate_{p}_n{n}", init_from="inherit", n_layer=n, seed=seed,
                   inherit_from=str(ref / "ckpt.pt"), inherit_parts=p) for p in PRESETS]
    return n, presets, run(base, out / f"seed{seed}" / f"scratch{n}_T", n_layer=n, seed=seed,
                           data_seed=control_data_seed(ref))


def result(run_dir):
    return json.loads((Path(run_dir) / "result.json").read_text())


def cpu_name():
    """The processor's model name where Linux says it, else what platform knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def write_results(results_dir, base, seeds, n, stops, groups, n_abl, ablations, scratch_abl, wall_s, command):
    """results/study.md (tables, setup) and results/*.png, plus the numbers as results.json."""
    results_dir.mkdir(parents=True, exist_ok=True)
    s0 = seeds[0]
    plot_runs([str(groups[g][0]) for g in groups], results_dir / "curves.png",
              title=f"seed {s0}: Inheritune {n}L vs scratch {n}L (T, 2T) vs {base['n_layer']}L reference")
    plot_grow(str(Path(groups["reference"][0]).parent / "grow"), results_dir / "grow.png")
    plot_ablation([str(d) for d in ablations + [scratch_abl]], results_dir / "ablation.png",
                  baseline_run=str(groups["reference"][0]), title=f"parts inherited, {n_abl} of {base['n_layer']} blocks")
    numbers = {g: [result(d)["val_loss"] for d in dirs] for g, dirs in groups.items()}
    numbers["ablation"] = {p: result(d)["val_loss"] for p, d in zip(PRESETS, ablations)}
    numbers["ablation"]["scratch"] = result(scratch_abl)["val_loss"]
    every_run = set(map(str, [d for dirs in groups.values() for d in dirs] + ablations + [scratch_abl]))
    train_s = sum(result(d)["elapsed_s"] for d in every_run)
    write_json_atomically(results_dir / "results.json", {
        "command": command, "seeds": list(seeds), "K": base["n_layer"], "T": base["max_iters"], "n": n,
        "grow_stopped_at": {str(k): v for k, v in stops.items()}, "final_val_loss": numbers,
        "train_s": train_s, "wall_s": wall_s})
    all_headline = [str(d) for dirs in groups.values() for d in dirs]
    md = [
        "# Inheritune at small scale: the paper's GPT-2 comparisons on the built-in corpus\n",
        f"Command: `{command}`  ",
        f"Seeds: {', '.join(map(str, seeds))}; K = {base['n_layer']} layers, T = {base['max_iters']} steps of "
        f"{base['tokens_per_step']:,} tokens; d = {base['n_embd']}, {base['n_head']} heads, block {base['block_size']}; "
        f"validation: the first {base['eval_tokens']:,} tokens of data/builtin/val.bin, deterministic.  ",
        f"Hardware: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU only. Time: "
        f"{train_s / 60:.1f} min training and evaluating the {len(every_run)} models (their elapsed_s); "
        f"{wall_s / 60:.1f} min this invocation (finished runs are reused).\n",
        f"## Headline (mean ± std over {len(seeds)} seed(s))\n",
        f"Grow until baseline stopped at n = {', '.join(f'{v} (seed {k})' for k, v in stops.items())}; "
        f"the comparison uses n = {n}.\n",
        report_table(all_headline, aggregate=True), "",
        f"## Ablation: which parts of each block are inherited ({n_abl} of {base['n_layer']} blocks, seed {s0})\n",
        report_table([str(d) for d in ablations + [scratch_abl]]), "",
        "![loss curves](curves.png)\n", "![grow until baseline](grow.png)\n", "![ablation](ablation.png)\n",
    ]
    (results_dir / "study.md").write_text("\n".join(md) + "\n")
    print((results_dir / "study.md").read_text())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few steps, one seed")
    p.add_argument("--out", default="", help="run directories (default out/study or out/study_quick)")
    p.add_argument("--results", default="", help="tables and figures (default results/ or OUT/results)")
    args = p.parse_args(argv)
    out = Path(args.out or ("out/study_quick" if args.quick else "out/study"))
    results_dir = Path(args.results or (out / "results" if args.quick else "results"))
    command = shlex.join(["python", "study.py"] + (sys.argv[1:] if argv is None else argv))
    t0 = time.time()
    prepare_builtin()
    base, seeds = study_settings(args.quick)
    n, stops, groups = headline_runs(base, seeds, out)
    n_abl, ablations, scratch_abl = ablation_runs(base, seeds[0], out)
    write_results(results_dir, base, seeds, n, stops, groups, n_abl, ablations, scratch_abl,
                  time.time() - t0, command)


if __name__ == "__main__":
    main()
