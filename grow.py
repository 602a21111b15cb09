"""The paper's grow loop: n blocks (from K/2, by 2) inherited from a finished K-block reference and trained for its T
steps on another batch order, until the val loss matches the reference's after the same T steps; then, for the
built-in job or when asked, the last depth from scratch on the same batches. Its command is
`python inherit.py --grow-until-baseline` (docs/inheritune.md); study.py and pilot.py train their runs with
run_training. Every training run is a train.py process that this module starts, waits for and stops; the rounds
stay in the search's folder, so the same command resumes it.
"""

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from checkpoint import load_checkpoint
from data import write_json_atomically, write_text_atomically
from run_records import read_result, read_run_json
from settings import DEFAULTS, TRACKING_KEYS, data_seed_of, target_data_seed

HERE = Path(__file__).resolve().parent
BUILTIN_BPE_VOCAB = 1024  # the built-in job's corpus: its own compact BPE, as the study's (config/builtin_reference.py)


@dataclass(frozen=True)
class Launcher:
    """How each training run starts: plain python, torchrun over nproc_per_node GPUs, or the user's `prefix` (e.g.
    'torchrun --nnodes=2 ...'); with `wandb`, tracked in Weights & Biases under wandb_group. `progress` (study.py's
    status lines: started, finished), when set, hears of each run, whose output then goes to its train.log, as it
    does with to_train_log. `threads`: each train.py's CPU threads (OMP_NUM_THREADS; 0: torch's default)."""
    prefix: str = ""
    nproc_per_node: int = 1
    wandb: bool = False
    wandb_project: str = DEFAULTS["wandb_project"]
    wandb_group: str = ""
    progress: object = None
    to_train_log: bool = False
    threads: int = 0

    @property
    def logs_to_file(self):
        return self.progress is not None or self.to_train_log


@dataclass(frozen=True)
class Search:
    """What the loop searches; inherit.py --grow-until-baseline's flags of the same names take these defaults. The
    reference run ('': the built-in one, trained in out/reference), the rounds' folder, the first n (0: K/2), the
    blocks added per round, the slack on the baseline, whether the last depth is also trained from scratch (the
    built-in job always is), and what each round inherits, its init seed and batch order (-1: the reference's + 1)."""
    out: str = "out/grow"
    reference_run: str = ""
    start_n: int = 0
    step_n: int = 2
    tolerance: float = 0.0
    scratch_control: bool = False
    parts: str = "full"
    embeddings: str = "wte"
    select: str = "first"
    seed: int = 1337
    data_seed: int = -1


# ---- training runs as processes -------------------------------------------------------------


def tracked(launcher, overrides):
    """overrides plus whether the run is sent to Weights & Biases (--wandb: in the search's group; a run is named
    after its out_dir). A resumed run is told either way: rerun without --wandb, a tracked run resumes untracked.
    Not part of any recipe (search.json): it may change on rerun."""
    if not launcher.wandb:
        return {**overrides, "wandb_log": False} if overrides.get("init_from") == "resume" else overrides
    return {**overrides, "wandb_log": True, "wandb_project": launcher.wandb_project,
            "wandb_group": launcher.wandb_group}


def train_command(launcher, overrides, config_files=()):
    """How a round's train.py is launched: plain python, torchrun, or the user's launcher."""
    if launcher.prefix:
        prefix = shlex.split(launcher.prefix)
    elif launcher.nproc_per_node > 1:
        prefix = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                  f"--nproc_per_node={launcher.nproc_per_node}"]
    else:
        prefix = [sys.executable]
    return (prefix + [str(HERE / "train.py")] + [str(f) for f in config_files]
            + [f"--{k}={v}" for k, v in tracked(launcher, overrides).items()])


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent):
    """Run in the child before exec (Linux): the kernel sends it SIGTERM when the grow loop dies, however
    it dies, so a round never trains on unattended; SIGTERM makes train.py save and stop."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: the child only calls it

    def set_parent_death_signal():
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return set_parent_death_signal


RUNNING = set()  # the child processes this process waits for (study.py's threads wait for several at once)
STOPPING = threading.Event()  # set by stop_runs: no further run starts


def stop_runs():
    """Ctrl-C to study.py: no further run starts, and each running one is told to save and stop (SIGTERM; one that
    shares the terminal's process group may have had the SIGINT too, and saves once either way)."""
    STOPPING.set()
    stop_running()


def stop_running():
    """Each running child is told to save and stop (SIGTERM)."""
    for child in list(RUNNING):
        child.send_signal(signal.SIGTERM)


def launch(launcher, overrides, config_files=()):
    """Run train.py to its end; its success. With launcher.logs_to_file (study.py's runs), its output goes to
    OUT_DIR/train.log instead of this terminal."""
    cmd = train_command(launcher, overrides, config_files)
    line = ("resuming: " if overrides.get("init_from") == "resume" else "running: ") + shlex.join(cmd)
    with ExitStack() as stack:
        output = None
        if launcher.logs_to_file:
            Path(overrides["out_dir"]).mkdir(parents=True, exist_ok=True)
            output = stack.enter_context(open(Path(overrides["out_dir"]) / "train.log", "a"))
        print(line, file=output, flush=True)
        return run_child(cmd, output, {**os.environ, "OMP_NUM_THREADS": str(launcher.threads)} if launcher.threads
                         else None)


def run_child(cmd, output=None, env=None):
    """Run cmd to its end, unless stop_runs was called; its success. SIGTERM to the grow loop is passed on to it
    (train.py saves and stops); Ctrl-C reaches it directly, from the terminal's process group, which it shares."""
    if STOPPING.is_set():
        return False
    try:
        child = subprocess.Popen(cmd, preexec_fn=die_with(os.getpid()), stdout=output,
                                 stderr=subprocess.STDOUT if output else None, env=env)
    except OSError as e:  # e.g. a --launcher program that is not installed
        raise SystemExit(f"cannot start {cmd[0]} ({e.strerror or e}): check --launcher or install it") from None
    RUNNING.add(child)
    try:
        return wait_for(child)
    finally:
        RUNNING.discard(child)


def wait_for(child):
    """The child's success; meanwhile SIGTERM is forwarded to it and Ctrl-C left to it."""
    previous = {}
    if threading.current_thread() is threading.main_thread():  # only it may handle signals (study.py --jobs)
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM)),
                    signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN)}
    try:
        return child.wait() == 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_training(launcher, overrides, out_dir, config_files=()):
    """Train (or resume) a run in out_dir to completion; returns its result.json. launcher.progress, when set,
    hears of each run's start and finish (study.py's status lines)."""
    progress = launcher.progress
    trained = not (Path(out_dir) / "result.json").exists()
    if trained:
        if (Path(out_dir) / "ckpt.pt").exists():
            overrides = {**overrides, "init_from": "resume"}
        if progress is not None:
            progress.started(out_dir)
        if not launch(launcher, {**overrides, "out_dir": out_dir}, config_files):
            where = f"{Path(out_dir) / 'train.log'}" if launcher.logs_to_file else "above"
            raise SystemExit(f"training in {out_dir} failed (see {where}); rerun the same command to resume it")
    result = read_result(out_dir, "delete it and rerun the same command: the run is evaluated again from its "
                                  "checkpoint")
    if progress is not None:
        progress.finished(out_dir, result, trained)
    return result


# ---- the reference and its baseline --------------------------------------------------------

# not the reference's recipe: where it lives and began (pretrained_flags: the model flags a continued pre-training
# began with), how its own blocks were chosen and their divisors (a target gets those of the blocks it inherits),
# where it was tracked, and inherit_allow_moved, a setting of earlier versions
NOT_RECIPE = ("out_dir", "init_from", "pretrained_flags", "inherit_select", "attn_divisors", "inherit_allow_moved",
              *TRACKING_KEYS)


def reference_overrides(ref_config):
    """The reference's own training config as train.py arguments."""
    return {k: v for k, v in ref_config.items() if k not in NOT_RECIPE}


def prepare_builtin_corpus():
    """data/builtin_bpe1024, by prepare_openwebtext.py in a process of its own: importing it here would load the
    tokenizers into train.py, which imports this module through inherit.py."""
    cmd = [sys.executable, str(HERE / "prepare_openwebtext.py"), "--bpe-vocab", str(BUILTIN_BPE_VOCAB)]
    if not run_child(cmd):
        raise SystemExit("preparing the built-in corpus failed (see above); rerun the same command")


def ensure_reference(launcher, search):
    """The trained reference run dir: the user's, or the built-in default trained here if missing."""
    if search.reference_run:
        ref = Path(search.reference_run)
        if not (ref / "ckpt.pt").is_file():
            raise SystemExit(f"{ref}/ckpt.pt not found: --reference-run must be a finished train.py out_dir")
        return ref
    cfg_file = HERE / "config" / "builtin_reference.py"
    prepare_builtin_corpus()
    ref = Path(search.out) / "reference"
    print(f"training the built-in reference ({cfg_file.name}) in {ref}", flush=True)
    run_training(launcher, {}, str(ref), config_files=[cfg_file])
    return ref


def finished_reference(ref):
    """The reference's checkpoint, which must be at the end of its training: the reference of T steps."""
    ckpt = load_checkpoint(ref / "ckpt.pt")
    if ckpt["step"] < ckpt["config"].get("max_iters", ckpt["step"]):  # died or still training
        raise SystemExit(f"{ref}/ckpt.pt is at step {ckpt['step']} of max_iters={ckpt['config']['max_iters']}: "
                         f"the reference run is unfinished; finish it (train.py --init_from=resume "
                         f"--out_dir={ref}) first")
    return ckpt


EVAL_SETTINGS = ("eval_tokens", "dataset")  # what decides a validation loss besides the model, kept in eval.json


def measure_baseline(launcher, ref, ref_config, state_path):
    """The reference's val loss, measured like the rounds: the same evaluator, launcher and world size."""
    if not state_path.exists():
        settings = {**reference_overrides(ref_config), "out_dir": ref, "init_from": "resume", "eval_only": True}
        if not launch(launcher, settings):
            raise SystemExit(f"evaluating the reference in {ref} failed (see above); rerun the same command")
        evaluation = read_run_json(Path(ref) / "eval.json", "rerun the same command to evaluate the reference again",
                                   ("val_loss",))
        asked = {k: settings.get(k) for k in EVAL_SETTINGS}
        made = {k: evaluation.get(k) for k in EVAL_SETTINGS}
        if made != asked:  # an evaluation takes no lock: another one of the reference may have written it since
            raise SystemExit(f"{Path(ref) / 'eval.json'} was made with {made}, not the reference's {asked}: another "
                             f"evaluation of {ref} wrote it meanwhile; rerun the same command once that one ended")
        write_json_atomically(state_path, evaluation)
    baseline = read_run_json(state_path, "delete it and rerun the same command: the reference is evaluated again",
                             ("val_loss",))
    return baseline["val_loss"]


# ---- the search -----------------------------------------------------------------------------


def rounds_recipe(search, ref, ref_config, T):
    """Every round's train.py settings but its depth: the reference's recipe for T steps, inheriting from it."""
    data_seed = search.data_seed if search.data_seed != -1 else target_data_seed(ref_config, search.seed)
    return {**reference_overrides(ref_config), "max_iters": T, "init_from": "inherit",
            "inherit_from": str(ref / "ckpt.pt"), "inherit_parts": search.parts,
            "inherit_embeddings": search.embeddings, "inherit_layers": "", "data_seed": data_seed,
            # only when not the default: searches from before --select existed stay resumable
            **({"inherit_select": search.select} if search.select != "first" else {})}


def scratch_overrides(recipe):
    """A round's recipe, initialised from scratch: the control that shows what inheriting bought."""
    return {**{k: v for k, v in recipe.items() if not k.startswith("inherit_")}, "init_from": "scratch"}


def train_control(launcher, overrides, out, n):
    return run_training(launcher, {**scratch_overrides(overrides), "n_layer": n}, str(out / f"scratch{n:02d}"))


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def control_beside_first_round(launcher, overrides, out, n, pool):
    """On a CPU of 2 or more cores with the plain launcher, the scratch control at the first depth starts in `pool`
    beside the first round, each on half the cores (the built-in job stops at its first round: this saves it a
    minute; two small models train faster side by side than one after the other on all cores). Returns the first
    round's launcher and the control's future (None: the control trains after the rounds). Where the search goes on,
    that control finishes beside the next round, unused."""
    plain, available = not launcher.prefix and launcher.nproc_per_node == 1 and launcher.progress is None, cores()
    if not plain or overrides.get("device") != "cpu" or available < 2:
        return launcher, None
    half = replace(launcher, threads=available // 2)
    log = out / f"scratch{n:02d}" / "train.log"
    print(f"scratch control at n={n} trains beside the first round, each on {half.threads} of {available} cores (its "
          f"output: {log})", flush=True)
    return half, pool.submit(train_control, replace(half, to_train_log=True), overrides, out, n)


def scratch_control(launcher, overrides, out, n, inherited_loss, beside=None):
    """Scratch at depth n with the rounds' recipe, T steps and batches (`beside`'s, where it trained at n beside the
    first round); prints it beside the Inheritune round."""
    result = beside.result() if beside is not None else train_control(launcher, overrides, out, n)
    print(f"scratch control: {n} layers from scratch, the same {result['step']} steps and batches: val loss "
          f"{result['val_loss']:.4f}; Inheritune at n={n}: {inherited_loss:.4f} "
          f"({inherited_loss - result['val_loss']:+.4f} from inheriting)", flush=True)
    return result


def check_same_search(out, overrides):
    """Finished rounds are reused on rerun: only if they were made from the same recipe."""
    path = out / "search.json"
    if path.exists():
        # a setting train.py no longer has (inherit_allow_moved) changes nothing a round computes
        recorded = read_run_json(path, "it records the settings the rounds in it were trained with: restore it, or "
                                       "choose another --out")
        before = {k: v for k, v in recorded.items() if k in DEFAULTS}
        changed = sorted(k for k in set(before) | set(overrides) if before.get(k) != overrides.get(k))
        if changed:
            raise SystemExit(f"{out} holds a search with other settings ({', '.join(changed)} differ): "
                             "rerun with the same arguments to resume it, or choose another --out")
    else:
        write_json_atomically(path, overrides)


def results_markdown(rounds, baseline, inherited):
    head = ("| n | params (M) | val loss | baseline | gap | tokens | wall (s) | clip rate | inherited |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r['n']} | {r['params'] / 1e6:.2f} | {r['val_loss']:.4f} | {baseline:.4f} | "
        f"{r['gap']:+.4f} | {r['tokens']:,} | {r['wall_s']:.0f} | {r['clip_rate']:.2f} | {inherited} |\n"
        for r in rounds)


def grow_until_baseline(launcher, search):
    """The loop; results.json and results.md in search.out after every round. Returns the n that matched, or None."""
    out = Path(search.out)
    out.mkdir(parents=True, exist_ok=True)
    ref = ensure_reference(launcher, search)
    ref_ckpt = finished_reference(ref)
    K, T = ref_ckpt["model_args"]["n_layer"], ref_ckpt["step"]
    start = search.start_n or K // 2
    if not 1 <= start < K or search.step_n < 1:
        raise SystemExit(f"--start-n must be in 1..{K - 1} and --step-n >= 1 for a {K}-layer reference")
    overrides = rounds_recipe(search, ref, ref_ckpt["config"], T)
    inherited = (f"blocks ({search.parts}{'' if search.select == 'first' else ', ' + search.select}), "
                 f"{search.embeddings or 'no embeddings'}")
    check_same_search(out, overrides)
    baseline = measure_baseline(launcher, ref, ref_ckpt["config"], out / "baseline.json")
    print(f"baseline: {K}-layer reference after {T} steps, val loss {baseline:.4f}; growing from n={start}, "
          f"inheriting {inherited}, batches drawn with data_seed={overrides['data_seed']} (the reference's: "
          f"{data_seed_of(ref_ckpt['config'])})", flush=True)
    del ref_ckpt
    control = search.scratch_control or not search.reference_run  # the built-in job shows it; a paper run asks
    with ThreadPoolExecutor(1) as pool:
        first_launcher, beside = control_beside_first_round(launcher, overrides, out, start, pool) if control \
            else (launcher, None)
        found = {"reference": str(ref), "baseline_val_loss": baseline, "K": K, "T": T, "inherited": inherited,
                 "data_seed": overrides["data_seed"], "tolerance": search.tolerance}
        try:
            rounds, summary = search_rounds(search, start, (first_launcher, launcher), overrides, out, found)
        except BaseException:  # the control beside a failed or stopped first round saves and stops too
            stop_running()
            raise
        if control:
            n = rounds[-1]["n"]
            result = scratch_control(launcher, overrides, out, n, rounds[-1]["val_loss"],
                                     beside if n == start else None)
            summary["scratch_control"] = {"n": n, "val_loss": result["val_loss"],
                                          "run_dir": str(out / f"scratch{n:02d}")}
            write_json_atomically(out / "results.json", summary)
    print(f"results: {out / 'results.json'} and {out / 'results.md'}")
    return summary["stopped_at"]


def search_rounds(search, start, launchers, overrides, out, found):
    """The rounds from n = start until one matches the baseline, the first by launchers[0] and the others by
    launchers[1], with results.json (`found` and the rounds) and results.md after each; returns the rounds and the
    summary."""
    baseline, K, T, inherited = found["baseline_val_loss"], found["K"], found["T"], found["inherited"]
    rounds, stopped_at = [], None
    for n in range(start, K, search.step_n):
        t0 = time.time()
        result = run_training(launchers[bool(rounds)], {**overrides, "n_layer": n}, str(out / f"n{n:02d}"))
        rounds.append({"n": n, "params": result["num_params"], "val_loss": result["val_loss"],
                       "baseline": baseline, "gap": result["val_loss"] - baseline,
                       "tokens": result["tokens"], "wall_s": result["elapsed_s"],
                       "clip_rate": result["clip_rate"], "run_dir": str(out / f"n{n:02d}")})
        matched = result["val_loss"] <= baseline + search.tolerance
        stopped_at = n if matched else None
        summary = {**found, "stopped_at": stopped_at, "rounds": rounds}
        write_json_atomically(out / "results.json", summary)
        write_text_atomically(out / "results.md", results_markdown(rounds, baseline, inherited))
        print(f"round n={n}: val loss {result['val_loss']:.4f} vs baseline {baseline:.4f} "
              f"({'matches' if matched else 'worse'}; clip rate {result['clip_rate']:.2f}; {time.time() - t0:.0f} s)",
              flush=True)
        if matched:
            break
    print("\n" + results_markdown(rounds, baseline, inherited))
    if stopped_at is None:
        print(f"no n < K={K} matched the baseline: at this budget the target needs all {K} layers")
    else:
        print(f"n={stopped_at} of {K} layers matches the {K}-layer reference after the same {T} steps")
    return rounds, summary
