"""The paper's four claims at small scale, in the paper's regime: blocks hold most of the parameters,
the reference is trained to its plateau, every row has several seeds and every claim a paired test.

    OMP_NUM_THREADS=1 python study.py --jobs 3   # CPU: K=8, d=64, T=1,600 steps, 3 seeds side by side
                                                 # (estimated 1.9-2.3 h on 2 free cores)
    python study.py --preset gpu     # K=12, d=80, block 256: one H100/H200, seeds in parallel (--jobs 3)
    python study.py --quick          # tiny and one seed: checks the pipeline (the tests run it)

Data: the built-in corpus in its own 1,024-token BPE (data/builtin_bpe1024). Per seed (a seed sets the
initialisation and the data order): a K-block reference; the grow loop from K/2 by 2 inheriting the
blocks and the token embedding (= tied LM head), the paper's default; at the deepest n any seed needed:
Inheritune, Inheritune that also inherits wpe and ln_f, and scratch at depth n for T and 2T steps; at
n = 2K/3 the four ablation presets and scratch. Every run trains with the reference's recipe:
config/study_<preset>.py over train.py's defaults. Interrupted, rerun the same command: finished runs
are reused and unfinished ones resumed. Writes results/study.md (RESULTS/) with its figures.
"""

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

import inherit
from analyze import analyze
from configurator import load_config
from plots.plot_grow import plot_grow
from plots.plot_seeds import plot_seed_bars, plot_seed_curves
from prepare_openwebtext import builtin_name, prepare_builtin, read_meta, write_json_atomically
from train import DEFAULTS

HERE = Path(__file__).resolve().parent
BPE_VOCAB = 1024
PRESETS = {"cpu": "config/study_cpu.py", "gpu": "config/study_gpu.py"}
RESULTS = {"cpu": "results", "gpu": "results/gpu"}
SEEDS = (0, 1, 2)
# --quick: the same pipeline at a size that trains in seconds on a CPU, whatever the preset
QUICK = dict(n_layer=4, n_head=2, n_embd=16, block_size=32, batch_size=4, tokens_per_step=128, max_iters=4,
             warmup_iters=1, eval_interval=2, eval_tokens=1024, log_interval=2, device="cpu", compile=False)
PARTS = ("attn_ln", "mlp_ln", "attn_mlp_noln", "full")
PAPER_EMBEDDINGS = "wte"  # the released code inherits the token embedding (= tied LM head) only
ALL_EMBEDDINGS = "wte,wpe,ln_f"
MATCH_MARGIN = 0.02  # nats: "matches" means the paired 95% interval lies below +MATCH_MARGIN
PLATEAU_SHARE, PLATEAU_LIMIT = 0.2, 0.02  # the reference's last 20% of steps improve val loss by < 2%


def study_settings(preset, quick):
    """The reference's training config: train.py's defaults, the preset's config file, --quick's sizes."""
    cfg = load_config(DEFAULTS, [str(HERE / PRESETS[preset])])
    if quick:
        cfg.update(QUICK)
    if cfg["dataset"] != builtin_name(BPE_VOCAB):
        raise SystemExit(f"{PRESETS[preset]} trains on {cfg['dataset']}; the study prepares {builtin_name(BPE_VOCAB)}")
    return inherit.reference_overrides(cfg)


def seed_settings(seed):
    """What a study seed sets: the initialisation (`seed`) and the reference's data order (`data_seed`);
    the models compared with it train on the grow loop's order, the reference's + 1."""
    return {"seed": seed, "data_seed": seed}


def run(base, out_dir, **changes):
    """Train one model of the study (reused when finished, resumed when not); returns its run dir."""
    launch = inherit.parse_args(["--grow-until-baseline"])  # plain single-process launcher
    inherit.run_training(launch, {**base, **changes}, str(out_dir))
    return Path(out_dir)


def reference_and_grow(base, seed, out):
    """A seed's reference and its grow loop (blocks + wte inherited); returns where the loop stopped."""
    ref = run(base, out / f"seed{seed}" / "reference", **seed_settings(seed))
    return inherit.grow_until_baseline(inherit.parse_args(
        ["--grow-until-baseline", "--reference-run", str(ref), "--out", str(out / f"seed{seed}" / "grow"),
         "--embeddings", PAPER_EMBEDDINGS]))


def target_runs(seed_dir, n, n_abl):
    """A seed's models compared with its reference, trained with its grow loop's recipe (search.json),
    so seeds, data order and hyperparameters are the rounds'. Returns row name -> run dir."""
    recipe = json.loads((seed_dir / "grow" / "search.json").read_text())
    scratch = {**{k: v for k, v in recipe.items() if not k.startswith("inherit_")}, "init_from": "scratch"}

    def inherited(depth, parts="full", embeddings=PAPER_EMBEDDINGS):
        if (parts, embeddings) == ("full", PAPER_EMBEDDINGS):  # exactly a grow round: reuse or add it
            return run(recipe, seed_dir / "grow" / f"n{depth:02d}", n_layer=depth)
        name = f"inherit{depth}_{parts}_{embeddings.replace(',', '_')}"
        return run(recipe, seed_dir / name, n_layer=depth, inherit_parts=parts, inherit_embeddings=embeddings)

    rows = {"reference": seed_dir / "reference",
            "inheritune": inherited(n),
            "inheritune_wpe_lnf": inherited(n, embeddings=ALL_EMBEDDINGS),
            "scratch_T": run(scratch, seed_dir / f"scratch{n}_T", n_layer=n),
            "scratch_2T": run(scratch, seed_dir / f"scratch{n}_2T", n_layer=n, max_iters=2 * recipe["max_iters"])}
    rows.update({f"ablate_{p}": inherited(n_abl, parts=p) for p in PARTS})
    rows["ablate_scratch"] = run(scratch, seed_dir / f"scratch{n_abl}_T", n_layer=n_abl)
    return rows


def result(run_dir):
    return json.loads((Path(run_dir) / "result.json").read_text())


# ---- statistics -----------------------------------------------------------------------------

def t_quantile(p, df):
    from scipy.stats import t
    return float(t.ppf(p, df))


def paired(a, b):
    """a - b over seeds: per-seed differences, mean, std and a two-sided 95% t interval (None for 1 seed)."""
    d = [x - y for x, y in zip(a, b)]
    mean = statistics.fmean(d)
    if len(d) < 2:
        return {"diffs": d, "mean": mean, "std": None, "lo": None, "hi": None}
    std = statistics.stdev(d)
    half = t_quantile(0.975, len(d) - 1) * std / math.sqrt(len(d))
    return {"diffs": d, "mean": mean, "std": std, "lo": mean - half, "hi": mean + half}


def verdict(diff, kind):
    """'holds', 'does not hold' or 'inconclusive' for a difference (first minus second) of kind:
    beats (< 0), matches (<= 0 up to MATCH_MARGIN) or equal (within +-MATCH_MARGIN)."""
    lo, hi = diff["lo"], diff["hi"]
    if lo is None:
        return "inconclusive (one seed)"
    if kind == "beats":
        return "holds" if hi < 0 else "does not hold" if lo > 0 else "inconclusive"
    if kind == "matches":
        return "holds" if hi <= MATCH_MARGIN else "does not hold" if lo > MATCH_MARGIN else "inconclusive"
    inside, outside = -MATCH_MARGIN <= lo and hi <= MATCH_MARGIN, hi < -MATCH_MARGIN or lo > MATCH_MARGIN
    return "holds" if inside else "does not hold" if outside else "inconclusive"


# (claim, first row, second row, kind): the paper's claims as paired comparisons over seeds
CLAIMS = [
    ("(a) Inheritune at n reaches the K-layer reference after the same T steps", "inheritune", "reference", "matches"),
    ("(b) Inheritune at n beats scratch at depth n after T steps", "inheritune", "scratch_T", "beats"),
    ("(c) Inheritune at n (T steps) matches or beats scratch at depth n after 2T steps", "inheritune",
     "scratch_2T", "matches"),
    ("(d) attention+MLP inherited together beat attention (+ its layernorm) only", "ablate_full",
     "ablate_attn_ln", "beats"),
    ("(d) attention+MLP inherited together beat the MLP (+ its layernorm) only", "ablate_full", "ablate_mlp_ln",
     "beats"),
    ("(d) the layernorms do not matter (full blocks vs attention+MLP without them)", "ablate_full",
     "ablate_attn_mlp_noln", "equal"),
    ("wpe and ln_f inherited too change nothing (vs blocks + wte)", "inheritune_wpe_lnf", "inheritune", "equal"),
]


def plateau(run_dir, share=PLATEAU_SHARE):
    """Relative val-loss improvement over the run's last `share` of steps (from its log.jsonl)."""
    rows = [json.loads(ln) for ln in (Path(run_dir) / "log.jsonl").read_text().splitlines() if ln.strip()]
    curve = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    start = curve[-1][0] * (1 - share)
    before = min((c for c in curve if c[0] <= start), key=lambda c: start - c[0])
    return (before[1] - curve[-1][1]) / before[1]


# ---- report ---------------------------------------------------------------------------------

def cpu_name():
    """The processor's model name where Linux says it, else what platform knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def hardware(base):
    if base["device"].startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU only"


def fmt(x, sign=False):
    return "n/a" if x is None else f"{x:+.4f}" if sign else f"{x:.4f}"


def row_line(name, depth, losses):
    mean = statistics.fmean(losses)
    std = statistics.stdev(losses) if len(losses) > 1 else None
    return (f"| {name} | {depth} | {mean:.4f} ± {fmt(std)} | " + " ".join(f"{x:.4f}" for x in losses) + " |")


def write_results(results_dir, base, seeds, stops, n, n_abl, rows, attention, wall_s, command):
    """results_dir/study.md, results.json and the figures, from the finished runs."""
    results_dir.mkdir(parents=True, exist_ok=True)
    K, T = base["n_layer"], base["max_iters"]
    losses = {name: [result(rows[s][name])["val_loss"] for s in seeds] for name in rows[seeds[0]]}
    diffs = [(claim, a, b, kind, paired(losses[a], losses[b])) for claim, a, b, kind in CLAIMS]
    ref0 = rows[seeds[0]]["reference"]
    params = result(ref0)["num_params"]
    train_tokens = read_meta(base["data_dir"], base["dataset"])["tokens"]["train"]
    tokens = T * base["tokens_per_step"]
    plateaus = [plateau(rows[s]["reference"]) for s in seeds]
    every_run = {str(d) for s in seeds for d in rows[s].values()}
    validation = (f"the first {base['eval_tokens']:,} tokens of val.bin" if base["eval_tokens"] else "all of val.bin")
    validation += ", deterministic"
    train_s = sum(result(d)["elapsed_s"] for d in every_run)

    depth = {"reference": K, "inheritune": n, "inheritune_wpe_lnf": n, "scratch_T": n, "scratch_2T": n}
    names = {"reference": f"reference, T={T}", "inheritune": "Inheritune (blocks + wte), T",
             "inheritune_wpe_lnf": "Inheritune (blocks + wte, wpe, ln_f), T", "scratch_T": "scratch, T",
             "scratch_2T": "scratch, 2T", **{f"ablate_{p}": f"Inheritune ({p}), T" for p in PARTS},
             "ablate_scratch": "scratch, T"}
    headline = [row_line(names[r], depth[r], losses[r]) for r in depth]
    ablation = [row_line(names[r], n_abl, losses[r]) for r in [f"ablate_{p}" for p in PARTS] + ["ablate_scratch"]]
    claim_lines = [f"| {claim} | {fmt(d['mean'], True)} | {fmt(d['std'])} | [{fmt(d['lo'], True)}, {fmt(d['hi'], True)}] "
                   f"| {' '.join(f'{x:+.4f}' for x in d['diffs'])} | **{verdict(d, kind)}** |"
                   for claim, a, b, kind, d in diffs]
    collapse = [f"| {s} | {attention[s] if attention[s] is not None else 'none'} | "
                f"{stops[s] if stops[s] is not None else f'none < {K}'} |" for s in seeds]

    curve_groups = {f"{names[r]} ({depth[r]}L)": [rows[s][r] for s in seeds] for r in depth}
    plot_seed_curves(curve_groups, results_dir / "curves.png", f"K={K}, n={n}: mean ± std over {len(seeds)} seeds")
    plot_grow(str(Path(ref0).parent / "grow"), results_dir / "grow.png")
    plot_seed_bars({p: losses[f"ablate_{p}"] for p in PARTS} | {"scratch": losses["ablate_scratch"]},
                   results_dir / "ablation.png", f"parts inherited, {n_abl} of {K} blocks, {len(seeds)} seeds",
                   baseline=statistics.fmean(losses["reference"]))
    write_json_atomically(results_dir / "results.json", {
        "command": command, "seeds": list(seeds), "K": K, "T": T, "n": n, "n_ablation": n_abl,
        "grow_stopped_at": {str(s): stops[s] for s in seeds}, "final_val_loss": losses,
        "claims": [{"claim": c, "first": a, "second": b, "kind": k, **d, "verdict": verdict(d, k)}
                   for c, a, b, k, d in diffs],
        "first_collapsed_layer": {str(s): attention[s] for s in seeds}, "reference_last20_improvement": plateaus,
        "num_params": params, "train_tokens_in_corpus": train_tokens, "reference_tokens": tokens,
        "train_s": train_s, "wall_s": wall_s, "hardware": hardware(base)})
    md = [
        "# Inheritune at small scale, in the paper's regime\n",
        f"Command: `{command}`  ",
        f"Data: the built-in corpus in its own {BPE_VOCAB:,}-token BPE ({base['dataset']}), {train_tokens:,} training "
        f"tokens; validation: {validation}.  ",
        f"Model: K = {K} blocks, d = {base['n_embd']}, {base['n_head']} heads, block {base['block_size']}, "
        f"{params / 1e6:.2f}M parameters. T = {T} steps of {base['tokens_per_step']:,} tokens = {tokens / 1e6:.2f}M tokens "
        f"= {tokens / params:.1f} tokens per parameter and {tokens / train_tokens:.1f} passes over the training data "
        "(the paper's references: about 17-110 tokens per parameter).  ",
        "Reference plateau: its last 20% of steps improved val loss by "
        + ", ".join(f"{100 * p:.1f}%" for p in plateaus) + f" (seeds {', '.join(map(str, seeds))}; target < 2%).  ",
        f"Hardware: {hardware(base)}. Time: {train_s / 60:.1f} min training and evaluating the {len(every_run)} models "
        f"(their elapsed_s); {wall_s / 60:.1f} min this invocation (finished runs are reused).\n",
        f"## Rows (final val loss, mean ± std over {len(seeds)} seed(s), then each seed)\n",
        "Grow until baseline stopped at n = " + ", ".join(
            f"{stops[s] if stops[s] is not None else 'none'} (seed {s})" for s in seeds) + f"; the rows use n = {n}.\n",
        "| model | layers | val loss | per seed |", "|---|---|---|---|", *headline, "",
        f"Ablation at n = {n_abl} of {K} blocks (block parts inherited, plus wte):\n",
        "| model | layers | val loss | per seed |", "|---|---|---|---|", *ablation, "",
        f"## Claims (paired over seeds: first minus second; 95% t interval; 'matches' allows +{MATCH_MARGIN})\n",
        "| claim | mean difference | std | 95% interval | per seed | verdict |", "|---|---|---|---|---|---|",
        *claim_lines, "",
        "## Attention collapse in the references (python analyze.py REF/ckpt.pt)\n",
        "| seed | first layer where most heads are collapsed | grow loop stopped at n |", "|---|---|---|",
        *collapse, "",
        "![loss curves](curves.png)\n", "![grow until baseline, first seed](grow.png)\n",
        "![ablation](ablation.png)\n", "![attention rank, first seed's reference](attention.png)\n",
    ]
    (results_dir / "study.md").write_text("\n".join(md) + "\n")
    print((results_dir / "study.md").read_text())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=tuple(PRESETS), default="cpu", help="config/study_<preset>.py")
    p.add_argument("--quick", action="store_true", help="tiny models, a few steps, one seed")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained in parallel (a GPU has room for several)")
    p.add_argument("--out", default="", help="run directories (default out/study_<preset>[_quick])")
    p.add_argument("--results", default="", help="tables and figures (default results/, results/gpu, or OUT/results)")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}")
    name = f"study_{args.preset}" + ("_quick" if args.quick else "")
    out = Path(args.out or f"out/{name}")
    results_dir = Path(args.results or (out / "results" if args.quick else RESULTS[args.preset]))
    command = shlex.join(["python", "study.py"] + (sys.argv[1:] if argv is None else argv))
    t0 = time.time()
    base = study_settings(args.preset, args.quick)
    prepare_builtin(base["data_dir"], bpe_vocab=BPE_VOCAB)
    seeds = SEEDS[:1] if args.quick else SEEDS
    K = base["n_layer"]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        stops = dict(zip(seeds, pool.map(lambda s: reference_and_grow(base, s, out), seeds)))
        # the depth compared: the deepest any seed needed (K-2 if none matched)
        n = max((v for v in stops.values() if v), default=None) or K - 2
        n_abl = round(2 * K / 3)
        rows = dict(zip(seeds, pool.map(lambda s: target_runs(out / f"seed{s}", n, n_abl), seeds)))
    attention = {}
    for s in seeds:
        report = analyze(rows[s]["reference"] / "ckpt.pt", results_dir if s == seeds[0] else rows[s]["reference"])
        attention[s] = report["first_collapsed_layer"]
    write_results(results_dir, base, seeds, stops, n, n_abl, rows, attention, time.time() - t0, command)


if __name__ == "__main__":
    main()
