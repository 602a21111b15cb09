"""Final validation loss per group of runs: scratch baselines against Inheritune variants.

    python plots/plot_ablation.py 'out/abl_*' [--baseline-run out/ref24] [--out ablation.png]

Groups come from each run's config: scratch runs by layers and step budget ('scratch
16L 2T', with T the Inheritune runs' steps), inheritance runs by inherit_parts. Runs
sharing a group (seeds) show as points around their mean, with a min-max bar.
"""

import argparse
import os
import sys

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.runs import (STYLE, add_output_args, finite, group_by, load_run, load_runs, output_path,
                        padded_range, part_name, save_figure, sort_key, steps_multiple, step_unit)


def group_label(run, unit):
    """'scratch\\n16L 2T' or 'Inheritune\\nattention + LN\\n16L T' (short lines, to fit under a tick)."""
    size = f"{run.n_layer}L {steps_multiple(run.max_iters, unit)}"
    if not run.is_inherited:
        return f"scratch\n{size}"
    layers = run.config.get("inherit_layers")
    parts = part_name(run.config.get("inherit_parts", "full")) + (f" [{layers}]" if layers else "")
    return f"Inheritune\n{parts}\n{size}"


def _draw_group(ax, x, runs, color):
    """The group's runs as points, their mean as a bar-ended marker, and the mean's value."""
    losses = [r.final_loss for r in runs]
    mean = sum(losses) / len(losses)
    offsets = [0.0] if len(runs) == 1 else [0.24 * (i / (len(runs) - 1) - 0.5) for i in range(len(runs))]
    for dx, run in zip(offsets, runs):
        ax.plot(x + dx, run.final_loss, "o", ms=6, color=color, alpha=0.6,
                markerfacecolor=color if run.finished else "white")
    if len(runs) > 1:
        ax.errorbar(x, mean, yerr=[[mean - min(losses)], [max(losses) - mean]], fmt="_", ms=28,
                    mew=2.5, color=color, capsize=6, elinewidth=1.5)
    seeds = f"\n(n={len(runs)})" if len(runs) > 1 else ""
    ax.annotate(f"{mean:.4f}{seeds}", (x, max(losses)), textcoords="offset points",
                xytext=(0, 8), ha="center", va="bottom", fontsize=10)


@matplotlib.rc_context(STYLE)
def plot_ablation(run_dirs, out_path, baseline_run=None, title=None):
    """Plot final val loss per group of runs (dirs or globs) to out_path; return the Figure."""
    runs = sorted(load_runs(run_dirs), key=sort_key)
    unit = step_unit(runs)
    groups = group_by(runs, lambda r: group_label(r, unit))
    fig = Figure(figsize=(max(6.5, 1.7 * len(groups) + 2), 5.5), layout="constrained")
    ax = fig.subplots()
    levels, handles = [r.final_loss for r in runs], []
    for x, members in enumerate(groups.values()):
        _draw_group(ax, x, members, "0.45" if not members[0].is_inherited else f"C{x % 10}")
    if baseline_run:
        ref = load_run(baseline_run)
        ax.axhline(ref.final_loss, color="black", ls="--", lw=1.2)
        handles.append(Line2D([], [], color="black", ls="--",
                              label=f"reference {ref.n_layer}L: {ref.final_loss:.4f}"))
        levels.append(ref.final_loss)
    if any(len(m) > 1 for m in groups.values()):
        handles.append(Line2D([], [], color="0.3", marker="_", ms=14, mew=2.5, ls="-",
                              label="mean, bar: min-max over seeds"))
    if not all(r.finished for r in runs):
        handles.append(Line2D([], [], color="0.3", marker="o", markerfacecolor="white", ls="none",
                              label="unfinished (last logged val loss)"))
    # zoomed to the data: differences of 0.01-0.1 would vanish on an axis from 0
    ax.set_ylim(*padded_range(min(finite(levels)), max(finite(levels)), below=0.12, above=0.3))
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel("final validation loss")
    ax.set_xlabel(f"T = {unit} steps")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "Final validation loss by initialisation")
    if handles:
        ax.legend(handles=handles, loc="best", framealpha=0.9)
    save_figure(fig, out_path)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or glob patterns")
    add_output_args(parser, "ablation")
    parser.add_argument("--baseline-run", metavar="RUN_DIR", help="dashed line at this run's final val loss")
    parser.add_argument("--title")
    args = parser.parse_args(argv)
    plot_ablation(args.runs, output_path(args.out, args.format, "ablation"),
                  baseline_run=args.baseline_run, title=args.title)


if __name__ == "__main__":
    main()
