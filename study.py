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
same command: finished runs are reused and unfinished ones resumed. Writes results/results.json (RESULTS/), then
study.md rendered from it alone, and the figures (study_report.py).

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
import os
import shlex
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path

import grow
import inherit
from analyze import analyze
from checkpoint import load_checkpoint, lock_run_dir
from configurator import load_config
from data import read_meta, write_atomically, write_json_atomically
from plots.plot_seeds import seeds as seeds_text
from prepare_openwebtext import prepare_dataset
from run_records import read_run_json
from settings import DEFAULTS, require_wandb
from study_plan import (CORPORA, DAMAGED, POLICIES, PRESETS, STACK_ROUNDS, ablation_depth, ablation_parts,
                        compared_depths, data_orders, grow_depths, stack_plan)
from study_report import result, run_config, write_baselines, write_layers, write_results

HERE = Path(__file__).resolve().parent
RESULTS = {"cpu": "results", "gpu": "results/gpu", "pcfg": "results/pcfg"}
SEEDS = {"cpu": (0, 1, 2), "gpu": (0, 1, 2, 3, 4), "pcfg": (0, 1, 2)}
# --quick: the same pipeline at a size that trains in seconds on a CPU, whatever the preset
QUICK = dict(n_layer=4, n_head=2, n_embd=16, block_size=32, batch_size=4, tokens_per_step=128, max_iters=4,
             warmup_iters=1, eval_interval=2, eval_tokens=1024, log_interval=2, device="cpu", compile=False)
# a run's files the reports read, kept in RESULTS/runs (no checkpoints): config, result, log, the grow loop's JSON,
# the attention analysis and figure, and the inheritance manifest taken out of the checkpoint
RECORDS = ("config.json", "result.json", "log.jsonl", "results.json", "search.json", "attention.json", "attention.png",
           "manifest.json")
PAPER_EMBEDDINGS = "wte"  # the released code inherits the token embedding (= tied LM head) only


def study_settings(preset, quick):
    """The reference's training config: train.py's defaults, the preset's config file, --quick's sizes."""
    cfg = load_config(DEFAULTS, [str(HERE / PRESETS[preset])])
    if quick:
        cfg.update(QUICK)
    if cfg["dataset"] not in CORPORA:
        raise SystemExit(f"{PRESETS[preset]} trains on {cfg['dataset']}; the study prepares one of {', '.join(CORPORA)}")
    return grow.reference_overrides(cfg)


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
        return write_layers(results_dir, args.preset, base, seeds, rows, attention, wall_s, command)
    grows = {s: read_run_json(rows[s]["reference"].parent / "grow" / "results.json", DAMAGED) for s in seeds}
    collapse = {s: a["first_collapsed_layer"] for s, a in attention.items()}
    write_results(results_dir, args.preset, base, seeds, grows, rows, collapse, wall_s, command)


if __name__ == "__main__":
    main()
