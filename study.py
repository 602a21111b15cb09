"""The paper's four claims at small scale, on its recipe: blocks hold most of the parameters, the
reference is trained to its plateau, every row has several seeds and every claim a paired test.

    python study.py --jobs 3                     # CPU: K=8, d=64, T=1,600 steps, 3 seeds side by side
    python study.py --preset gpu --jobs 5        # K=12, d=80, block 256, 5 seeds: one H100/H200
    python study.py --preset pcfg --seeds 0 --jobs 2   # where depth matters (the grammar corpus), one seed a part
    python study.py --quick                      # tiny and one seed: checks the pipeline (the tests run it)
    python study.py --suite layers --jobs 3      # which blocks to inherit, and distillation

Data: the built-in corpus in its own 1,024-token BPE (data/builtin_bpe1024), or another corpus of CORPORA that a
preset names. Per seed s (initialisation s; the reference's batches drawn with data_seed 2s, every compared model's
with 2s+1): a K-block reference; the grow loop from K/2 by 2, inheriting the blocks and the token embedding
(= tied LM head) as the paper does, which judges claim (a); then, at depths fixed before any run, n = K/2 and n = round(2K/3):
Inheritune and scratch for T and 2T steps, and at round(2K/3) the ablation's three other part presets.
Every run trains with the reference's recipe: config/study_<preset>.py over train.py's defaults. One
status line per run start and finish; each run's output goes to its train.log. Interrupted, rerun the
same command: finished runs are reused and unfinished ones resumed. Writes results/study.md
(RESULTS/) with its figures.

Parts: --seeds trains only those seeds. Each finished seed's run records (config.json, result.json, log.jsonl, the
grow loop's JSON, the reference's attention analysis; no checkpoints) are kept in RESULTS/runs/seed<s>/, and the
report is made from those records over every seed kept there, so a later part may run on a machine whose out/ is
gone. A part that retrains a recorded reference (another suite) must reproduce its recorded val loss exactly.
--jobs counts trainings at once, not seeds: after its reference and grow loop, a seed's runs train side by side.

--suite layers trains, from the same references and with the same recipe, seeds and batches, at the compared
depths: Inheritune with each selection policy of inherit.py --select (first = the claims suite's run),
knowledge distillation from the reference into a scratch- and an Inheritune-initialised student, and
scratch (shared with the claims suite); each against first-n, paired over seeds. Writes results/layers.md.

--wandb also sends every run to Weights & Biases (pip install wandb), grouped under the --out folder.
"""

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path

import torch

import grow
import inherit
from analyze import analyze
from checkpoint import load_checkpoint, lock_run_dir
from configurator import load_config
from data import read_meta, write_atomically, write_json_atomically, write_text_atomically
from plots.plot_grow import plot_grow
from plots.plot_layers import plot_layer_choices
from plots.plot_seeds import plot_seed_bars, plot_seed_curves, seeds as seeds_text
from prepare_openwebtext import prepare_dataset
from run_records import read_log, read_result, read_run_json
from settings import DEFAULTS, SELECT, require_wandb

HERE = Path(__file__).resolve().parent
PRESETS = {"cpu": "config/study_cpu.py", "gpu": "config/study_gpu.py", "pcfg": "config/study_pcfg.py"}
# the corpora a preset may train on, all made offline by prepare_openwebtext.prepare_dataset
CORPORA = {"builtin_bpe1024": "the built-in corpus", "pcfg": "the grammar corpus of pcfg.py"}
RESULTS = {"cpu": "results", "gpu": "results/gpu", "pcfg": "results/pcfg"}
SEEDS = {"cpu": (0, 1, 2), "gpu": (0, 1, 2, 3, 4), "pcfg": (0, 1, 2)}
# --quick: the same pipeline at a size that trains in seconds on a CPU, whatever the preset
QUICK = dict(n_layer=4, n_head=2, n_embd=16, block_size=32, batch_size=4, tokens_per_step=128, max_iters=4,
             warmup_iters=1, eval_interval=2, eval_tokens=1024, log_interval=2, device="cpu", compile=False)
PARTS = ("attn_ln", "mlp_ln", "attn_mlp_noln")  # the ablation's part presets besides 'full' (= Inheritune)
# What each preset compares: how many of fixed_depths, and the ablation's parts. On this project's 2-core build
# machine a CPU run trains at 4,200 (8 blocks) to 5,900 (4 blocks) tokens/s with three side by side, not the
# 11,000-13,000 per run the pilot had estimated, so the CPU study fits 3 hours with one depth, K/2, and one
# ablation preset, attention (+ its layernorm) only; the GPU preset compares at both depths and ablates all
# three presets at round(2K/3), as the paper. So does the grammar corpus's preset, whose claims suite runs in parts
# of one seed (~1.5 h on 2 cores each: results/pilot.md).
PLANS = {"cpu": (1, PARTS[:1]), "gpu": (2, PARTS), "pcfg": (2, PARTS)}
# a run's files the reports read, kept in RESULTS/runs (no checkpoints): config, result, log, the grow loop's JSON,
# the attention analysis and figure, and the inheritance manifest taken out of the checkpoint
RECORDS = ("config.json", "result.json", "log.jsonl", "results.json", "search.json", "attention.json", "attention.png",
           "manifest.json")
# a damaged run file: a kept record is restored from git, a run in --out trained again
DAMAGED = "restore it (the records kept under results/ are in git), or delete its run directory and rerun the command"
PAPER_EMBEDDINGS = "wte"  # the released code inherits the token embedding (= tied LM head) only
# "matches" means the paired 95% interval lies below +MATCH_MARGIN. The paper calls a gap of 0.00 a match
# (medium 16L Inheritune 2.81 vs 24L 2.81) and one of +0.03 not (14L: 2.84); 0.02 nats is under that gap
# (0.6% of this study's ~3.2 vs the paper's 1.1% of 2.81). study.md sets it beside the seed spread measured.
MATCH_MARGIN = 0.02
PLATEAU_SHARE, PLATEAU_LIMIT = 0.2, 0.02  # the reference's plateau: its last 20% of steps gain < 2%


def study_settings(preset, quick):
    """The reference's training config: train.py's defaults, the preset's config file, --quick's sizes."""
    cfg = load_config(DEFAULTS, [str(HERE / PRESETS[preset])])
    if quick:
        cfg.update(QUICK)
    if cfg["dataset"] not in CORPORA:
        raise SystemExit(f"{PRESETS[preset]} trains on {cfg['dataset']}; the study prepares one of {', '.join(CORPORA)}")
    return grow.reference_overrides(cfg)


def fixed_depths(K):
    """The depths every comparison uses, fixed before any run: K/2 (the paper's large runs: 18 of 36) and
    round(2K/3) (its medium runs and their ablation: 16 of 24)."""
    return K // 2, round(2 * K / 3)


def compared_depths(K, preset):
    return fixed_depths(K)[:PLANS[preset][0]]


def ablation_depth(K, preset):
    """The deepest compared depth: round(2K/3) where the plan has both (the paper ablates GPT2-medium at
    16 of its 24 blocks), else K/2."""
    return compared_depths(K, preset)[-1]


def ablation_parts(preset):
    return PLANS[preset][1]


def data_orders(seed):
    """Seed s: its reference draws batches with data_seed 2s, every model compared with it (the grow loop's
    default: the reference's + 1) with 2s + 1, so no two seeds share a batch order."""
    return {"reference": 2 * seed, "targets": 2 * seed + 1}


def share_cores(jobs, device, environ=os.environ):
    """CPU runs side by side: each training process gets cores // jobs threads (torch's default, every core per
    process, oversubscribes them several times over), unless the user set OMP_NUM_THREADS."""
    if device == "cpu" and jobs > 1 and "OMP_NUM_THREADS" not in environ:
        environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return environ.get("OMP_NUM_THREADS")


def run(base, out_dir, progress, **changes):
    """Train one model of the study (reused when finished, resumed when not) in one of --jobs slots; returns its
    run dir."""
    with progress.slots:
        grow.run_training(launcher(progress), {**base, **changes}, str(out_dir))
    return Path(out_dir)


def run_all(jobs):
    """Row -> run dir from row -> a call that trains it, side by side (the runs' slots bound how many train at
    once; the longest are listed first). A failed run cancels the runs not started and is raised."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {row: pool.submit(job) for row, job in jobs.items()}
        done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        if any(f.exception() for f in done):
            pool.shutdown(cancel_futures=True)
    return {row: f.result() for row, f in futures.items()}


def launcher(progress):
    """How the study's runs start: plain single-process train.py, tracked as --wandb says, reporting to
    `progress`."""
    return grow.Launcher(progress=progress, **progress.tracking)


def reference_and_grow(base, seed, out, progress, records):
    """A seed's reference (checked against its record, where one is kept) and its grow loop (blocks + wte
    inherited); returns the grow loop's results.json."""
    ref = run(base, out / f"seed{seed}" / "reference", progress, seed=seed, data_seed=data_orders(seed)["reference"])
    check_reproduced(ref, records / "reference")
    grow_dir = out / f"seed{seed}" / "grow"
    with progress.slots:
        grow.grow_until_baseline(launcher(progress), grow.Search(out=str(grow_dir), reference_run=str(ref),
                                                                 embeddings=PAPER_EMBEDDINGS))
    results = read_run_json(grow_dir / "results.json", DAMAGED)
    progress.grow_stopped([r["n"] for r in results["rounds"]])
    return results


def grow_depths(K):
    """The rounds a grow loop with its defaults (grow.Search) may train: from K/2 by 2 below K."""
    return list(range(K // 2, K, 2))


def seed_runs(base, seed, out, preset, progress, results_dir, suite="claims"):
    """A seed's runs: its reference and grow loop, then the suite's models at the fixed depths side by side,
    whatever depth its grow loop stopped at; then its records kept in results_dir/runs/seed<s>. Returns row ->
    run dir."""
    records = records_dir(results_dir, seed)
    reference_and_grow(base, seed, out, progress, records)
    rows = SUITES[suite](seed, out / f"seed{seed}", preset, progress)
    keep_records(out / f"seed{seed}", rows, suite, records)
    return rows


def records_dir(results_dir, seed):
    return Path(results_dir) / "runs" / f"seed{seed}"


def check_reproduced(run_dir, record):
    """A run trained here must end where its kept record did (CPU training is deterministic for a seed), else the
    records and this machine's runs would be mixed in one report."""
    if (record / "result.json").exists() and result(record)["val_loss"] != result(run_dir)["val_loss"]:
        raise SystemExit(f"{run_dir} ended at val loss {result(run_dir)['val_loss']!r}, but its record {record} at "
                         f"{result(record)['val_loss']!r}: this machine does not reproduce the kept runs (another CPU "
                         f"or torch?); report it on its own with --results elsewhere")


def keep_records(seed_dir, rows, suite, records):
    """Copy a finished seed's run records (RECORDS: no checkpoints) to `records`, the reference's attention
    analysis and the inherited runs' manifests included; the suite's rows (<suite>.json) last, which marks the
    seed as kept."""
    analyze(rows["reference"] / "ckpt.pt", rows["reference"])
    for ckpt in seed_dir.rglob("ckpt.pt"):
        manifest = load_checkpoint(ckpt).get("inherit_manifest")
        if manifest:
            write_json_atomically(ckpt.parent / "manifest.json", manifest)
    for path in sorted(seed_dir.rglob("*")):
        if path.name in RECORDS and path.is_file():
            target = records / path.relative_to(seed_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, lambda f: f.write(path.read_bytes()), "wb")
    write_json_atomically(records / f"{suite}.json", {row: str(d.relative_to(seed_dir)) for row, d in rows.items()})


def kept_seeds(results_dir, suite):
    """The seeds whose records for `suite` are kept in results_dir/runs."""
    found = Path(results_dir).glob(f"runs/seed*/{suite}.json")
    return sorted(int(p.parent.name.removeprefix("seed")) for p in found)


def kept_rows(results_dir, seed, suite):
    """A kept seed's rows: row -> its record dir."""
    records = records_dir(results_dir, seed)
    return {row: records / rel for row, rel in read_run_json(records / f"{suite}.json", DAMAGED).items()}


def seed_recipe(seed, seed_dir):
    """A seed's grow loop's recipe (search.json): the init seed, batch order and hyperparameters of every model
    compared with its reference."""
    recipe = read_run_json(seed_dir / "grow" / "search.json", DAMAGED)
    assert recipe["data_seed"] == data_orders(seed)["targets"], "the grow loop's batch order is not the seed's own"
    return {k: v for k, v in recipe.items() if k in DEFAULTS}  # a search from an earlier version: its old settings go


def inherited(recipe, seed_dir, depth, progress, parts="full"):
    """Inheritune at `depth` with `parts`: the grow loop's round where it trained that depth (reused or added)."""
    if parts == "full" and depth in grow_depths(recipe["n_layer"]):
        return run(recipe, seed_dir / "grow" / f"n{depth:02d}", progress, n_layer=depth)
    return run(recipe, seed_dir / f"inherit{depth}_{parts}", progress, n_layer=depth, inherit_parts=parts)


def target_runs(seed, seed_dir, preset, progress):
    """The claims suite: a seed's models compared with its reference, trained with its grow loop's recipe.
    Returns row name -> run dir."""
    recipe = seed_recipe(seed, seed_dir)
    scratch = grow.scratch_overrides(recipe)
    K = recipe["n_layer"]
    depths, n_abl = compared_depths(K, preset), ablation_depth(K, preset)
    jobs = {f"scratch_2T_n{d}": partial(run, scratch, seed_dir / f"scratch{d}_2T", progress, n_layer=d,
                                        max_iters=2 * recipe["max_iters"]) for d in depths}
    for d in depths:
        jobs[f"inheritune_n{d}"] = partial(inherited, recipe, seed_dir, d, progress)
        jobs[f"scratch_T_n{d}"] = partial(run, scratch, seed_dir / f"scratch{d}_T", progress, n_layer=d)
    jobs |= {f"ablate_{p}_n{n_abl}": partial(inherited, recipe, seed_dir, n_abl, progress, p)
             for p in ablation_parts(preset)}
    return {"reference": seed_dir / "reference", **run_all(jobs)}


def layer_runs(seed, seed_dir, preset, progress):
    """The layers suite: at each compared depth, Inheritune with each selection policy (first = the claims
    suite's Inheritune run), knowledge distillation from the reference into a scratch-initialised and an
    Inheritune-initialised student, and scratch; all T steps with the grow loop's recipe and batches.
    Returns row name -> run dir."""
    recipe = seed_recipe(seed, seed_dir)
    scratch, teacher = grow.scratch_overrides(recipe), recipe["inherit_from"]
    jobs = {}
    for d in compared_depths(recipe["n_layer"], preset):
        jobs[f"distill_scratch_n{d}"] = partial(run, scratch, seed_dir / f"distill{d}_scratch", progress, n_layer=d,
                                                distill_from=teacher)
        jobs[f"distill_inherit_n{d}"] = partial(run, recipe, seed_dir / f"distill{d}_inherit", progress, n_layer=d,
                                                distill_from=teacher)
        jobs[f"first_n{d}"] = partial(inherited, recipe, seed_dir, d, progress)
        jobs |= {f"{p}_n{d}": partial(run, recipe, seed_dir / f"select{d}_{p}", progress, n_layer=d, inherit_select=p)
                 for p in POLICIES}
        jobs[f"scratch_T_n{d}"] = partial(run, scratch, seed_dir / f"scratch{d}_T", progress, n_layer=d)
    return {"reference": seed_dir / "reference", **run_all(jobs)}


def stack_plan(K, T, rounds):
    """Stacking's stages as (depth, last step): each round doubles the depth up to K at T / 2^(rounds - i), so the
    K-block model always trains the last T/2 steps and the smallest K / 2^rounds blocks the first T / 2^rounds;
    1 round: K/2 for T/2, then K for T/2; 2 rounds: K/4 for T/4, K/2 for T/4, K for T/2."""
    if K >> rounds < 1 or T >> rounds < 1:
        raise SystemExit(f"{rounds} rounds of stacking need K >= {2 ** rounds} blocks and T >= {2 ** rounds} steps")
    return [(K >> (rounds - i), T >> (rounds - i)) for i in range(rounds)] + [(K, T)]


def stacked(recipe, seed_dir, rounds, progress):
    """Growth by stacking to K in `rounds` rounds, T steps in all (stack_plan): the first stage from scratch, each
    next one G_stack-ed from the last stage's checkpoint at its last step (inherit.py --stack) and trained on. One
    cosine over T spans the stages and step t draws the batch the Inheritune run draws at step t (a function of the
    step and data_seed), so the stages together see exactly its T batches. Returns the last stage's run dir."""
    K, T = recipe["n_layer"], recipe["max_iters"]
    schedule = {**grow.scratch_overrides(recipe), "lr_decay_iters": recipe.get("lr_decay_iters") or T}
    previous = None
    for depth, end in stack_plan(K, T, rounds):
        run_dir = seed_dir / f"stack{rounds}_n{depth:02d}"
        if previous is not None and not (run_dir / "ckpt.pt").exists():  # grown once; rerun: resumed or reused
            inherit.write_stacked_checkpoint(previous / "ckpt.pt", depth, run_dir / "ckpt.pt", max_iters=end)
        previous = run(schedule, run_dir, progress, n_layer=depth, max_iters=end)
    return previous


def half_width(recipe):
    """The reference's recipe at half its width, from scratch: n_embd / 2 with as many heads, each half as wide. The
    head count is kept: halving it instead is impossible for the GPU preset's 5 heads (and GPT-2 XL's 25)."""
    width, heads = recipe["n_embd"] // 2, recipe["n_head"]
    if recipe["n_embd"] % 2 or width % heads:
        raise SystemExit(f"n_embd={recipe['n_embd']} cannot be halved into {heads} heads of equal width")
    return {**grow.scratch_overrides(recipe), "n_embd": width}


STACK_ROUNDS = {"stack1": 1, "stack2": 2}  # the baselines suite's stacking rows


def baseline_runs(seed, seed_dir, preset, progress):
    """The baselines suite: Inheritune at K/2 (the claims suite's run) beside the rivals the paper's authors ran,
    all from the seed's grow-loop recipe, T steps on its batches: stacking in 1 and 2 rounds to K, the K-block
    model at half width, scratch at K/2 (shared with the claims suite) and the reference. Returns row -> run dir."""
    recipe = seed_recipe(seed, seed_dir)
    n = recipe["n_layer"] // 2
    jobs = {**{r: partial(stacked, recipe, seed_dir, rounds, progress) for r, rounds in STACK_ROUNDS.items()},
            "half_width": partial(run, half_width(recipe), seed_dir / "half_width", progress),
            f"inheritune_n{n}": partial(inherited, recipe, seed_dir, n, progress),
            f"scratch_T_n{n}": partial(run, grow.scratch_overrides(recipe), seed_dir / f"scratch{n}_T", progress,
                                       n_layer=n)}
    return {"reference": seed_dir / "reference", **run_all(jobs)}


SUITES = {"claims": target_runs, "layers": layer_runs, "baselines": baseline_runs}
POLICIES = tuple(p for p in SELECT if p != "first")  # the layers suite's policies beside the paper's


class Progress:
    """One status line per run start and finish (run, seed, val loss, elapsed, ETA of the whole study);
    each run's own output goes to its train.log. The ETA weighs runs by FLOPs (parameters x tokens)."""

    def __init__(self, out, base, seeds, preset, suite="claims", tracking=None, jobs=1):
        self.out, self.base, self.t0, self.lock = out, base, time.time(), threading.Lock()
        self.tracking = tracking or {}  # --wandb's fields of grow.Launcher, handed to every run's launch
        self.slots = threading.BoundedSemaphore(jobs)  # --jobs: how many runs train at once
        self.started_at, self.done, self.counted = {}, 0.0, set()
        self.depths = compared_depths(base["n_layer"], preset)
        self.total = len(seeds) * sum(self.cost(base, *run) for run in self.plan(base, preset, suite))

    def plan(self, base, preset, suite):
        """A seed's runs as (layers, steps, teacher layers): the reference, the grow rounds, the suite's."""
        K, T, depths = base["n_layer"], base["max_iters"], self.depths
        runs = [(K, T, 0)] + [(n, T, 0) for n in grow_depths(K)] + [(n, T, 0) for n in depths if n not in grow_depths(K)]
        if suite == "layers":
            return runs + [(n, T, 0) for n in depths] * (len(POLICIES) + 1) + [(n, T, K) for n in depths] * 2
        if suite == "baselines":  # a stage counts to its last step, as finished() does; half width: 1/4 the blocks
            stages = [(d, end, 0) for rounds in STACK_ROUNDS.values() for d, end in stack_plan(K, T, rounds)]
            return runs + stages + [(K / 4, T, 0), (K // 2, T, 0)]
        runs += [(n, t, 0) for n in depths for t in (T, 2 * T)]
        return runs + [(ablation_depth(K, preset), T, 0)] * len(ablation_parts(preset))

    @staticmethod
    def cost(base, n_layer, steps, teacher_layers=0):
        """FLOPs up to a constant: a step's forward and backward of the model, plus a teacher's forward
        (a third of its training step) for distillation."""
        # the dataset's vocabulary where the config leaves it to the data (0 while not prepared: the embedding left out)
        V = base["vocab_size"] or (read_meta(base["data_dir"], base["dataset"]) or {}).get("vocab_size", 0)
        d = base["n_embd"]
        return steps * (n_layer * 12 * d * d + V * d + teacher_layers * 4 * d * d + (V * d / 3 if teacher_layers else 0))

    def grow_stopped(self, rounds):
        """Takes the grow rounds a loop did not need, and no compared run trains, out of the plan."""
        unneeded = [n for n in grow_depths(self.base["n_layer"]) if n not in rounds + list(self.depths)]
        with self.lock:
            self.total -= sum(self.cost(self.base, n, self.base["max_iters"]) for n in unneeded)

    def started(self, out_dir):
        with self.lock:
            self.started_at[str(out_dir)] = time.time()
        self.say(f"start  {self.name(out_dir)}")

    def finished(self, out_dir, result, trained):
        cfg = run_config(out_dir)
        with self.lock:
            teacher = self.base["n_layer"] if cfg.get("distill_from") else 0
            cost = self.cost(cfg, cfg["n_layer"], cfg["max_iters"], teacher)
            if trained:
                self.done += cost
            elif str(out_dir) not in self.counted:  # a run found finished leaves the plan, once (rows share runs)
                self.total -= cost
            self.counted.add(str(out_dir))
            took = time.time() - self.started_at.get(str(out_dir), time.time())
            left = self.total - self.done
            rate = self.done / (time.time() - self.t0)
            eta = f"ETA {clock(left / rate)}" if rate > 0 else "ETA n/a"
        if trained:
            self.say(f"finish {self.name(out_dir)}: val loss {result['val_loss']:.4f} in {clock(took)} | "
                     f"study {100 * self.done / max(self.total, 1):.0f}% done, {eta}")

    def name(self, out_dir):
        path = Path(out_dir)
        return str(path.relative_to(self.out)) if path.is_relative_to(self.out) else str(path)

    def say(self, text):
        status_line(self.t0, text)


def status_line(t0, text):
    """A status line stamped with the time since t0, in one write: threads' lines do not interleave."""
    sys.stdout.write(f"[{clock(time.time() - t0)}] {text}\n")
    sys.stdout.flush()


def clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def result(run_dir):
    return read_result(run_dir, DAMAGED)


def run_config(run_dir):
    return read_run_json(Path(run_dir) / "config.json", DAMAGED)


def provenance(run_dirs):
    """The commits the runs were made at (short hashes) and their training time summed (elapsed_s)."""
    return (sorted({run_config(d)["git_commit"][:7] for d in run_dirs}),
            sum(result(d)["elapsed_s"] for d in run_dirs))


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


def plateau(run_dir, share=PLATEAU_SHARE):
    """Relative val-loss improvement over the run's last `share` of steps (from its log.jsonl)."""
    curve = [(r["step"], r["val_loss"]) for r in read_log(Path(run_dir) / "log.jsonl")
             if r.get("val_loss") is not None]
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


def spread(values):
    """The seeds' standard deviation; None for one seed (shown as n/a)."""
    return statistics.stdev(values) if len(values) > 1 else None


def fmt(x, sign=False):
    return "n/a" if x is None else f"{x:+.4f}" if sign else f"{x:.4f}"


# the paper's depth gain: its K-layer reference against scratch at the target depth, both after 100K steps
PAPER_DEPTH_GAIN = "medium: 24L 2.81 vs 16L 2.86 (-0.05); large: 36L 2.85 vs 18L 2.97 (-0.12)"


def row_labels(K, preset):
    """Row name -> (label, depth), in the order of the tables."""
    labels, n_abl = {"reference": (f"reference ({K} blocks), T", K)}, ablation_depth(K, preset)
    for n in compared_depths(K, preset):
        labels |= {f"inheritune_n{n}": ("Inheritune (blocks + wte), T", n), f"scratch_T_n{n}": ("scratch, T", n),
                   f"scratch_2T_n{n}": ("scratch, 2T", n)}
    return labels | {f"ablate_{p}_n{n_abl}": (f"Inheritune ({p} + wte), T", n_abl) for p in ablation_parts(preset)}


def grow_lines(grows):
    """Per seed: where the grow loop stopped, its gap to the reference there and at the round before."""
    lines = []
    for s, g in grows.items():
        gaps = {r["n"]: r["gap"] for r in g["rounds"]}
        stop = g["stopped_at"]
        before = [n for n in gaps if stop is None or n < stop]
        lines.append(f"| {s} | {g['baseline_val_loss']:.4f} | " + " ".join(f"n={n}: {v:+.4f}" for n, v in gaps.items())
                     + f" | {stop if stop is not None else 'none'} | {fmt(gaps.get(stop), True)} | "
                     + (f"{gaps[before[-1]]:+.4f} (n={before[-1]})" if before else "n/a (first round)") + " |")
    return lines


def claim_line(claim, kind, d):
    undecided = verdict(d, kind) == "inconclusive"
    decide = seeds_to_decide(d, kind) if undecided else None
    return (f"| {claim} | {fmt(d['mean'], True)} | {fmt(d['std'])} | [{fmt(d['lo'], True)}, {fmt(d['hi'], True)}] "
            f"| {' '.join(f'{x:+.4f}' for x in d['diffs'])} | {fmt(detectable(d))} | **{verdict(d, kind)}** | "
            + (("more than 1,000" if decide is None else f"{decide}") if undecided else "") + " |")


def write_results(results_dir, preset, base, seeds, grows, rows, attention, wall_s, command):
    """results_dir/study.md, results.json and the figures, from the finished runs."""
    results_dir.mkdir(parents=True, exist_ok=True)
    K, T = base["n_layer"], base["max_iters"]
    depths, n_abl = compared_depths(K, preset), ablation_depth(K, preset)
    labels = row_labels(K, preset)
    runs = {name: [result(rows[s][name]) for s in seeds] for name in labels}
    losses = {name: [r["val_loss"] for r in rs] for name, rs in runs.items()}
    clip = {name: statistics.fmean(r["clip_rate"] for r in rs) for name, rs in runs.items()}
    compared = [(c, a, b, k, paired(losses[a], losses[b])) for c, a, b, k in claims(K, preset)]
    gains = {n: paired(losses["reference"], losses[f"scratch_T_n{n}"]) for n in depths}
    params = runs["reference"][0]["num_params"]
    meta = read_meta(base["data_dir"], base["dataset"])
    train_tokens, vocab = meta["tokens"]["train"], meta["vocab_size"]
    tokens = T * base["tokens_per_step"]
    plateaus = [plateau(rows[s]["reference"]) for s in seeds]
    every_run = {str(d) for s in seeds for d in rows[s].values()} | {
        str(rows[s]["reference"].parent / "grow" / f"n{r['n']:02d}") for s, g in grows.items() for r in g["rounds"]}
    commits, train_s = provenance(every_run)
    validation = (f"the first {base['eval_tokens']:,} tokens of val.bin" if base["eval_tokens"] else "all of val.bin")
    orders = {s: data_orders(s) for s in seeds}
    ref_spread = spread(losses["reference"])
    diff_spreads = [d["std"] for *_, d in compared if d["std"] is not None]

    table = [f"| {label} | {depth} | {statistics.fmean(losses[r]):.4f} ± {fmt(spread(losses[r]))} | "
             + " ".join(f"{x:.4f}" for x in losses[r]) + f" | {clip[r]:.3f} |" for r, (label, depth) in labels.items()]
    gain_lines = [f"| {n} | {fmt(d['mean'], True)} | [{fmt(d['lo'], True)}, {fmt(d['hi'], True)}] | "
                  f"{' '.join(f'{x:+.4f}' for x in d['diffs'])} | "
                  f"{fmt(paired(losses[f'inheritune_n{n}'], losses[f'scratch_T_n{n}'])['mean'], True)} |"
                  for n, d in gains.items()]
    collapse = [f"| {s} | {attention[s] if attention[s] is not None else 'none'} | "
                f"{grows[s]['stopped_at'] if grows[s]['stopped_at'] is not None else f'none < {K}'} |" for s in seeds]

    curve_rows = ["reference"] + [f"{kind}_n{n}" for n in depths for kind in ("inheritune", "scratch_T", "scratch_2T")]
    plot_seed_curves({f"{labels[r][0]} ({labels[r][1]}L)": [rows[s][r] for s in seeds] for r in curve_rows},
                     results_dir / "curves.png", f"K={K}: mean ± std over {seeds_text(len(seeds))}")
    plot_grow(str(rows[seeds[0]]["reference"].parent / "grow"), results_dir / "grow.png")
    ablation = {p: losses[f"ablate_{p}_n{n_abl}"] for p in ablation_parts(preset)}
    plot_seed_bars(ablation | {"full": losses[f"inheritune_n{n_abl}"], "scratch": losses[f"scratch_T_n{n_abl}"]},
                   results_dir / "ablation.png", f"parts inherited, {n_abl} of {K} blocks, {seeds_text(len(seeds))}",
                   baseline=statistics.fmean(losses["reference"]))
    write_json_atomically(results_dir / "results.json", {
        "command": command, "git_commits": commits, "seeds": list(seeds), "K": K, "T": T,
        "depths": list(depths), "n_ablation": n_abl, "data_orders": {str(s): o for s, o in orders.items()},
        "match_margin": MATCH_MARGIN, "final_val_loss": losses, "clip_rate": clip,
        "grow": {str(s): {"stopped_at": g["stopped_at"], "baseline": g["baseline_val_loss"],
                          "gaps": {str(r["n"]): r["gap"] for r in g["rounds"]}} for s, g in grows.items()},
        "grow_verdict": grow_verdict(grows, K),
        "depth_gain": {str(n): d for n, d in gains.items()},
        "claims": [{"claim": c, "first": a, "second": b, "kind": k, **d, "verdict": verdict(d, k),
                    "detectable": detectable(d), "seeds_to_decide": seeds_to_decide(d, k)}
                   for c, a, b, k, d in compared],
        "first_collapsed_layer": {str(s): attention[s] for s in seeds}, "reference_last20_improvement": plateaus,
        "num_params": params, "train_tokens_in_corpus": train_tokens, "reference_tokens": tokens,
        "train_s": train_s, "wall_s": wall_s, "hardware": hardware(base)})
    md = [
        "# Inheritune at small scale, on the paper's recipe\n",
        f"Command: `{command}`; runs made at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}.  ",
        f"Data: {CORPORA[base['dataset']]} in its own {vocab:,}-token BPE ({base['dataset']}), {train_tokens:,} training "
        f"tokens; validation: {validation}, deterministic.  ",
        f"Model: K = {K} blocks, d = {base['n_embd']}, {base['n_head']} heads, block {base['block_size']}, "
        f"{params / 1e6:.2f}M parameters. T = {T} steps of {base['tokens_per_step']:,} tokens = {tokens / 1e6:.2f}M "
        f"tokens = {tokens / params:.1f} tokens per parameter and {tokens / train_tokens:.1f} passes over the "
        "training data (the paper's references: about 17-110 tokens per parameter, under one pass).  ",
        f"Recipe: {PRESETS[preset]} over train.py's defaults: the "
        f"paper's (no biases, dropout 0, AdamW (0.9, 0.95), weight decay {base['weight_decay']} on nn.Linear weights "
        f"only, clip {base['grad_clip']} of the gradient x {base['grad_scale']:g}, "
        f"attention {'scaled by 1/(layer+1)' if base['scale_attn_by_inverse_layer_idx'] else 'not scaled by layer'}, "
        "cosine schedule with warmup) but for size, learning rate, batch and steps.  ",
        "Seeds: seed s initialises with s, draws the reference's batches with data_seed 2s and every compared model's "
        "with 2s+1 (" + "; ".join(f"seed {s}: {o['reference']} / {o['targets']}" for s, o in orders.items()) + ").  ",
        "Reference plateau: its last 20% of steps improved val loss by "
        + ", ".join(f"{100 * p:.2f}%" for p in plateaus) + f" (target < {100 * PLATEAU_LIMIT:.0f}%).  ",
        f"Hardware: {hardware(base)}. Time: {train_s / 60:.1f} min of training and evaluation summed over the "
        f"{len(every_run)} runs (their elapsed_s); {wall_s / 3600:.2f} h wall for this invocation (finished runs are "
        "reused; the README gives the wall time of the invocations that trained them).\n",
        f"## Rows: final val loss, mean ± std over {seeds_text(len(seeds))}, each seed, clip rate\n",
        f"Depths fixed before any run: n = {', '.join(map(str, depths))} of K = {K} "
        f"({'K/2 and round(2K/3), as' if len(depths) == 2 else 'K/2, as'} the paper's large runs, 18 of 36"
        f"{', and its medium runs, 16 of 24' if len(depths) == 2 else ''}); the ablation at n = {n_abl}"
        f"{'' if n_abl == fixed_depths(K)[1] else ' (the paper ablates at 2K/3: 16 of 24)'}.\n",
        "| model | layers | val loss | per seed | clip rate |", "|---|---|---|---|---|", *table, "",
        "## (a) Grow until baseline (from n = K/2 by 2; a round matches when val loss <= the reference's)\n",
        f"Verdict: **{grow_verdict(grows, K)}**.\n",
        "| seed | reference val loss | gap per round (target - reference) | stopped at n | gap there | "
        "gap at the round before |", "|---|---|---|---|---|---|", *grow_lines(grows), "",
        "## Depth gain: the K-layer reference minus scratch at n after the same T steps\n",
        f"The paper's: {PAPER_DEPTH_GAIN}. The last column is what inheriting bought at the same depth "
        "(Inheritune minus scratch, both T).\n",
        "| n | reference - scratch T | 95% interval | per seed | Inheritune - scratch T |",
        "|---|---|---|---|---|", *gain_lines, "",
        "## Claims, paired over seeds (first minus second)\n",
        f"'matches' holds when the 95% t interval lies below +{MATCH_MARGIN}; 'equal' when it lies within "
        f"±{MATCH_MARGIN}; 'beats' when it lies below 0. The margin: the paper calls a gap of 0.00 a match "
        "(medium 16L "
        f"Inheritune 2.81 vs 24L 2.81) and +0.03 not (14L, 2.84); {MATCH_MARGIN} nats is under that. Seed spread "
        f"here: the reference's final val loss has std {fmt(ref_spread)} over seeds; the paired differences' stds "
        f"range {fmt(min(diff_spreads, default=None))}-{fmt(max(diff_spreads, default=None))}. 'Detectable': the "
        "smallest true difference these seeds find with 80% power (paired t test, 5% two-sided, at the measured "
        "std). 'Seeds to decide': for an inconclusive verdict, the seeds whose interval would clear the boundary "
        "if mean and std stayed as measured.\n",
        "| claim | mean difference | std | 95% interval | per seed | detectable | verdict | seeds to decide |",
        "|---|---|---|---|---|---|---|---|", *[claim_line(c, k, d) for c, a, b, k, d in compared], "",
        "## Attention collapse in the references (python analyze.py REF/ckpt.pt) beside the grow loop\n",
        "| seed | first layer where most heads are collapsed | grow loop stopped at n |", "|---|---|---|",
        *collapse, "",
        "![loss curves by step and by tokens](curves.png)\n", "![grow until baseline, first seed](grow.png)\n",
        "![ablation](ablation.png)\n",
        f"![attention rank, first seed's reference](runs/seed{seeds[0]}/reference/attention.png)\n",
    ]
    write_text_atomically(results_dir / "study.md", "\n".join(md) + "\n")
    print((results_dir / "study.md").read_text())


# ---- the layers suite's report ------------------------------------------------------------------

LAYER_ROWS = {"first": "Inheritune, first n blocks (the paper)", "spread": "Inheritune, n spread over K",
              "influence": "Inheritune, n most influential", "rank": "Inheritune, n least collapsed",
              "distill_scratch": "distillation, scratch init", "distill_inherit": "distillation, Inheritune init",
              "scratch_T": "scratch"}


def versus(diff):
    """A row against another (first minus second): better (interval below 0), worse (above 0), equal (within
    +-MATCH_MARGIN) or inconclusive."""
    lo, hi = diff["lo"], diff["hi"]
    if lo is None:
        return "inconclusive (one seed)"
    if hi < 0 or lo > 0:
        return "better" if hi < 0 else "worse"
    return f"equal (within ±{MATCH_MARGIN})" if -MATCH_MARGIN <= lo and hi <= MATCH_MARGIN else "inconclusive"


def layer_comparisons(n):
    """(what, row, other row) at depth n: every row against first-n, then what distillation adds to scratch
    and what inheriting adds to distillation."""
    return [(f"{LAYER_ROWS[r]} - first", f"{r}_n{n}", f"first_n{n}") for r in LAYER_ROWS if r != "first"] + [
        ("distillation (scratch init) - scratch", f"distill_scratch_n{n}", f"scratch_T_n{n}"),
        ("distillation (Inheritune init) - distillation (scratch init)", f"distill_inherit_n{n}",
         f"distill_scratch_n{n}")]


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


def answer(diffs, n):
    """The suite's two questions answered from its verdicts, with the numbers."""
    def said(r):
        d = diffs[f"{r}_n{n}", f"first_n{n}"]
        return f"{LAYER_ROWS[r]}: {d['mean']:+.4f} [{fmt(d['lo'], True)}, {fmt(d['hi'], True)}]"
    by = {v: [said(r) for r in POLICIES if versus(diffs[f"{r}_n{n}", f"first_n{n}"]).startswith(v)]
          for v in ("better", "worse", "equal", "inconclusive")}
    best = ("No: " + "; ".join(by["better"]) + " beat first-n" if by["better"] else
            "Yes: every other policy is worse" if len(by["worse"]) == len(POLICIES) else "First-n is not beaten")
    detail = "; ".join(f"{v} than first-n: {', '.join(x)}" if v in ("better", "worse") else f"{v}: {', '.join(x)}"
                       for v, x in by.items() if x)
    kd = {r: versus(diffs[f"{r}_n{n}", f"first_n{n}"]) for r in ("distill_scratch", "distill_inherit")}
    return [f"**Is first-n the best choice at n = {n}?** {best} (each minus first-n, mean and 95% interval; "
            f"{detail}).",
            f"**Does distillation beat inheritance?** Minus first-n, {said('distill_scratch')}, "
            f"{kd['distill_scratch']}. **Does it add to inheritance?** Minus first-n, {said('distill_inherit')}, "
            f"{kd['distill_inherit']}."]


def write_layers(results_dir, base, seeds, rows, attention, wall_s, command, preset="cpu"):
    """results_dir/layers.md, layers.json and the layers_*.png figures, from the finished runs."""
    results_dir.mkdir(parents=True, exist_ok=True)
    K, T = base["n_layer"], base["max_iters"]
    depths = compared_depths(K, preset)
    names = ["reference"] + [f"{r}_n{n}" for n in depths for r in LAYER_ROWS]
    losses = {r: [result(rows[s][r])["val_loss"] for s in seeds] for r in names}
    clip = {r: statistics.fmean(result(rows[s][r])["clip_rate"] for s in seeds) for r in names}
    chosen = {f"{p}_n{n}": [selection(rows[s][f"{p}_n{n}"], n) for s in seeds]
              for n in depths for p in ("first",) + POLICIES}
    diffs = {(a, b): paired(losses[a], losses[b]) for n in depths for _, a, b in layer_comparisons(n)}
    every_run = {str(rows[s][r]) for s in seeds for r in names}
    commits, train_s = provenance(every_run)
    step_s = {r: statistics.fmean(step_seconds(rows[s][r]) for s in seeds) for r in names if r != "reference"}

    def row_line(r, label, n):
        blocks = " / ".join(",".join(map(str, c["blocks"])) for c in chosen[r]) if r in chosen else ""
        return (f"| {label} | {n} | {blocks} | {statistics.fmean(losses[r]):.4f} ± {fmt(spread(losses[r]))} | "
                + " ".join(f"{x:.4f}" for x in losses[r]) + f" | {clip[r]:.3f} | {f'{step_s[r] * 1e3:.0f}' if r in step_s else ''} |")

    def diff_line(what, a, b):
        d = diffs[a, b]
        return (f"| {what} | {fmt(d['mean'], True)} | [{fmt(d['lo'], True)}, {fmt(d['hi'], True)}] | "
                f"{' '.join(f'{x:+.4f}' for x in d['diffs'])} | {fmt(detectable(d))} | **{versus(d)}** |")

    scores = [f"| {s} | {p} | " + " ".join(f"{x:.3g}" for x in chosen[f'{p}_n{depths[0]}'][i]["scores"]) + " |"
              for i, s in enumerate(seeds) for p in ("influence", "rank")]
    plot_layer_choices(attention[seeds[0]], {p: [c["blocks"] for c in chosen[f"{p}_n{n}"]]
                                             for n in depths[:1] for p in ("first",) + POLICIES},
                       results_dir / "layers_blocks.png", f"n = {depths[0]} of K = {K}, {seeds_text(len(seeds))}")
    for n in depths:
        plot_seed_curves({f"{LAYER_ROWS[r]} ({n}L)": [rows[s][f"{r}_n{n}"] for s in seeds] for r in LAYER_ROWS}
                         | {f"reference ({K}L)": [rows[s]["reference"] for s in seeds]},
                         results_dir / f"layers_curves_n{n}.png", f"n = {n} of K = {K}: mean ± std over seeds")
        plot_seed_bars({LAYER_ROWS[r].replace(", ", ",\n"): losses[f"{r}_n{n}"] for r in LAYER_ROWS},
                       results_dir / f"layers_bars_n{n}.png", f"n = {n} of K = {K}, {seeds_text(len(seeds))}",
                       baseline=statistics.fmean(losses["reference"]))
    kd_cost = {n: {"distill_step_s": statistics.fmean(step_s[f"distill_{i}_n{n}"] for i in ("scratch", "inherit")),
                   "plain_step_s": statistics.fmean(step_s[f"{r}_n{n}"] for r in POLICIES)}
               for n in depths}
    write_json_atomically(results_dir / "layers.json", {
        "command": command, "git_commits": commits, "seeds": list(seeds), "K": K, "T": T, "depths": list(depths),
        "match_margin": MATCH_MARGIN, "final_val_loss": losses, "clip_rate": clip, "step_s": step_s,
        "selection": chosen, "distill_cost": kd_cost, "train_s": train_s, "wall_s": wall_s, "hardware": hardware(base),
        "comparisons": [{"what": w, "first": a, "second": b, **diffs[a, b], "verdict": versus(diffs[a, b])}
                        for n in depths for w, a, b in layer_comparisons(n)]})
    md = ["# Which blocks to inherit, and distillation, at small scale\n",
          f"Command: `{command}`; runs made at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}. "
          "Same references, recipe, seeds, batch orders and statistics as [study.md](study.md) (its Inheritune "
          "and scratch runs are this suite's first-n and scratch rows); every target trains T = "
          f"{T} steps from its seed's {K}-block reference with the grow loop's recipe and batches.  ",
          f"Hardware: {hardware(base)}; {train_s / 60:.1f} min of training and evaluation summed over the "
          f"{len(every_run)} runs (their elapsed_s), {wall_s / 3600:.2f} h wall for this invocation (finished runs "
          "are reused).  ",
          "Policies (inherit.py --select): first n (the paper); spread: n evenly spaced from block 0 to K-1; "
          "influence: the n largest 1 - cos(block input, output) (ShortGPT's block influence); rank: the n "
          "largest mean attention rank over heads (analyze.py). influence and rank are scored on analyze.py's "
          "fixed validation windows; a moved block keeps its attention-logit divisor (layer + 1 in the "
          "reference). Distillation: loss = 0.5 data loss + 0.5 KL(teacher || student) at temperature 1, "
          "the teacher being the seed's reference, in eval mode (train.py distill_*; the paper releases no "
          "distillation settings).\n"]
    for n in depths:
        md += [f"## n = {n} of K = {K}\n", *answer(diffs, n), "",
               "| model | layers | blocks inherited (per seed) | val loss (mean ± std) | per seed | clip rate | "
               "ms per step |", "|---|---|---|---|---|---|---|",
               row_line("reference", f"reference ({K} blocks)", K),
               *[row_line(f"{r}_n{n}", label, n) for r, label in LAYER_ROWS.items()], "",
               f"Paired over seeds (first minus second); 'better' when the 95% t interval lies below 0, 'worse' "
               f"above 0, 'equal' within ±{MATCH_MARGIN}; 'detectable': the smallest true difference these "
               "seeds find with 80% power.\n",
               "| comparison | mean difference | 95% interval | per seed | detectable | verdict |",
               "|---|---|---|---|---|---|", *[diff_line(*c) for c in layer_comparisons(n)], "",
               f"Distillation's cost: {kd_cost[n]['distill_step_s'] * 1e3:.0f} ms per step against "
               f"{kd_cost[n]['plain_step_s'] * 1e3:.0f} ms for the selection policies' runs "
               f"(x{kd_cost[n]['distill_step_s'] / kd_cost[n]['plain_step_s']:.2f}; the {K}-block teacher's "
               "forward on every micro-batch; median step times from the logs, both kinds trained one per seed "
               "side by side).\n"]
    md += [f"## Per-block scores of each seed's reference (n = {depths[0]})\n",
           "| seed | policy | score per block 0.." + f"{K - 1} |", "|---|---|---|", *scores, "",
           "![blocks each policy inherited beside the first reference's attention ranks](layers_blocks.png)\n",
           *[f"![n = {n}: loss curves](layers_curves_n{n}.png)\n\n![n = {n}: final losses](layers_bars_n{n}.png)\n"
             for n in depths],
           "The growth baseline (train K/2 blocks for part of T, stack them to K, continue) and a half-width "
           "model are the baselines suite's: `python study.py --suite baselines` (baselines.md).\n"]
    write_text_atomically(results_dir / "layers.md", "\n".join(md) + "\n")
    print((results_dir / "layers.md").read_text())


# ---- the baselines suite's report -----------------------------------------------------------------

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


def authors_order(diffs):
    """Whether the authors' ordering (stacking 2 rounds ~ the full-depth model, stacking 1 round worse, half width
    the worst) holds here, from the paired intervals: one sentence per part."""
    def said(a, b):
        d = diffs[a, b]
        return f"{d['mean']:+.4f} [{fmt(d['lo'], True)}, {fmt(d['hi'], True)}], {versus(d)}"
    theirs = "; ".join(f"{size}: {' / '.join(f'{x:.3f}' for x in v)}" for size, v in AUTHORS_ORDER.items())
    half = [versus(d) for (a, _), d in diffs.items() if a == "half_width"]
    parts = {"stacking 2 rounds ≈ the reference": part(versus(diffs["stack2", "reference"]), "equal", "better", "worse"),
             "stacking 1 round worse than 2 rounds": part(versus(diffs["stack1", "stack2"]), "worse", "better", "equal"),
             "half width the worst": "holds" if all(v == "worse" for v in half) else
             "does not hold" if any(v.startswith(("better", "equal")) for v in half) else "inconclusive"}
    failed = [k for k, v in parts.items() if v == "does not hold"]
    verdict = ("holds" if all(v == "holds" for v in parts.values()) else
               f"does not hold ({'; '.join(failed)}: no)" if failed else
               "inconclusive (" + "; ".join(f"{k}: {v}" for k, v in parts.items()) + ")")
    return [f"**Does the authors' ordering hold here?** **{verdict}**. Their logs (full-depth scratch / stacking 2 "
            f"rounds / stacking 1 round / half width, at 100K steps): {theirs}. Here, paired over seeds: stacking "
            f"2 rounds - reference {said('stack2', 'reference')}; stacking 1 round - stacking 2 rounds "
            f"{said('stack1', 'stack2')}; half width - stacking 1 round {said('half_width', 'stack1')} (against "
            "every row: the table below)."]


def part(verdict, holds, *fails):
    """One part of the authors' ordering from a pairwise verdict: 'holds' when it is `holds`, 'does not hold' when
    one of `fails`, else 'inconclusive'."""
    return "holds" if verdict.startswith(holds) else "does not hold" if verdict.startswith(fails) else "inconclusive"


def baseline_pairs(rows):
    """(first, second) row pairs compared: every row against Inheritune, then what the authors' ordering asks:
    stacking 2 rounds against the reference, 1 round against 2, half width against every other row."""
    first = rows[0]
    pairs = [(r, first) for r in rows[1:]] + [("stack2", "reference"), ("stack1", "stack2")] + [
        ("half_width", r) for r in rows if r != "half_width"]
    return list(dict.fromkeys(pairs))


def write_baselines(results_dir, base, seeds, rows, wall_s, command):
    """results_dir/baselines.md, baselines.json and the baselines_*.png figures, from the finished runs."""
    results_dir.mkdir(parents=True, exist_ok=True)
    K, T = base["n_layer"], base["max_iters"]
    n, labels = K // 2, baseline_labels(K)
    runs = {r: [result(rows[s][r]) for s in seeds] for r in labels}
    losses = {r: [x["val_loss"] for x in rs] for r, rs in runs.items()}
    clip = {r: statistics.fmean(x["clip_rate"] for x in rs) for r, rs in runs.items()}
    steps = {r: sorted({x["step"] for x in rs}) for r, rs in runs.items()}
    diffs = {(a, b): paired(losses[a], losses[b]) for a, b in baseline_pairs(list(labels))}
    stages = {r: [stage_dirs(rows[s], rounds, K, T) for s in seeds] for r, rounds in STACK_ROUNDS.items()}
    every_run = {str(rows[s][r]) for s in seeds for r in labels} | {
        str(d) for dirs in stages.values() for seed_dirs in dirs for d in seed_dirs}
    commits, train_s = provenance(every_run)
    plans = {r: stack_plan(K, T, rounds) for r, rounds in STACK_ROUNDS.items()}

    def row_line(r):
        label, layers, width = labels[r]
        return (f"| {label} | {layers} | {width} | {statistics.fmean(losses[r]):.4f} ± {fmt(spread(losses[r]))} | "
                + " ".join(f"{x:.4f}" for x in losses[r]) + f" | {', '.join(map(str, steps[r]))} | {clip[r]:.3f} |")

    def diff_line(a, b):
        d = diffs[a, b]
        return (f"| {labels[a][0]} - {labels[b][0]} | {fmt(d['mean'], True)} | [{fmt(d['lo'], True)}, "
                f"{fmt(d['hi'], True)}] | {' '.join(f'{x:+.4f}' for x in d['diffs'])} | {fmt(detectable(d))} | "
                f"**{versus(d)}** |")

    curves = {f"{labels[r][0]} ({labels[r][1]}L)": [rows[s][r] for s in seeds] for r in labels if r not in stages}
    for r, dirs in stages.items():
        curves |= {f"{labels[r][0].split(' (')[0]}: stage {i + 1}, {d}L to step {end}": [x[i] for x in dirs]
                   for i, (d, end) in enumerate(plans[r])}
    plot_seed_curves(curves, results_dir / "baselines_curves.png",
                     f"K = {K}, T = {T}: mean ± std over {seeds_text(len(seeds))}")
    plot_seed_bars({labels[r][0].replace(", ", ",\n"): losses[r] for r in labels if r != "reference"},
                   results_dir / "baselines_bars.png", f"T = {T} steps each, K = {K}, {seeds_text(len(seeds))}",
                   baseline=statistics.fmean(losses["reference"]))
    write_json_atomically(results_dir / "baselines.json", {
        "command": command, "git_commits": commits, "seeds": list(seeds), "K": K, "T": T,
        "stack_plans": {r: plan for r, plan in plans.items()}, "match_margin": MATCH_MARGIN,
        "final_val_loss": losses, "final_step": steps, "clip_rate": clip, "train_s": train_s, "wall_s": wall_s,
        "hardware": hardware(base), "authors_final_val_loss": AUTHORS_ORDER,
        "comparisons": [{"first": a, "second": b, **d, "verdict": versus(d)} for (a, b), d in diffs.items()]})
    stage_text = "; ".join(f"{labels[r][0]}: " + ", then ".join(f"{d}L to step {end}" for d, end in plan)
                           for r, plan in plans.items())
    md = ["# Inheritune beside the rivals the paper's authors ran: stacking and half width\n",
          f"Command: `{command}`; runs made at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}. "
          f"Same references, recipe, seeds, batch orders and statistics as [study.md](study.md) (its Inheritune "
          f"and scratch runs at n = {n} are rows here). Every row but the reference trains T = {T} steps in all on "
          "the seed's Inheritune batches (data_seed 2s+1), from the grow loop's recipe.  ",
          f"Stacking (inherit.py --stack, G_stack order: blocks 0..n-1 repeated): {stage_text}. The first stage "
          "starts from scratch; each next one is the last stage's model at its last step, every tensor copied "
          "(embeddings, final layernorm, head; each copied block keeps its trained attention-logit divisor), with a "
          f"fresh optimizer. One cosine schedule over the T steps spans the stages (lr_decay_iters = T), and step t "
          "draws the batch the Inheritune run draws at step t, so the stages together see exactly its T batches.  ",
          f"Half width: K = {K} blocks at n_embd = {base['n_embd'] // 2} with the reference's {base['n_head']} heads, "
          "each half as wide, from scratch.  ",
          "Not run: the authors' \"hybrid\" stacking (logged beside these, but defined nowhere this project can "
          "read: docs/inheritune.md).  ",
          f"Hardware: {hardware(base)}; {train_s / 60:.1f} min of training and evaluation summed over the "
          f"{len(every_run)} runs (their elapsed_s), {wall_s / 3600:.2f} h wall for this invocation (finished runs "
          "are reused).\n",
          *authors_order(diffs), "",
          f"## Rows: final val loss, mean ± std over {seeds_text(len(seeds))}\n",
          "| model | layers | width | val loss | per seed | steps | clip rate |", "|---|---|---|---|---|---|---|",
          *[row_line(r) for r in labels], "",
          "## Paired over seeds (first minus second)\n",
          f"'better' when the 95% t interval lies below 0, 'worse' above 0, 'equal' within ±{MATCH_MARGIN}; "
          "'detectable': the smallest true difference these seeds find with 80% power.\n",
          "| comparison | mean difference | 95% interval | per seed | detectable | verdict |",
          "|---|---|---|---|---|---|", *[diff_line(a, b) for a, b in diffs], "",
          "![final losses](baselines_bars.png)\n", "![loss curves, each stacking stage apart](baselines_curves.png)\n"]
    write_text_atomically(results_dir / "baselines.md", "\n".join(md) + "\n")
    print((results_dir / "baselines.md").read_text())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=tuple(PRESETS), default="cpu", help="config/study_<preset>.py")
    p.add_argument("--suite", choices=tuple(SUITES), default="claims",
                   help="claims: the paper's four claims (study.md); layers: which blocks to inherit, and "
                        "distillation (layers.md); baselines: stacking and half width (baselines.md); all share "
                        "the references, grow loops and common runs")
    p.add_argument("--quick", action="store_true", help="tiny models, a few steps, one seed")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once (a GPU has room for several)")
    p.add_argument("--seeds", type=int, nargs="+", help="train only these seeds (a part; default: the preset's); "
                   "the report holds every seed whose records RESULTS/runs keeps")
    p.add_argument("--out", default="", help="run directories (default out/study_<preset>[_quick])")
    p.add_argument("--results", default="", help="tables and figures (default results/, results/gpu, or OUT/results)")
    p.add_argument("--wandb", action="store_true", help="track every run in Weights & Biases, grouped under --out")
    p.add_argument("--wandb-project", default="inheritune", help="its project")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.seeds and (min(args.seeds) < 0 or len(set(args.seeds)) < len(args.seeds)):
        p.error(f"--seeds must be distinct and not negative, got {' '.join(map(str, args.seeds))}")
    if args.wandb:
        require_wandb("--wandb", "leave out --wandb")
    name = f"study_{args.preset}" + ("_quick" if args.quick else "")
    out = Path(args.out or f"out/{name}")
    command = shlex.join(["python", "study.py"] + (sys.argv[1:] if argv is None else argv))
    with lock_run_dir(out):  # one study per --out (its runs' grow loops take no lock)
        return run_study(args, out, command)


def run_study(args, out, command):
    """The suite's runs for the chosen seeds (reused, resumed or trained) and their records, then its report over
    every kept seed."""
    results_dir = Path(args.results or (out / "results" if args.quick else RESULTS[args.preset]))
    t0 = time.time()
    base = study_settings(args.preset, args.quick)
    prepare_dataset(base["dataset"], base["data_dir"])
    seeds = args.seeds or (SEEDS[args.preset][:1] if args.quick else SEEDS[args.preset])
    tracking = {"wandb": True, "wandb_project": args.wandb_project, "wandb_group": str(out)} if args.wandb else {}
    progress = Progress(out, base, seeds, args.preset, args.suite, tracking, args.jobs)
    threads = share_cores(args.jobs, base["device"])
    progress.say(f"{seeds_text(len(seeds))}, {args.jobs} run{'s' if args.jobs > 1 else ''} at a time"
                 + (f", {threads} threads each" if threads else "") + f"; each run's output in its train.log under {out}")

    with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        try:
            list(pool.map(lambda s: seed_runs(base, s, out, args.preset, progress, results_dir, args.suite), seeds))
        except KeyboardInterrupt:  # before the pool waits for its threads: their runs are stopped first
            grow.stop_runs()
            raise SystemExit(f"interrupted (Ctrl-C): the runs in progress saved a checkpoint and stopped; finished "
                             f"runs are kept in {out}: run the same command again to continue") from None
    write_report(args, base, results_dir, time.time() - t0, command)


def write_report(args, base, results_dir, wall_s, command):
    """The suite's report over every seed kept in results_dir/runs, from the records alone."""
    seeds = kept_seeds(results_dir, args.suite)
    if not seeds:  # the statistics need a finished seed
        raise SystemExit(f"no seed of the {args.suite} suite has its records kept in {results_dir / 'runs'}: nothing "
                         "to report; rerun the same command to train them")
    rows = {s: kept_rows(results_dir, s, args.suite) for s in seeds}
    missing = [s for s in SEEDS[args.preset] if s not in seeds and not args.quick]
    if missing:
        print(f"the report holds {seeds_text(len(seeds))}; the preset's others, in parts: python study.py --preset "
              f"{args.preset} --suite {args.suite} --seeds {' '.join(map(str, missing))}")
    if args.suite == "baselines":
        return write_baselines(results_dir, base, seeds, rows, wall_s, command)
    attention = {s: read_run_json(rows[s]["reference"] / "attention.json", DAMAGED) for s in seeds}
    if args.suite == "layers":
        return write_layers(results_dir, base, seeds, rows, attention, wall_s, command, args.preset)
    grows = {s: read_run_json(rows[s]["reference"].parent / "grow" / "results.json", DAMAGED) for s in seeds}
    collapse = {s: a["first_collapsed_layer"] for s, a in attention.items()}
    write_results(results_dir, args.preset, base, seeds, grows, rows, collapse, wall_s, command)


if __name__ == "__main__":
    main()
