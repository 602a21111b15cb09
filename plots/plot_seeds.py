"""Figures over seeds (study.py draws its figures with these): mean validation curves with a band of
+-1 std, and each group's final losses as every seed, their mean and +-1 std.

    python plots/plot_seeds.py --curves 'out/study_cpu/seed*/reference' 'out/study_cpu/seed*/scratch_T_n4' \
        --out curves.png
    python plots/plot_seeds.py --bars 'out/study_cpu/seed*/ablate_attn_ln_n5' 'out/study_cpu/seed*/scratch_T_n5'

Each argument (a glob or a comma-separated list of run directories) is one group: the same setting, one
run per seed. Curves show the whole run with step 0 and, beside it, the end zoomed in (plots/plot_runs.py).
"""

import argparse
import os
import sys

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.plot_runs import Curve, draw_curves
from plots.runs import (STYLE, add_output_args, expand_run_dirs, load_run, mean_std, output_path,
                        padded_range, part_name, run_label, save_figure)


def seeds(n):
    return f"{n} seed" + ("" if n == 1 else "s")


def seed_curve(run_dirs, color):
    """Mean val_loss with a +-1 std band at the evaluation steps every seed logged."""
    curves = [dict(zip(*load_run(d).points("val_loss")[::2])) for d in run_dirs]
    tokens = dict(zip(*load_run(run_dirs[0]).points("val_loss")[:2]))
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    stats = [mean_std([c[s] for c in curves]) for s in steps]
    mean = [m for m, _ in stats]
    band = ([m - s for m, s in stats], [m + s for m, s in stats]) if len(run_dirs) > 1 else None
    return Curve(steps, [tokens[s] for s in steps], mean, color, band=band)


@matplotlib.rc_context(STYLE)
def plot_seed_curves(groups, out_path, title):
    """groups: label -> run dirs (one per seed); returns the Figure (panels: whole run, end zoomed)."""
    curves = [seed_curve(run_dirs, f"C{i % 10}") for i, run_dirs in enumerate(groups.values())]
    handles = [Line2D([], [], color=c.color, lw=2, marker="o", ms=4, label=f"{label} ({seeds(len(dirs))})")
               for c, (label, dirs) in zip(curves, groups.items())]
    if any(c.band for c in curves):
        handles.append(Patch(color="0.5", alpha=0.3, label="band: mean ± 1 std over seeds"))
    fig = Figure(figsize=(13, 6.5), layout="constrained")
    for row in draw_curves(fig, curves):
        row[0].set_ylabel("validation loss" + (" (mean over seeds)" if any(c.band for c in curves) else ""))
    fig.suptitle(title)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)), framealpha=0.9)
    save_figure(fig, out_path)
    return fig


@matplotlib.rc_context(STYLE)
def plot_seed_bars(groups, out_path, title, baseline=None):
    """groups: label (or an inherit_parts name) -> final val losses over seeds; each group's mean with
    +-1 std and every seed as a dot, on an axis zoomed no closer than evaluation noise."""
    labels = [part_name(label) for label in groups]
    fig = Figure(figsize=(2.4 + 1.5 * len(groups), 5.5), layout="constrained")
    ax = fig.subplots()
    stats = [mean_std(v) for v in groups.values()]
    for i, (values, (mean, std)) in enumerate(zip(groups.values(), stats)):
        color = "0.45" if labels[i] == "scratch" else f"C{i % 10}"
        ax.errorbar(i, mean, yerr=std if len(values) > 1 else None, fmt="s", ms=9, color=color, capsize=8,
                    elinewidth=2)
        ax.plot([i + 0.18] * len(values), values, "o", color=color, ms=5, alpha=0.6, mfc="white")
        ax.annotate(f"{mean:.3f}", (i, mean), textcoords="offset points", xytext=(-12, 0), ha="right",
                    va="center", fontsize=10)
    handles = [Line2D([], [], color="0.3", marker="s", ms=8, ls="none", label="mean ± 1 std over seeds"
                      if any(len(v) > 1 for v in groups.values()) else "final loss (1 seed)"),
               Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", label="each seed")]
    levels = [v for values in groups.values() for v in values] + [m + s for m, s in stats] + [m - s for m, s in stats]
    if baseline is not None:
        ax.axhline(baseline, color="black", ls="--", lw=1.2)
        handles.append(Line2D([], [], color="black", ls="--", label=f"reference {baseline:.3f}"))
        levels.append(baseline)
    ax.set_ylim(*padded_range(min(levels), max(levels), below=0.1, above=0.1))
    ax.set_xlim(-0.7, len(groups) - 0.3)
    ax.set_xticks(range(len(groups)), labels)
    ax.set_ylabel("final validation loss")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(f"{title}\n(points with intervals: the axis does not start at 0)", fontsize=11)
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), framealpha=0.9)
    save_figure(fig, out_path)
    return fig


def _groups(patterns):
    """label -> run dirs, one group per argument (a glob, or run dirs joined by commas)."""
    groups = {}
    for pattern in patterns:
        dirs = expand_run_dirs(pattern.split(","))
        groups[run_label(load_run(dirs[0]))] = dirs
    return groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--curves", nargs="+", metavar="GROUP", help="mean validation curves, one per group")
    kind.add_argument("--bars", nargs="+", metavar="GROUP", help="final validation loss per group")
    add_output_args(parser, "seeds")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    out = output_path(args.out, args.format, "seeds")
    groups = _groups(args.curves or args.bars)
    if args.curves:
        plot_seed_curves(groups, out, args.title)
    else:
        plot_seed_bars({label: [load_run(d).final_loss for d in dirs] for label, dirs in groups.items()},
                       out, args.title)


if __name__ == "__main__":
    main()
