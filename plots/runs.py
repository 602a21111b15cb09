"""Loading training run directories (with run_records.py's readers) and naming them; shared by every script in
plots/.

A run directory (written by train.py) holds config.json, log.jsonl and, once the run
finished, result.json. Every user mistake (bad path, empty glob, a directory that is not
a run, a corrupt file) ends in one SystemExit line saying what is wrong and what to do.

The scripts run as `python plots/plot_runs.py ...` from the repository root, or as
`python -m plots.plot_runs ...`; other code imports them, e.g.
`from plots.plot_grow import plot_grow`.
"""

import glob
import math
import os
import statistics
import sys
from dataclasses import dataclass
from fractions import Fraction

from data import save_figure_atomically
from run_records import read_log, read_run_json


@dataclass
class Run:
    path: str
    config: dict
    log: list      # one dict per log.jsonl line
    result: dict   # result.json, or None while the run is unfinished

    @property
    def finished(self):
        return self.result is not None

    @property
    def n_layer(self):
        return self.config.get("n_layer")

    @property
    def max_iters(self):
        return self.config.get("max_iters")

    @property
    def is_inherited(self):
        return self.config.get("init_from") == "inherit"

    def points(self, key):
        """(steps, tokens, values) of the log lines that have `key`."""
        rows = [r for r in self.log if r.get(key) is not None]
        return ([r["step"] for r in rows], [r.get("tokens") for r in rows], [r[key] for r in rows])

    def final(self):
        """The loss to report and where it was measured: result.json, else the last logged val_loss."""
        if self.result is not None:
            return self.result
        rows = [r for r in self.log if r.get("val_loss") is not None]
        if not rows:
            raise SystemExit(f"{self.path} has no result.json and no val_loss in log.jsonl yet; "
                             "wait for its first evaluation or leave it out")
        return rows[-1]

    @property
    def final_loss(self):
        return self.final()["val_loss"]

    @property
    def num_params(self):
        return (self.result or {}).get("num_params", self.config.get("num_params"))


DAMAGED = "was it written completely? Restore it, or leave out the run it belongs to"  # a damaged file's remedy


def load_run(path):
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist; pass a run directory made by train.py")
    if not is_run_dir(path):
        raise SystemExit(f"{path} is not a run directory (it needs config.json and log.jsonl)")
    result_path = os.path.join(path, "result.json")
    result = read_run_json(result_path, DAMAGED) if os.path.isfile(result_path) else None
    return Run(path, read_run_json(os.path.join(path, "config.json"), DAMAGED),
               read_log(os.path.join(path, "log.jsonl")), result)


def is_run_dir(path):
    return all(os.path.isfile(os.path.join(path, f)) for f in ("config.json", "log.jsonl"))


def runs_below(path):
    """path itself if it is a run directory, else the run directories inside it at any depth: a grow
    folder (inherit.py --grow-until-baseline) or a study folder (study.py) holds its runs a level or two down."""
    if is_run_dir(path):
        return [path]
    found = []
    for root, dirs, _ in os.walk(path):
        dirs.sort()
        if is_run_dir(root):
            found.append(root)
            dirs.clear()  # a run's own subfolders are no runs
    return found


def _expand(pattern):
    """The run directories a path or glob pattern names; what a pattern catches without runs (notes.md) is
    skipped, a path without runs is an error."""
    if not glob.has_magic(pattern):
        if not os.path.exists(pattern):
            raise SystemExit(f"{pattern} does not exist; pass a run directory made by train.py")
        runs = runs_below(pattern) if os.path.isdir(pattern) else []
        if not runs:
            raise SystemExit(f"{pattern} is not a run directory (it needs config.json and log.jsonl) "
                             "and holds none")
        return runs
    matches = sorted(glob.glob(pattern))
    if not matches:
        raise SystemExit(f"no files match '{pattern}'; check the pattern "
                         "(quote it so the shell does not expand it)")
    runs = []
    for match in matches:
        below = runs_below(match) if os.path.isdir(match) else []
        if not below:
            print(f"skipping {match}: not a run directory and holds none", file=sys.stderr)
        runs += below
    if not runs:
        raise SystemExit(f"'{pattern}' matches no run directory (with config.json and log.jsonl)")
    return runs


def expand_run_dirs(patterns):
    """Run directories named by paths or glob patterns (folders of runs included), in order, each once."""
    paths = []
    for pattern in patterns:
        paths += [m for m in _expand(pattern) if m not in paths]
    return paths


def load_runs(patterns):
    if not patterns:
        raise SystemExit("no run directories given; pass one or more, e.g. out/run1 'runs/*'")
    return [load_run(p) for p in expand_run_dirs(patterns)]


def load_grow(grow_dir):
    results_path = os.path.join(grow_dir, "results.json")
    if not os.path.isfile(results_path):
        raise SystemExit(f"{grow_dir} has no results.json; pass the directory made by "
                         "inherit.py --grow-until-baseline")
    grow = read_run_json(results_path, DAMAGED)
    if not grow.get("rounds"):
        raise SystemExit(f"{results_path} lists no rounds yet; wait for the first round to finish")
    return grow


# ---- naming runs ----

def reference_name(reference):
    """'24L' when the reference checkpoint sits in a run directory, a preset's own name, else None."""
    if not reference:
        return None
    ref_dir = reference if os.path.isdir(reference) else os.path.dirname(reference)
    config_path = os.path.join(ref_dir, "config.json")
    if os.path.isfile(config_path):
        n_layer = read_run_json(config_path, DAMAGED).get("n_layer")
        return f"{n_layer}L" if n_layer else None
    # a name that is no file on disk, like 'gpt2-medium', is a pretrained preset
    looks_like_path = os.path.exists(reference) or reference.endswith(".pt")
    return None if looks_like_path else reference


def init_name(run):
    """'random', or e.g. 'Inheritune (full) from 24L' / 'Inheritune (attn_ln, layers 0,2)' /
    'Inheritune (full, embeddings wte,wpe,ln_f)' where more or less than the paper's wte is inherited."""
    if not run.is_inherited:
        return "random"
    parts = run.config.get("inherit_parts", "full")
    layers = run.config.get("inherit_layers", "")
    embeddings = run.config.get("inherit_embeddings", "wte")
    detail = f"{parts}, layers {layers}" if layers else parts
    if embeddings != "wte":
        detail += f", embeddings {embeddings or 'none'}"
    ref = reference_name(run.config.get("inherit_from"))
    return f"Inheritune ({detail})" + (f" from {ref}" if ref else "")


def run_label(run):
    """e.g. '24L scratch 100 steps' or '16L Inheritune (full) from 24L 100 steps'."""
    init = "scratch" if not run.is_inherited else init_name(run)
    return f"{run.n_layer}L {init} {run.max_iters} steps"


def _suffix_repeats(labels, suffixes):
    """Append each label's suffix where that label occurs more than once."""
    return [label + suffix if labels.count(label) > 1 else label for label, suffix in zip(labels, suffixes)]


def distinct_labels(runs):
    """run_label of each run; where labels repeat, each gets its seed, then its directory's name."""
    labels = _suffix_repeats([run_label(r) for r in runs], [f", seed {r.config.get('seed')}" for r in runs])
    return _suffix_repeats(labels, [f" ({os.path.basename(os.path.normpath(r.path))})" for r in runs])


def model_name(run):
    """'12L-384d', the paper's way of naming a model; '12L' when the width is not recorded."""
    width = run.config.get("n_embd")
    return f"{run.n_layer}L-{width}d" if width else f"{run.n_layer}L"


def steps_multiple(steps, unit):
    """steps as a multiple of the unit T: 'T', '2T', '0.5T', else plain '150 steps'."""
    ratio = Fraction(steps, unit)
    if ratio == 1:
        return "T"
    if (ratio * 4).denominator == 1:
        return f"{float(ratio):g}T"
    return f"{steps} steps"


def step_unit(runs):
    """T, the budget the comparison is about: the inheritance runs' steps, else the shortest run's."""
    inherited = [r.max_iters for r in runs if r.is_inherited]
    return statistics.mode(inherited) if inherited else min(r.max_iters for r in runs)


# the order of inherit_parts in the paper's ablation: all of each block first
PARTS_ORDER = ("full", "attn_ln", "mlp_ln", "attn_mlp_noln")
# inherit_parts as a figure names them
PART_NAMES = {"full": "full block", "attn_ln": "attention + LN", "mlp_ln": "MLP + LN",
              "attn_mlp_noln": "attention + MLP"}


def part_name(parts):
    """'attention + LN' for 'attn_ln'; names that are no inherit_parts value stay as they are."""
    return PART_NAMES.get(parts, parts)


def sort_key(run):
    """Bigger models first; per size scratch before Inheritune, then parts, steps, seed."""
    parts = run.config.get("inherit_parts", "full")
    return (-(run.n_layer or 0), run.is_inherited,
            PARTS_ORDER.index(parts) if parts in PARTS_ORDER else len(PARTS_ORDER),
            run.config.get("inherit_layers", ""), run.max_iters or 0,
            run.config.get("seed", 0), run.path)


# ---- numbers ----

# loss differences below this are evaluation noise: an axis is never zoomed in further
MIN_LOSS_SPAN = 0.02


def padded_range(low, high, below=0.08, above=0.08):
    """Axis limits around [low, high], at least MIN_LOSS_SPAN wide, padded by fractions of the span."""
    widen = max(0.0, MIN_LOSS_SPAN - (high - low)) / 2
    low, high = low - widen, high + widen
    return low - below * (high - low), high + above * (high - low)


def format_count(n):
    """12288000 -> '12.3M'; used for tokens and parameters."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:g}"


def ema(values, span):
    """Exponential moving average with the pandas 'span' convention; span <= 1 leaves values as they are."""
    if span <= 1:
        return list(values)
    alpha, out = 2.0 / (span + 1), []
    for v in values:
        out.append(v if not out else alpha * v + (1 - alpha) * out[-1])
    return out


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def group_by(runs, key):
    """{key(run): [runs]} in first-seen order."""
    groups = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return groups


def finite(values):
    """The values that are numbers: a diverged run logs NaN or inf, which would break axis limits."""
    return [v for v in values if math.isfinite(v)]


# ---- output files ----

FORMATS = ("png", "svg", "pdf")

# readable when a figure is shown at its saved size or scaled down into a slide
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 12, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 14,
         "axes.formatter.useoffset": False}  # '+1.077e1' offsets make losses unreadable


def add_output_args(parser, default_name):
    parser.add_argument("--out", help=f"image to write (default: {default_name}.<format>)")
    parser.add_argument("--format", choices=FORMATS, help="image format (default: from --out, else png)")


def output_path(out, fmt, default_name):
    """The path to write: --out and --format agree, a missing extension is added."""
    out = out or default_name
    stem, ext = os.path.splitext(out)
    ext = ext.lstrip(".").lower()
    if ext and ext not in FORMATS:
        raise SystemExit(f"--out {out}: unsupported image type '.{ext}'; use one of {', '.join(FORMATS)}")
    if ext and fmt and ext != fmt:
        raise SystemExit(f"--out {out} and --format {fmt} disagree; drop one of them")
    return out if ext else f"{stem}.{fmt or 'png'}"


def ensure_parent(path):
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)


def save_figure(fig, out_path):
    ensure_parent(out_path)
    save_figure_atomically(fig, out_path)
    print(f"wrote {out_path}")
