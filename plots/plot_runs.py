"""Validation loss curves of training runs, against steps (left) and tokens (right).

    python plots/plot_runs.py out/ref24 'out/inh16*' --baseline-run out/ref24 --train --smooth 20
    python -m plots.plot_runs RUN_DIR_OR_GLOB... [--out runs.png] [--format png|svg|pdf]

Each run is labelled from its own config.json. The y-axis is zoomed to where the curves
end: the step-0 loss (~10.8 for GPT-2's vocabulary) lies off the top.
"""

import argparse
import os
import sys

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.runs import (STYLE, add_output_args, distinct_labels, ema, finite, format_count, load_run,
                        load_runs, output_path, padded_range, save_figure, sort_key)

# the upper y-limit ignores each curve's first quarter of steps, where the loss falls steeply
SETTLED_FRACTION = 0.25


def settled_values(steps, values):
    """The values from a quarter of the curve's steps on (all of them if nothing is that late)."""
    cut = steps[0] + SETTLED_FRACTION * (steps[-1] - steps[0])
    late = [v for s, v in zip(steps, values) if s >= cut and s > steps[0]]
    return late or values


def loss_ylim(curves, extra=()):
    """(bottom, top) that shows every curve's settled part and the extra levels (baselines).

    curves: (steps, values) pairs. The bottom is the lowest value anywhere; the top the
    highest settled value, so the first steps' huge losses do not flatten the rest.
    """
    curves = [(s, v) for s, v in curves if finite(v)]
    low = min([min(finite(v)) for _, v in curves] + list(extra))
    high = max([max(finite(settled_values(s, v)) or finite(v)) for s, v in curves] + list(extra))
    return padded_range(low, high)


def baseline_from_args(baseline, baseline_run):
    """(value, legend label) of the reference line, or None."""
    if baseline_run:
        ref = load_run(baseline_run)
        return ref.final_loss, f"reference {ref.n_layer}L final: {ref.final_loss:.4f}"
    if baseline is not None:
        return baseline, f"baseline: {baseline:.4f}"
    return None


def _plot_both(axes, steps, tokens, values, **style):
    """One curve against steps (left panel) and tokens (right panel, lines without tokens left out)."""
    axes[0].plot(steps, values, **style)
    with_tokens = [(t, v) for t, v in zip(tokens, values) if t is not None]
    axes[1].plot([t for t, _ in with_tokens], [v for _, v in with_tokens], **style)


def _draw_run(axes, run, color, train, smooth):
    """Validation (and optionally smoothed train) loss of one run; returns its (steps, values) curves."""
    steps, tokens, val = run.points("val_loss")
    _plot_both(axes, steps, tokens, val, color=color, lw=2, marker="o" if len(val) <= 30 else None, ms=4)
    if not train:
        return [(steps, val)]
    t_steps, t_tokens, t_loss = run.points("train_loss")
    t_loss = ema(t_loss, smooth)
    _plot_both(axes, t_steps, t_tokens, t_loss, color=color, lw=0.9, alpha=0.45)
    return [(steps, val), (t_steps, t_loss)]


@matplotlib.rc_context(STYLE)
def plot_runs(run_dirs, out_path, train=False, smooth=1, baseline=None, baseline_run=None,
              title=None, logx=False):
    """Plot the runs' loss curves to out_path and return the Figure.

    run_dirs: run directories or glob patterns. baseline: a loss level drawn as a dashed
    line; baseline_run: a run directory whose final val loss is that level instead.
    """
    runs = sorted(load_runs(run_dirs), key=sort_key)
    ref = baseline_from_args(baseline, baseline_run)
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    colors = matplotlib.colormaps["tab10" if len(runs) <= 10 else "tab20"].colors
    curves, handles = [], []
    for i, (run, label) in enumerate(zip(runs, distinct_labels(runs))):
        color = colors[i % len(colors)]
        curves += _draw_run(axes, run, color, train, smooth)
        progress = "" if run.finished or not run.log else f" (unfinished: step {run.log[-1]['step']})"
        handles.append(Line2D([], [], color=color, lw=2, label=label + progress))
    if not any(finite(v) for _, v in curves):
        raise SystemExit("none of these runs has logged a loss yet; plot them after their first evaluation")
    if train:
        smoothing = f", EMA span {smooth}" if smooth > 1 else ""
        handles += [Line2D([], [], color="0.3", lw=2, marker="o", ms=4, label="validation loss"),
                    Line2D([], [], color="0.3", lw=0.9, alpha=0.45, label=f"train loss{smoothing}")]
    if ref:
        for ax in axes:
            ax.axhline(ref[0], color="black", ls="--", lw=1.2)
        handles.append(Line2D([], [], color="black", ls="--", lw=1.2, label=ref[1]))
    axes[0].set_ylim(*loss_ylim(curves, [ref[0]] if ref else []))
    axes[0].set_ylabel("loss" if train else "validation loss")
    axes[0].set_xlabel("step")
    axes[1].set_xlabel("tokens")
    for ax in axes:
        ax.grid(alpha=0.3)
        if logx:  # step 0 cannot be shown on a log axis: masked
            ax.set_xscale("log", nonpositive="mask")
    if not logx:  # log axes keep matplotlib's 10^k labels
        axes[0].xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        axes[1].xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_count(x)))
    fig.suptitle(title or ("loss" if train else "validation loss"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(2, len(handles)), framealpha=0.9)
    save_figure(fig, out_path)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or glob patterns")
    add_output_args(parser, "runs")
    parser.add_argument("--train", action="store_true", help="also draw the train loss, thin")
    parser.add_argument("--smooth", type=int, default=1, metavar="N",
                        help="EMA span for the train loss, in logged points (1 = raw)")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--baseline", type=float, help="draw this loss as a dashed line")
    ref.add_argument("--baseline-run", metavar="RUN_DIR", help="dashed line at this run's final val loss")
    parser.add_argument("--title")
    parser.add_argument("--logx", action="store_true", help="logarithmic x axes")
    args = parser.parse_args(argv)
    plot_runs(args.runs, output_path(args.out, args.format, "runs"), train=args.train,
              smooth=args.smooth, baseline=args.baseline, baseline_run=args.baseline_run,
              title=args.title, logx=args.logx)


if __name__ == "__main__":
    main()
