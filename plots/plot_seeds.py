"""Figures over seeds for study.py: mean validation curves with a +-1 std band, and bars with error bars.

Each group is a list of run directories, one per seed, that differ only in the seed.
"""

import os
import sys
import statistics

import matplotlib
from matplotlib.figure import Figure

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.runs import STYLE, load_run, save_figure


def mean_std(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def seed_curve(run_dirs):
    """Steps, tokens, mean and std of val_loss at the evaluation steps every seed logged."""
    curves = [dict(zip(*load_run(d).points("val_loss")[::2])) for d in run_dirs]
    tokens = dict(zip(*load_run(run_dirs[0]).points("val_loss")[:2]))
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    stats = [mean_std([c[s] for c in curves]) for s in steps]
    return steps, [tokens[s] for s in steps], [m for m, _ in stats], [s for _, s in stats]


@matplotlib.rc_context(STYLE)
def plot_seed_curves(groups, out_path, title):
    """groups: label -> run dirs (one per seed). Left: by step; right: by tokens."""
    fig = Figure(figsize=(13, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    finals = []
    for i, (label, run_dirs) in enumerate(groups.items()):
        steps, tokens, mean, std = seed_curve(run_dirs)
        finals.append(mean[-1])
        for ax, x in zip(axes, (steps, tokens)):
            ax.plot(x, mean, color=f"C{i}", lw=1.8, label=f"{label} ({len(run_dirs)} seeds)")
            ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color=f"C{i}", alpha=0.2, lw=0)
    for ax, xlabel in zip(axes, ("step", "training tokens")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation loss (mean +- std over seeds)")
        ax.set_ylim(min(finals) - 0.15, max(finals) + 0.6)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    fig.suptitle(title)
    save_figure(fig, out_path)
    return fig


@matplotlib.rc_context(STYLE)
def plot_seed_bars(groups, out_path, title, baseline=None):
    """groups: label -> final val losses over seeds; a bar at the mean, +-1 std, every seed as a dot."""
    fig = Figure(figsize=(1.6 + 1.5 * len(groups), 5), layout="constrained")
    ax = fig.subplots()
    stats = [mean_std(v) for v in groups.values()]
    ax.bar(range(len(groups)), [m for m, _ in stats], yerr=[s for _, s in stats], color="tab:blue", alpha=0.6,
           capsize=6)
    for i, values in enumerate(groups.values()):
        ax.plot([i] * len(values), values, "o", color="black", ms=4)
    if baseline is not None:
        ax.axhline(baseline, color="black", ls="--", lw=1.2, label=f"reference {baseline:.3f}")
        ax.legend(loc="best")
    lows = [min(v) for v in groups.values()] + ([baseline] if baseline is not None else [])
    highs = [max(v) for v in groups.values()] + ([baseline] if baseline is not None else [])
    ax.set_ylim(min(lows) - 0.05, max(highs) + 0.05)
    ax.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right")
    ax.set_ylabel("final validation loss")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title)
    save_figure(fig, out_path)
    return fig
