"""The study's reports: paired statistics and verdicts, and the three reports that study.py writes after its runs,
study.md (the paper's claims), layers.md (which blocks to inherit, and distillation) and baselines.md (stacking and
half width). A report is first every value its markdown shows, computed from the run records and written as JSON
(results.json, layers.json, baselines.json); the markdown is then rendered from that JSON alone, so a committed
JSON renders its committed markdown again:

    python study_report.py results/pcfg/results.json     # prints results/pcfg/study.md
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
from pathlib import Path

import torch
from scipy import stats

import inherit
from data import read_meta, write_json_atomically, write_text_atomically
from plots.plot_grow import plot_grow
from plots.plot_layers import plot_layer_choices
from plots.plot_seeds import plot_seed_bars, plot_seed_curves, seeds as seeds_text
from run_records import read_log, read_result, read_run_json
from study_plan import (CORPORA, DAMAGED, POLICIES, PRESETS, STACK_ROUNDS, ablation_depth, ablation_parts,
                        compared_depths, data_orders, fixed_depths, grow_depths, stack_plan)

# "matches" means the paired 95% interval lies below +MATCH_MARGIN. The paper calls a gap of 0.00 a match
# (medium 16L Inheritune 2.81 vs 24L 2.81) and one of +0.03 not (14L: 2.84); 0.02 nats is under that gap
# (0.6% of this study's ~3.2 vs the paper's 1.1% of 2.81). study.md sets it beside the seed spread measured.
MATCH_MARGIN = 0.02
PLATEAU_SHARE, PLATEAU_LIMIT = 0.2, 0.02  # the reference's plateau: its last 20% of steps gain < 2%


# ---- run records and the machine -------------------------------------------------------------

def result(run_dir):
    return read_result(run_dir, DAMAGED)


def run_config(run_dir):
    return read_run_json(Path(run_dir) / "config.json", DAMAGED)


def provenance(run_dirs):
    """The commits the runs were made at (short hashes) and their training time summed (elapsed_s)."""
    return (sorted({run_config(d)["git_commit"][:7] for d in run_dirs}),
            sum(result(d)["elapsed_s"] for d in run_dirs))


def plateau(run_dir, share=PLATEAU_SHARE):
    """Relative val-loss improvement over the run's last `share` of steps (from its log.jsonl)."""
    curve = [(r["step"], r["val_loss"]) for r in read_log(Path(run_dir) / "log.jsonl")
             if r.get("val_loss") is not None]
    start = curve[-1][0] * (1 - share)
    before = min((c for c in curve if c[0] <= start), key=lambda c: start - c[0])
    return (before[1] - curve[-1][1]) / before[1]


def step_seconds(run_dir):
    """The run's median time per optimizer step, from its logged tokens/s (evaluations excluded)."""
    rates = [r["tokens_per_s"] for r in read_log(Path(run_dir) / "log.jsonl") if r.get("tokens_per_s")]
    return run_config(run_dir)["tokens_per_step"] / statistics.median(rates)


def selection(run_dir, n):
    """The blocks a run inherited and the policy's per-block scores (its checkpoint's manifest, kept as
    manifest.json); runs from before the manifest recorded them inherited the first n."""
    manifest = Path(run_dir) / "manifest.json"
    record = (read_run_json(manifest, DAMAGED) if manifest.exists() else {}).get(inherit.SELECTION)
    return record or {"policy": "first", "blocks": list(range(n)), "scores": None}


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


# ---- statistics -------------------------------------------------------------------------------

def t_quantile(p, df):
    return float(stats.t.ppf(p, df))


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
    """The verdict on a difference (first minus second) from its 95% interval. A claim of kind beats (< 0),
    matches (<= 0 up to MATCH_MARGIN) or equal (within +-MATCH_MARGIN): 'holds', 'does not hold' or
    'inconclusive'. Kind versus, a row against another: 'better' (below 0), 'worse' (above 0), 'equal (within
    +-MATCH_MARGIN)' or 'inconclusive'."""
    lo, hi, m = diff["lo"], diff["hi"], MATCH_MARGIN
    if lo is None:
        return "inconclusive (one seed)"
    within, outside = -m <= lo and hi <= m, hi < -m or lo > m
    outcomes = {"beats": [("holds", hi < 0), ("does not hold", lo > 0)],
                "matches": [("holds", hi <= m), ("does not hold", lo > m)],
                "equal": [("holds", within), ("does not hold", outside)],
                "versus": [("better", hi < 0), ("worse", lo > 0), (f"equal (within ±{m})", within)]}[kind]
    return next((said for said, true in outcomes if true), "inconclusive")


def detectable(diff, power=0.8):
    """The smallest true difference these seeds detect with the given power (paired t test, 5% two-sided):
    (t_0.975 + t_power) x std / sqrt(seeds), at the std measured; None for one seed."""
    if diff["std"] is None:
        return None
    m = len(diff["diffs"])
    return (t_quantile(0.975, m - 1) + t_quantile(power, m - 1)) * diff["std"] / math.sqrt(m)


def seeds_to_decide(diff, kind, limit=1000):
    """How many seeds would move the 95% interval off the verdict's boundary if mean and std stayed as
    measured (None: one seed, or more than `limit`)."""
    if diff["std"] is None:
        return None
    mean = diff["mean"]
    gap = {"beats": abs(mean), "matches": abs(mean - MATCH_MARGIN), "equal": abs(abs(mean) - MATCH_MARGIN)}[kind]
    for m in range(2, limit + 1):
        if t_quantile(0.975, m - 1) * diff["std"] / math.sqrt(m) < gap:
            return m
    return None


def spread(values):
    """The seeds' standard deviation; None for one seed (shown as n/a)."""
    return statistics.stdev(values) if len(values) > 1 else None


def comparison(what, first, second, losses):
    """One row against another over seeds (first minus second), as the layers and baselines reports show it."""
    d = paired(losses[first], losses[second])
    return {"what": what, "first": first, "second": second, **d, "detectable": detectable(d),
            "verdict": verdict(d, "versus")}


def row_statistics(losses):
    """Each row's mean and std over seeds."""
    return {"mean_val_loss": {r: statistics.fmean(v) for r, v in losses.items()},
            "std_val_loss": {r: spread(v) for r, v in losses.items()}}


# ---- rendering --------------------------------------------------------------------------------

def fmt(x, sign=False):
    return "n/a" if x is None else f"{x:+.4f}" if sign else f"{x:.4f}"


def commits_text(commits):
    return f"commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"


def losses_text(numbers, row):
    """A row's 'mean ± std | per seed' cells."""
    return (f"{numbers['mean_val_loss'][row]:.4f} ± {fmt(numbers['std_val_loss'][row])} | "
            + " ".join(f"{x:.4f}" for x in numbers["final_val_loss"][row]))


def interval(d):
    return f"[{fmt(d['lo'], True)}, {fmt(d['hi'], True)}]"


def signed(values):
    return " ".join(f"{x:+.4f}" for x in values)


def comparison_line(c):
    return (f"| {c['what']} | {fmt(c['mean'], True)} | {interval(c)} | {signed(c['diffs'])} | {fmt(c['detectable'])} "
            f"| **{c['verdict']}** |")


# ---- the claims suite's report: study.md from results.json --------------------------------------

# the paper's depth gain: its K-layer reference against scratch at the target depth, both after 100K steps
PAPER_DEPTH_GAIN = "medium: 24L 2.81 vs 16L 2.86 (-0.05); large: 36L 2.85 vs 18L 2.97 (-0.12)"
# the recipe's settings study.md states
STATED = ("n_embd", "n_head", "block_size", "tokens_per_step", "eval_tokens", "weight_decay", "grad_clip",
          "grad_scale", "scale_attn_by_inverse_layer_idx")


def claims(K, preset):
    """(claim, first row, second row, kind), paired over seeds at the depths fixed before any run: (a) at
    each depth beside the grow loop's own verdict, (b) and (c) at each depth, (d) at the ablation depth."""
    rows, n_abl = [], ablation_depth(K, preset)
    for n in compared_depths(K, preset):
        rows += [(f"(a) n={n}: Inheritune matches the K-layer reference after the same T", f"inheritune_n{n}",
                  "reference", "matches"),
                 (f"(b) n={n}: Inheritune beats scratch after the same T", f"inheritune_n{n}", f"scratch_T_n{n}",
                  "beats"),
                 (f"(c) n={n}: Inheritune (T) matches or beats scratch after 2T", f"inheritune_n{n}",
                  f"scratch_2T_n{n}", "matches")]
    ablation = {"attn_ln": ("attention+MLP inherited together beat attention (+ its layernorm) only", "beats"),
                "mlp_ln": ("attention+MLP inherited together beat the MLP (+ its layernorm) only", "beats"),
                "attn_mlp_noln": ("the layernorms do not matter (full blocks vs attention+MLP without them)", "equal")}
    return rows + [(f"(d) n={n_abl}: {ablation[p][0]}", f"inheritune_n{n_abl}", f"ablate_{p}_n{n_abl}",
                    ablation[p][1]) for p in ablation_parts(preset)]


def grow_verdict(grows, K):
    """Claim (a) judged from the grow loop itself: 'holds' when every seed's loop stopped at some n < K (a
    target reached the reference's val loss after the same T steps); 'does not hold' when a seed's loop
    went through n = K-2 without matching."""
    failed = [s for s, g in grows.items() if g["stopped_at"] is None]
    if failed:
        return (f"does not hold (seed {', '.join(map(str, failed))}: no n up to {max(grow_depths(K))} "
                "matched the reference)")
    return "holds" + (" (one seed)" if len(grows) == 1 else "")


def row_labels(K, preset):
    """Row name -> (label, depth), in the order of the tables."""
    labels, n_abl = {"reference": (f"reference ({K} blocks), T", K)}, ablation_depth(K, preset)
    for n in compared_depths(K, preset):
        labels |= {f"inheritune_n{n}": ("Inheritune (blocks + wte), T", n), f"scratch_T_n{n}": ("scratch, T", n),
                   f"scratch_2T_n{n}": ("scratch, 2T", n)}
    return labels | {f"ablate_{p}_n{n_abl}": (f"Inheritune ({p} + wte), T", n_abl) for p in ablation_parts(preset)}


def claims_numbers(preset, base, seeds, grows, rows, collapse, wall_s, command):
    """Every value study.md shows (results.json), from the seeds' run records: rows[seed][row] is a run dir."""
    K, T = base["n_layer"], base["max_iters"]
    depths, labels = compared_depths(K, preset), row_labels(K, preset)
    runs = {name: [result(rows[s][name]) for s in seeds] for name in labels}
    losses = {name: [r["val_loss"] for r in rs] for name, rs in runs.items()}
    compared = [(c, a, b, k, paired(losses[a], losses[b])) for c, a, b, k in claims(K, preset)]
    meta = read_meta(base["data_dir"], base["dataset"])
    every_run = {str(d) for s in seeds for d in rows[s].values()} | {
        str(rows[s]["reference"].parent / "grow" / f"n{r['n']:02d}") for s, g in grows.items() for r in g["rounds"]}
    commits, train_s = provenance(every_run)
    return {
        "command": command, "git_commits": commits, "seeds": list(seeds), "K": K, "T": T,
        "depths": list(depths), "n_ablation": ablation_depth(K, preset),
        "data_orders": {str(s): data_orders(s) for s in seeds}, "match_margin": MATCH_MARGIN, "labels": labels,
        "final_val_loss": losses, **row_statistics(losses),
        "clip_rate": {name: statistics.fmean(r["clip_rate"] for r in rs) for name, rs in runs.items()},
        "grow": {str(s): {"stopped_at": g["stopped_at"], "baseline": g["baseline_val_loss"],
                          "gaps": {str(r["n"]): r["gap"] for r in g["rounds"]}} for s, g in grows.items()},
        "grow_verdict": grow_verdict(grows, K),
        "depth_gain": {str(n): paired(losses["reference"], losses[f"scratch_T_n{n}"]) for n in depths},
        "inheritance_gain": {str(n): paired(losses[f"inheritune_n{n}"], losses[f"scratch_T_n{n}"]) for n in depths},
        "claims": [{"claim": c, "first": a, "second": b, "kind": k, **d, "verdict": verdict(d, k),
                    "detectable": detectable(d), "seeds_to_decide": seeds_to_decide(d, k)}
                   for c, a, b, k, d in compared],
        "first_collapsed_layer": {str(s): collapse[s] for s in seeds},
        "reference_last20_improvement": [plateau(rows[s]["reference"]) for s in seeds], "plateau_limit": PLATEAU_LIMIT,
        "num_params": runs["reference"][0]["num_params"], "train_tokens_in_corpus": meta["tokens"]["train"],
        "reference_tokens": T * base["tokens_per_step"], "train_s": train_s, "runs": len(every_run), "wall_s": wall_s,
        "hardware": hardware(base), "corpus": CORPORA[base["dataset"]], "dataset": base["dataset"],
        "vocab_size": meta["vocab_size"], "recipe": PRESETS[preset], "settings": {k: base[k] for k in STATED},
        "attention_figure": f"runs/seed{seeds[0]}/reference/attention.png"}


def claims_figures(results_dir, preset, rows, numbers):
    """curves.png, grow.png (the first seed's) and ablation.png."""
    seeds, K, n_abl, labels, losses = (numbers[k] for k in ("seeds", "K", "n_ablation", "labels", "final_val_loss"))
    curve_rows = ["reference"] + [f"{kind}_n{n}" for n in numbers["depths"]
                                  for kind in ("inheritune", "scratch_T", "scratch_2T")]
    plot_seed_curves({f"{labels[r][0]} ({labels[r][1]}L)": [rows[s][r] for s in seeds] for r in curve_rows},
                     results_dir / "curves.png", f"K={K}: mean ± std over {seeds_text(len(seeds))}")
    plot_grow(str(rows[seeds[0]]["reference"].parent / "grow"), results_dir / "grow.png")
    ablation = {p: losses[f"ablate_{p}_n{n_abl}"] for p in ablation_parts(preset)}
    plot_seed_bars(ablation | {"full": losses[f"inheritune_n{n_abl}"], "scratch": losses[f"scratch_T_n{n_abl}"]},
                   results_dir / "ablation.png", f"parts inherited, {n_abl} of {K} blocks, {seeds_text(len(seeds))}",
                   baseline=numbers["mean_val_loss"]["reference"])


def grow_lines(grow):
    """Per seed: where the grow loop stopped, its gap to the reference there and at the round before."""
    lines = []
    for s, g in grow.items():
        gaps = {int(n): gap for n, gap in g["gaps"].items()}
        stop = g["stopped_at"]
        before = [n for n in gaps if stop is None or n < stop]
        lines.append(f"| {s} | {g['baseline']:.4f} | " + " ".join(f"n={n}: {v:+.4f}" for n, v in gaps.items())
                     + f" | {stop if stop is not None else 'none'} | {fmt(gaps.get(stop), True)} | "
                     + (f"{gaps[before[-1]]:+.4f} (n={before[-1]})" if before else "n/a (first round)") + " |")
    return lines


def claim_line(c):
    undecided = c["verdict"] == "inconclusive"
    decide = c["seeds_to_decide"]
    return (f"| {c['claim']} | {fmt(c['mean'], True)} | {fmt(c['std'])} | {interval(c)} | {signed(c['diffs'])} | "
            f"{fmt(c['detectable'])} | **{c['verdict']}** | "
            + (("more than 1,000" if decide is None else f"{decide}") if undecided else "") + " |")


def render_claims(r):
    """study.md from its results.json alone."""
    K, T, s, depths, n_abl, margin = (r[k] for k in ("K", "T", "settings", "depths", "n_ablation", "match_margin"))
    params, train_tokens, tokens = r["num_params"], r["train_tokens_in_corpus"], r["reference_tokens"]
    validation = f"the first {s['eval_tokens']:,} tokens of val.bin" if s["eval_tokens"] else "all of val.bin"
    diff_spreads = [c["std"] for c in r["claims"] if c["std"] is not None]
    table = [f"| {label} | {depth} | {losses_text(r, row)} | {r['clip_rate'][row]:.3f} |"
             for row, (label, depth) in r["labels"].items()]
    gain_lines = [f"| {n} | {fmt(d['mean'], True)} | {interval(d)} | {signed(d['diffs'])} | "
                  f"{fmt(r['inheritance_gain'][n]['mean'], True)} |"
                  for n, d in r["depth_gain"].items()]
    collapse = [f"| {seed} | {layer if layer is not None else 'none'} | "
                f"{r['grow'][seed]['stopped_at'] if r['grow'][seed]['stopped_at'] is not None else f'none < {K}'} |"
                for seed, layer in r["first_collapsed_layer"].items()]
    md = [
        "# Inheritune at small scale, on the paper's recipe\n",
        f"Command: `{r['command']}`; runs made at {commits_text(r['git_commits'])}.  ",
        f"Data: {r['corpus']} in its own {r['vocab_size']:,}-token BPE ({r['dataset']}), {train_tokens:,} training "
        f"tokens; validation: {validation}, deterministic.  ",
        f"Model: K = {K} blocks, d = {s['n_embd']}, {s['n_head']} heads, block {s['block_size']}, "
        f"{params / 1e6:.2f}M parameters. T = {T} steps of {s['tokens_per_step']:,} tokens = {tokens / 1e6:.2f}M "
        f"tokens = {tokens / params:.1f} tokens per parameter and {tokens / train_tokens:.1f} passes over the "
        "training data (the paper's references: about 17-110 tokens per parameter, under one pass).  ",
        f"Recipe: {r['recipe']} over train.py's defaults: the "
        f"paper's (no biases, dropout 0, AdamW (0.9, 0.95), weight decay {s['weight_decay']} on nn.Linear weights "
        f"only, clip {s['grad_clip']} of the gradient x {s['grad_scale']:g}, "
        f"attention {'scaled by 1/(layer+1)' if s['scale_attn_by_inverse_layer_idx'] else 'not scaled by layer'}, "
        "cosine schedule with warmup) but for size, learning rate, batch and steps.  ",
        "Seeds: seed s initialises with s, draws the reference's batches with data_seed 2s and every compared model's "
        "with 2s+1 (" + "; ".join(f"seed {seed}: {o['reference']} / {o['targets']}"
                                  for seed, o in r["data_orders"].items()) + ").  ",
        "Reference plateau: its last 20% of steps improved val loss by "
        + ", ".join(f"{100 * p:.2f}%" for p in r["reference_last20_improvement"])
        + f" (target < {100 * r['plateau_limit']:.0f}%).  ",
        f"Hardware: {r['hardware']}. Time: {r['train_s'] / 60:.1f} min of training and evaluation summed over the "
        f"{r['runs']} runs (their elapsed_s); {r['wall_s'] / 3600:.2f} h wall for this invocation (finished runs are "
        "reused; the README gives the wall time of the invocations that trained them).\n",
        f"## Rows: final val loss, mean ± std over {seeds_text(len(r['seeds']))}, each seed, clip rate\n",
        f"Depths fixed before any run: n = {', '.join(map(str, depths))} of K = {K} "
        f"({'K/2 and round(2K/3), as' if len(depths) == 2 else 'K/2, as'} the paper's large runs, 18 of 36"
        f"{', and its medium runs, 16 of 24' if len(depths) == 2 else ''}); the ablation at n = {n_abl}"
        f"{'' if n_abl == fixed_depths(K)[1] else ' (the paper ablates at 2K/3: 16 of 24)'}.\n",
        "| model | layers | val loss | per seed | clip rate |", "|---|---|---|---|---|", *table, "",
        "## (a) Grow until baseline (from n = K/2 by 2; a round matches when val loss <= the reference's)\n",
        f"Verdict: **{r['grow_verdict']}**.\n",
        "| seed | reference val loss | gap per round (target - reference) | stopped at n | gap there | "
        "gap at the round before |", "|---|---|---|---|---|---|", *grow_lines(r["grow"]), "",
        "## Depth gain: the K-layer reference minus scratch at n after the same T steps\n",
        f"The paper's: {PAPER_DEPTH_GAIN}. The last column is what inheriting bought at the same depth "
        "(Inheritune minus scratch, both T).\n",
        "| n | reference - scratch T | 95% interval | per seed | Inheritune - scratch T |",
        "|---|---|---|---|---|", *gain_lines, "",
        "## Claims, paired over seeds (first minus second)\n",
        f"'matches' holds when the 95% t interval lies below +{margin}; 'equal' when it lies within "
        f"±{margin}; 'beats' when it lies below 0. The margin: the paper calls a gap of 0.00 a match "
        "(medium 16L "
        f"Inheritune 2.81 vs 24L 2.81) and +0.03 not (14L, 2.84); {margin} nats is under that. Seed spread "
        f"here: the reference's final val loss has std {fmt(r['std_val_loss']['reference'])} over seeds; the paired "
        f"differences' stds range {fmt(min(diff_spreads, default=None))}-{fmt(max(diff_spreads, default=None))}. "
        "'Detectable': the smallest true difference these seeds find with 80% power (paired t test, 5% two-sided, "
        "at the measured std). 'Seeds to decide': for an inconclusive verdict, the seeds whose interval would clear "
        "the boundary if mean and std stayed as measured.\n",
        "| claim | mean difference | std | 95% interval | per seed | detectable | verdict | seeds to decide |",
        "|---|---|---|---|---|---|---|---|", *map(claim_line, r["claims"]), "",
        "## Attention collapse in the references (python analyze.py REF/ckpt.pt) beside the grow loop\n",
        "| seed | first layer where most heads are collapsed | grow loop stopped at n |", "|---|---|---|",
        *collapse, "",
        "![loss curves by step and by tokens](curves.png)\n", "![grow until baseline, first seed](grow.png)\n",
        "![ablation](ablation.png)\n", f"![attention rank, first seed's reference]({r['attention_figure']})\n",
    ]
    return "\n".join(md) + "\n"


def write_results(results_dir, preset, base, seeds, grows, rows, collapse, wall_s, command):
    """results_dir/results.json from the seeds' run records, study.md rendered from it, and the figures."""
    results_dir.mkdir(parents=True, exist_ok=True)
    numbers = claims_numbers(preset, base, seeds, grows, rows, collapse, wall_s, command)
    claims_figures(results_dir, preset, rows, numbers)
    publish(results_dir, "results.json", numbers)


# ---- the layers suite's report: layers.md from layers.json --------------------------------------

LAYER_ROWS = {"first": "Inheritune, first n blocks (the paper)", "spread": "Inheritune, n spread over K",
              "influence": "Inheritune, n most influential", "rank": "Inheritune, n least collapsed",
              "distill_scratch": "distillation, scratch init", "distill_inherit": "distillation, Inheritune init",
              "scratch_T": "scratch"}


def layer_comparisons(n):
    """(what, row, other row) at depth n: every row against first-n, then what distillation adds to scratch
    and what inheriting adds to distillation."""
    return [(f"{LAYER_ROWS[r]} - first", f"{r}_n{n}", f"first_n{n}") for r in LAYER_ROWS if r != "first"] + [
        ("distillation (scratch init) - scratch", f"distill_scratch_n{n}", f"scratch_T_n{n}"),
        ("distillation (Inheritune init) - distillation (scratch init)", f"distill_inherit_n{n}",
         f"distill_scratch_n{n}")]


def layers_numbers(preset, base, seeds, rows, wall_s, command):
    """Every value layers.md shows (layers.json), from the seeds' run records: rows[seed][row] is a run dir."""
    K, T = base["n_layer"], base["max_iters"]
    depths = compared_depths(K, preset)
    labels = {"reference": (f"reference ({K} blocks)", K)} | {
        f"{r}_n{n}": (label, n) for n in depths for r, label in LAYER_ROWS.items()}
    losses = {r: [result(rows[s][r])["val_loss"] for s in seeds] for r in labels}
    every_run = {str(rows[s][r]) for s in seeds for r in labels}
    commits, train_s = provenance(every_run)
    step_s = {r: statistics.fmean(step_seconds(rows[s][r]) for s in seeds) for r in labels if r != "reference"}
    return {
        "command": command, "git_commits": commits, "seeds": list(seeds), "K": K, "T": T, "depths": list(depths),
        "match_margin": MATCH_MARGIN, "labels": labels, "final_val_loss": losses, **row_statistics(losses),
        "clip_rate": {r: statistics.fmean(result(rows[s][r])["clip_rate"] for s in seeds) for r in labels},
        "step_s": step_s,
        "selection": {f"{p}_n{n}": [selection(rows[s][f"{p}_n{n}"], n) for s in seeds]
                      for n in depths for p in ("first",) + POLICIES},
        "distill_cost": {str(n): {
            "distill_step_s": statistics.fmean(step_s[f"distill_{i}_n{n}"] for i in ("scratch", "inherit")),
            "plain_step_s": statistics.fmean(step_s[f"{p}_n{n}"] for p in POLICIES)} for n in depths},
        "train_s": train_s, "runs": len(every_run), "wall_s": wall_s, "hardware": hardware(base),
        "comparisons": [comparison(w, a, b, losses) for n in depths for w, a, b in layer_comparisons(n)]}


def layers_figures(results_dir, rows, attention, numbers):
    """layers_blocks.png (the blocks each policy chose, beside the first reference's attention ranks), and per depth
    layers_curves_n<n>.png and layers_bars_n<n>.png."""
    seeds, K, depths, losses = (numbers[k] for k in ("seeds", "K", "depths", "final_val_loss"))
    plot_layer_choices(attention[seeds[0]], {p: [c["blocks"] for c in numbers["selection"][f"{p}_n{depths[0]}"]]
                                             for p in ("first",) + POLICIES},
                       results_dir / "layers_blocks.png", f"n = {depths[0]} of K = {K}, {seeds_text(len(seeds))}")
    for n in depths:
        plot_seed_curves({f"{LAYER_ROWS[r]} ({n}L)": [rows[s][f"{r}_n{n}"] for s in seeds] for r in LAYER_ROWS}
                         | {f"reference ({K}L)": [rows[s]["reference"] for s in seeds]},
                         results_dir / f"layers_curves_n{n}.png", f"n = {n} of K = {K}: mean ± std over seeds")
        plot_seed_bars({LAYER_ROWS[r].replace(", ", ",\n"): losses[f"{r}_n{n}"] for r in LAYER_ROWS},
                       results_dir / f"layers_bars_n{n}.png", f"n = {n} of K = {K}, {seeds_text(len(seeds))}",
                       baseline=numbers["mean_val_loss"]["reference"])


def answer(r, n):
    """The layers suite's two questions at depth n answered from its verdicts, with the numbers."""
    against = {c["first"]: c for c in r["comparisons"] if c["second"] == f"first_n{n}"}
    policies = [row for row in r["selection"] if r["labels"][row][1] == n and row != f"first_n{n}"]

    def said(row):
        c = against[row]
        return f"{r['labels'][row][0]}: {c['mean']:+.4f} {interval(c)}"
    by = {v: [said(p) for p in policies if against[p]["verdict"].startswith(v)]
          for v in ("better", "worse", "equal", "inconclusive")}
    best = ("No: " + "; ".join(by["better"]) + " beat first-n" if by["better"] else
            "Yes: every other policy is worse" if len(by["worse"]) == len(policies) else "First-n is not beaten")
    detail = "; ".join(f"{v} than first-n: {', '.join(x)}" if v in ("better", "worse") else f"{v}: {', '.join(x)}"
                       for v, x in by.items() if x)
    kd = {k: (said(f"distill_{k}_n{n}"), against[f"distill_{k}_n{n}"]["verdict"]) for k in ("scratch", "inherit")}
    return [f"**Is first-n the best choice at n = {n}?** {best} (each minus first-n, mean and 95% interval; "
            f"{detail}).",
            f"**Does distillation beat inheritance?** Minus first-n, {kd['scratch'][0]}, {kd['scratch'][1]}. "
            f"**Does it add to inheritance?** Minus first-n, {kd['inherit'][0]}, {kd['inherit'][1]}."]


def layer_row(r, row):
    label, n = r["labels"][row]
    blocks = " / ".join(",".join(map(str, c["blocks"])) for c in r["selection"].get(row, []))
    step = r["step_s"].get(row)
    return (f"| {label} | {n} | {blocks} | {losses_text(r, row)} | {r['clip_rate'][row]:.3f} | "
            f"{'' if step is None else f'{step * 1e3:.0f}'} |")


def render_layers(r):
    """layers.md from its layers.json alone."""
    K, T, depths, margin = r["K"], r["T"], r["depths"], r["match_margin"]
    scored = [row for row in r["selection"] if r["labels"][row][1] == depths[0] and r["selection"][row][0]["scores"]]
    scores = [f"| {seed} | {r['selection'][row][i]['policy']} | "
              + " ".join(f"{x:.3g}" for x in r["selection"][row][i]["scores"]) + " |"
              for i, seed in enumerate(r["seeds"]) for row in scored]
    md = ["# Which blocks to inherit, and distillation, at small scale\n",
          f"Command: `{r['command']}`; runs made at {commits_text(r['git_commits'])}. "
          "Same references, recipe, seeds, batch orders and statistics as [study.md](study.md) (its Inheritune "
          "and scratch runs are this suite's first-n and scratch rows); every target trains T = "
          f"{T} steps from its seed's {K}-block reference with the grow loop's recipe and batches.  ",
          f"Hardware: {r['hardware']}; {r['train_s'] / 60:.1f} min of training and evaluation summed over the "
          f"{r['runs']} runs (their elapsed_s), {r['wall_s'] / 3600:.2f} h wall for this invocation (finished runs "
          "are reused).  ",
          "Policies (inherit.py --select): first n (the paper); spread: n evenly spaced from block 0 to K-1; "
          "influence: the n largest 1 - cos(block input, output) (ShortGPT's block influence); rank: the n "
          "largest mean attention rank over heads (analyze.py). influence and rank are scored on analyze.py's "
          "fixed validation windows; a moved block keeps its attention-logit divisor (layer + 1 in the "
          "reference). Distillation: loss = 0.5 data loss + 0.5 KL(teacher || student) at temperature 1, "
          "the teacher being the seed's reference, in eval mode (train.py distill_*; the paper releases no "
          "distillation settings).\n"]
    for n in depths:
        cost = r["distill_cost"][str(n)]
        md += [f"## n = {n} of K = {K}\n", *answer(r, n), "",
               "| model | layers | blocks inherited (per seed) | val loss (mean ± std) | per seed | clip rate | "
               "ms per step |", "|---|---|---|---|---|---|---|", layer_row(r, "reference"),
               *[layer_row(r, row) for row, (_, layers) in r["labels"].items() if layers == n and row != "reference"],
               "",
               f"Paired over seeds (first minus second); 'better' when the 95% t interval lies below 0, 'worse' "
               f"above 0, 'equal' within ±{margin}; 'detectable': the smallest true difference these "
               "seeds find with 80% power.\n",
               "| comparison | mean difference | 95% interval | per seed | detectable | verdict |",
               "|---|---|---|---|---|---|",
               *[comparison_line(c) for c in r["comparisons"] if r["labels"][c["first"]][1] == n], "",
               f"Distillation's cost: {cost['distill_step_s'] * 1e3:.0f} ms per step against "
               f"{cost['plain_step_s'] * 1e3:.0f} ms for the selection policies' runs "
               f"(x{cost['distill_step_s'] / cost['plain_step_s']:.2f}; the {K}-block teacher's "
               "forward on every micro-batch; median step times from the logs, both kinds trained one per seed "
               "side by side).\n"]
    md += [f"## Per-block scores of each seed's reference (n = {depths[0]})\n",
           "| seed | policy | score per block 0.." + f"{K - 1} |", "|---|---|---|", *scores, "",
           "![blocks each policy inherited beside the first reference's attention ranks](layers_blocks.png)\n",
           *[f"![n = {n}: loss curves](layers_curves_n{n}.png)\n\n![n = {n}: final losses](layers_bars_n{n}.png)\n"
             for n in depths],
           "The growth baseline (train K/2 blocks for part of T, stack them to K, continue) and a half-width "
           "model are the baselines suite's: `python study.py --suite baselines` (baselines.md).\n"]
    return "\n".join(md) + "\n"


def write_layers(results_dir, preset, base, seeds, rows, attention, wall_s, command):
    """results_dir/layers.json from the seeds' run records, layers.md rendered from it, and the layers_*.png
    figures."""
    results_dir.mkdir(parents=True, exist_ok=True)
    numbers = layers_numbers(preset, base, seeds, rows, wall_s, command)
    layers_figures(results_dir, rows, attention, numbers)
    publish(results_dir, "layers.json", numbers)


# ---- the baselines suite's report: baselines.md from baselines.json -----------------------------

# the authors' logged final val losses at 100K steps (released logs, OpenWebText_logs/ and its Baselines/), per size:
# full-depth scratch, stacking 2 rounds, stacking 1 round, half width; their ordering is what this suite checks
AUTHORS_ORDER = {"medium": (2.819, 2.844, 3.011, 3.049), "large": (2.853, 2.878, 3.036, 3.069),
                 "xl": (2.657, 2.653, 2.797, 2.778)}


def baseline_labels(K):
    """Row name -> (label, layers, width share), in the order of the tables."""
    n = K // 2
    return {f"inheritune_n{n}": ("Inheritune (blocks + wte)", n, "1"),
            "stack1": (f"stacking, 1 round ({n} -> {K})", K, "1"),
            "stack2": (f"stacking, 2 rounds ({K // 4} -> {n} -> {K})", K, "1"),
            "half_width": ("half width, from scratch", K, "1/2"), f"scratch_T_n{n}": ("scratch", n, "1"),
            "reference": ("reference (its own batches)", K, "1")}


def stage_dirs(rows, rounds, K, T):
    """The run dirs of a stacked row's stages, first to last (the row's own run is the last)."""
    return [rows[f"stack{rounds}"].parent / f"stack{rounds}_n{d:02d}" for d, _ in stack_plan(K, T, rounds)]


def baseline_pairs(rows):
    """(first, second) row pairs compared: every row against Inheritune, then what the authors' ordering asks:
    stacking 2 rounds against the reference, 1 round against 2, half width against every other row."""
    first = rows[0]
    pairs = [(r, first) for r in rows[1:]] + [("stack2", "reference"), ("stack1", "stack2")] + [
        ("half_width", r) for r in rows if r != "half_width"]
    return list(dict.fromkeys(pairs))


def baselines_numbers(base, seeds, rows, wall_s, command):
    """Every value baselines.md shows (baselines.json), from the seeds' run records: rows[seed][row] is a run dir;
    a stacked row's stages are found beside it."""
    K, T = base["n_layer"], base["max_iters"]
    labels = baseline_labels(K)
    runs = {r: [result(rows[s][r]) for s in seeds] for r in labels}
    losses = {r: [x["val_loss"] for x in rs] for r, rs in runs.items()}
    stages = {str(d) for s in seeds for rounds in STACK_ROUNDS.values() for d in stage_dirs(rows[s], rounds, K, T)}
    every_run = {str(rows[s][r]) for s in seeds for r in labels} | stages
    commits, train_s = provenance(every_run)
    return {
        "command": command, "git_commits": commits, "seeds": list(seeds), "K": K, "T": T, "n": K // 2,
        "stack_plans": {r: stack_plan(K, T, rounds) for r, rounds in STACK_ROUNDS.items()},
        "half_width": {"n_embd": base["n_embd"] // 2, "n_head": base["n_head"]}, "match_margin": MATCH_MARGIN,
        "labels": labels, "final_val_loss": losses, **row_statistics(losses),
        "final_step": {r: sorted({x["step"] for x in rs}) for r, rs in runs.items()},
        "clip_rate": {r: statistics.fmean(x["clip_rate"] for x in rs) for r, rs in runs.items()},
        "train_s": train_s, "runs": len(every_run), "wall_s": wall_s, "hardware": hardware(base),
        "authors_final_val_loss": AUTHORS_ORDER,
        "comparisons": [comparison(f"{labels[a][0]} - {labels[b][0]}", a, b, losses)
                        for a, b in baseline_pairs(list(labels))]}


def baselines_figures(results_dir, rows, numbers):
    """baselines_curves.png (each stacking stage apart) and baselines_bars.png."""
    seeds, K, T, labels, losses = (numbers[k] for k in ("seeds", "K", "T", "labels", "final_val_loss"))
    curves = {f"{labels[r][0]} ({labels[r][1]}L)": [rows[s][r] for s in seeds] for r in labels if r not in STACK_ROUNDS}
    for r, rounds in STACK_ROUNDS.items():
        dirs = [stage_dirs(rows[s], rounds, K, T) for s in seeds]
        curves |= {f"{labels[r][0].split(' (')[0]}: stage {i + 1}, {d}L to step {end}": [x[i] for x in dirs]
                   for i, (d, end) in enumerate(numbers["stack_plans"][r])}
    plot_seed_curves(curves, results_dir / "baselines_curves.png",
                     f"K = {K}, T = {T}: mean ± std over {seeds_text(len(seeds))}")
    plot_seed_bars({labels[r][0].replace(", ", ",\n"): losses[r] for r in labels if r != "reference"},
                   results_dir / "baselines_bars.png", f"T = {T} steps each, K = {K}, {seeds_text(len(seeds))}",
                   baseline=numbers["mean_val_loss"]["reference"])


def part(verdict, holds, *fails):
    """One part of the authors' ordering from a pairwise verdict: 'holds' when it is `holds`, 'does not hold' when
    one of `fails`, else 'inconclusive'."""
    return "holds" if verdict.startswith(holds) else "does not hold" if verdict.startswith(fails) else "inconclusive"


def authors_order(r):
    """Whether the authors' ordering (stacking 2 rounds ~ the full-depth model, stacking 1 round worse, half width
    the worst) holds here, from the paired verdicts: one sentence per part."""
    verdicts = {(c["first"], c["second"]): c for c in r["comparisons"]}

    def said(a, b):
        c = verdicts[a, b]
        return f"{c['mean']:+.4f} {interval(c)}, {c['verdict']}"
    theirs = "; ".join(f"{size}: {' / '.join(f'{x:.3f}' for x in v)}"
                       for size, v in r["authors_final_val_loss"].items())
    half = [c["verdict"] for (a, _), c in verdicts.items() if a == "half_width"]
    parts = {"stacking 2 rounds ≈ the reference": part(verdicts["stack2", "reference"]["verdict"], "equal", "better",
                                                       "worse"),
             "stacking 1 round worse than 2 rounds": part(verdicts["stack1", "stack2"]["verdict"], "worse", "better",
                                                          "equal"),
             "half width the worst": "holds" if all(v == "worse" for v in half) else
             "does not hold" if any(v.startswith(("better", "equal")) for v in half) else "inconclusive"}
    failed = [k for k, v in parts.items() if v == "does not hold"]
    judged = ("holds" if all(v == "holds" for v in parts.values()) else
              f"does not hold ({'; '.join(failed)}: no)" if failed else
              "inconclusive (" + "; ".join(f"{k}: {v}" for k, v in parts.items()) + ")")
    return [f"**Does the authors' ordering hold here?** **{judged}**. Their logs (full-depth scratch / stacking 2 "
            f"rounds / stacking 1 round / half width, at 100K steps): {theirs}. Here, paired over seeds: stacking "
            f"2 rounds - reference {said('stack2', 'reference')}; stacking 1 round - stacking 2 rounds "
            f"{said('stack1', 'stack2')}; half width - stacking 1 round {said('half_width', 'stack1')} (against "
            "every row: the table below)."]


def render_baselines(r):
    """baselines.md from its baselines.json alone."""
    K, T, n, labels, half = r["K"], r["T"], r["n"], r["labels"], r["half_width"]

    def row_line(row):
        label, layers, width = labels[row]
        return (f"| {label} | {layers} | {width} | {losses_text(r, row)} | {', '.join(map(str, r['final_step'][row]))} "
                f"| {r['clip_rate'][row]:.3f} |")
    stage_text = "; ".join(f"{labels[row][0]}: " + ", then ".join(f"{d}L to step {end}" for d, end in plan)
                           for row, plan in r["stack_plans"].items())
    md = ["# Inheritune beside the rivals the paper's authors ran: stacking and half width\n",
          f"Command: `{r['command']}`; runs made at {commits_text(r['git_commits'])}. "
          f"Same references, recipe, seeds, batch orders and statistics as [study.md](study.md) (its Inheritune "
          f"and scratch runs at n = {n} are rows here). Every row but the reference trains T = {T} steps in all on "
          "the seed's Inheritune batches (data_seed 2s+1), from the grow loop's recipe.  ",
          f"Stacking (inherit.py --stack, G_stack order: blocks 0..n-1 repeated): {stage_text}. The first stage "
          "starts from scratch; each next one is the last stage's model at its last step, every tensor copied "
          "(embeddings, final layernorm, head; each copied block keeps its trained attention-logit divisor), with a "
          f"fresh optimizer. One cosine schedule over the T steps spans the stages (lr_decay_iters = T), and step t "
          "draws the batch the Inheritune run draws at step t, so the stages together see exactly its T batches.  ",
          f"Half width: K = {K} blocks at n_embd = {half['n_embd']} with the reference's {half['n_head']} heads, "
          "each half as wide, from scratch.  ",
          "Not run: the authors' \"hybrid\" stacking (logged beside these, but defined nowhere this project can "
          "read: docs/inheritune.md).  ",
          f"Hardware: {r['hardware']}; {r['train_s'] / 60:.1f} min of training and evaluation summed over the "
          f"{r['runs']} runs (their elapsed_s), {r['wall_s'] / 3600:.2f} h wall for this invocation (finished runs "
          "are reused).\n",
          *authors_order(r), "",
          f"## Rows: final val loss, mean ± std over {seeds_text(len(r['seeds']))}\n",
          "| model | layers | width | val loss | per seed | steps | clip rate |", "|---|---|---|---|---|---|---|",
          *map(row_line, labels), "",
          "## Paired over seeds (first minus second)\n",
          f"'better' when the 95% t interval lies below 0, 'worse' above 0, 'equal' within ±{r['match_margin']}; "
          "'detectable': the smallest true difference these seeds find with 80% power.\n",
          "| comparison | mean difference | 95% interval | per seed | detectable | verdict |",
          "|---|---|---|---|---|---|", *map(comparison_line, r["comparisons"]), "",
          "![final losses](baselines_bars.png)\n", "![loss curves, each stacking stage apart](baselines_curves.png)\n"]
    return "\n".join(md) + "\n"


def write_baselines(results_dir, base, seeds, rows, wall_s, command):
    """results_dir/baselines.json from the seeds' run records, baselines.md rendered from it, and the baselines_*.png
    figures."""
    results_dir.mkdir(parents=True, exist_ok=True)
    numbers = baselines_numbers(base, seeds, rows, wall_s, command)
    baselines_figures(results_dir, rows, numbers)
    publish(results_dir, "baselines.json", numbers)


# ---- the reports, written and rendered ----------------------------------------------------------

# a report's JSON -> its markdown and the renderer that makes one from the other
REPORTS = {"results.json": ("study.md", render_claims), "layers.json": ("layers.md", render_layers),
           "baselines.json": ("baselines.md", render_baselines)}


def render(path):
    """A report's markdown from its JSON file (REPORTS names the kinds)."""
    return REPORTS[Path(path).name][1](json.loads(Path(path).read_text()))


def publish(results_dir, name, numbers):
    """Writes a report's numbers as results_dir/name, then its markdown rendered from that file alone (REPORTS), and
    prints it."""
    write_json_atomically(results_dir / name, numbers)
    md = render(results_dir / name)
    write_text_atomically(results_dir / REPORTS[name][0], md)
    print(md)


def main(argv=None):
    p = argparse.ArgumentParser(description="Print a study report's markdown, rendered from its JSON alone: "
                                "results.json gives study.md, layers.json layers.md, baselines.json baselines.md.")
    p.add_argument("json", help="a report's JSON, as study.py wrote it (e.g. results/pcfg/results.json)")
    path = Path(p.parse_args(argv).json)
    if path.name not in REPORTS:
        raise SystemExit(f"{path} is not a report's JSON: name one of {', '.join(REPORTS)}")
    if not path.is_file():
        raise SystemExit(f"{path} does not exist")
    try:
        md = render(path)
    except KeyError as key:
        raise SystemExit(f"{path} has no {key}: an older study.py wrote it, before a report's JSON held every value "
                         "of its markdown") from None
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
