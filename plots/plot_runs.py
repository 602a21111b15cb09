"""Validation loss curves of training runs: the whole run, step 0 included, beside its end zoomed in.

    python plots/plot_runs.py out/ref24 'out/inh16*' --baseline-run out/ref24 --train --smooth 20
    python -m plots.plot_runs RUN_DIR_OR_GLOB... [--out runs.png] [--format png|svg|pdf]
    python plots/plot_runs.py --paper gpt2m out/gpt2m_inherit16 out/gpt2m_baseline24   # beside the authors' logs

Each run is labelled from its own config.json. The left panel keeps the step-0 loss, so an
inherited model's head start shows; the right one zooms into the last three quarters of the steps,
where runs differ by hundredths. Tokens are a second x scale on top when every run sees the same
tokens per step, and a second row of panels when they do not. --paper SIZE draws, dashed, the validation
losses the paper's authors logged for that size (plots/paper_curves/SIZE_*.csv: their scratch, Inheritune and
baseline runs, each file naming its source log and commit), so a run of config/SIZE_*.py shows whether it tracks
theirs.
"""

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.runs import (STYLE, add_output_args, distinct_labels, ema, finite, format_count, load_run,
                        load_runs, output_path, padded_range, save_figure, sort_key)

# the zoomed panel leaves out each figure's first quarter of steps, where the loss falls steeply
SETTLED_FRACTION = 0.25
PAPER_CURVES = Path(__file__).resolve().parent / "paper_curves"  # the authors' logged curves, one CSV per run
PAPER_SIZES = ("gpt2m", "gpt2l", "gpt2xl")


@dataclass
class Curve:
    """One line to draw: values at steps (tokens may be None), optionally a (low, high) band around it.
    A thin line (a noisy train loss) is drawn in the zoom but does not set its limits."""
    steps: list
    tokens: list
    values: list
    color: object
    lw: float = 2.0
    alpha: float = 1.0
    band: tuple = None
    ls: str = "-"

    def xs(self, axis):
        """(x, values, band) against 'step' or 'tokens'; points without tokens are left out of the latter."""
        keep = [i for i, t in enumerate(self.tokens) if axis == "step" or t is not None]
        x = self.steps if axis == "step" else self.tokens
        band = self.band and tuple([b[i] for i in keep] for b in self.band)
        return [x[i] for i in keep], [self.values[i] for i in keep], band


def tokens_per_step(curves):
    """The one number of tokens per step every curve trains on, else None (tokens then get their own panels)."""
    ratios = {t / s for c in curves for s, t in zip(c.steps, c.tokens) if t is not None and s > 0}
    return ratios.pop() if len(ratios) == 1 else None


def _values_and_bands(curves, axis, x_from=None):
    """Every value and band edge drawn against `axis`, from x_from on; (x, y) pairs of the whole curves."""
    levels, pairs = [], []
    for c in curves:
        x, values, band = c.xs(axis)
        rows = [values] + list(band or ())
        pairs += [(x, v) for v in rows]
        levels += [v for row in rows for xi, v in zip(x, row) if x_from is None or xi >= x_from]
    return finite(levels), pairs


def draw_curves(fig, curves, baselines=(), logx=False):
    """Draw curves on a whole-run panel (left) and an end-of-run zoom (right), against steps (and tokens
    in a second row when runs differ in tokens per step). baselines: loss levels drawn dashed.
    Returns the panels as rows of (whole, zoom)."""
    per_step = tokens_per_step(curves)
    axes_names = ("step",) if per_step is not None or not any(
        t is not None for c in curves for t in c.tokens) else ("step", "tokens")
    panels = fig.subplots(len(axes_names), 2, squeeze=False)
    for (whole, zoom), axis in zip(panels, axes_names):
        for ax in (whole, zoom):
            for c in curves:
                x, values, band = c.xs(axis)
                ax.plot(x, values, color=c.color, lw=c.lw, alpha=c.alpha, ls=c.ls,
                        marker="o" if c.lw >= 2 and len(x) <= 30 else None, ms=4)
                if band:
                    ax.fill_between(x, *band, color=c.color, alpha=0.2, lw=0)
            for level in baselines:
                ax.axhline(level, color="black", ls="--", lw=1.2)
            ax.grid(alpha=0.3)
        _set_limits(whole, zoom, curves, axis, baselines, logx)
        unit = "step" if axis == "step" else "tokens"
        for ax in (whole, zoom):
            ax.set_xlabel(unit)
            if axis == "tokens":
                ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_count(x)))
            elif not logx or ax is zoom:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
            if per_step is not None:  # the same tokens per step everywhere: tokens as a second scale on top
                top = ax.secondary_xaxis("top", functions=(lambda s: s * per_step, lambda t: t / per_step))
                top.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_count(x)))
                top.set_xlabel("tokens")
    panels[0][0].set_title("whole run (step 0 included)")
    panels[0][1].set_title(f"from {SETTLED_FRACTION:.0%} of the steps on, zoomed")
    return panels


def _set_limits(whole, zoom, curves, axis, baselines, logx):
    """The whole panel shows every point from x = 0; the zoom the settled part, framed on the whole panel."""
    levels, pairs = _values_and_bands(curves, axis)
    whole.set_ylim(*padded_range(min(levels + list(baselines)), max(levels + list(baselines)), above=0.05))
    end = max(max(x) for x, _ in pairs if x)
    if logx:  # symlog keeps step 0, which a log axis would have to mask
        whole.set_xscale("symlog", linthresh=min((xi for x, _ in pairs for xi in x if xi > 0), default=1))
    whole.set_xlim(0, end * 1.03)
    start = SETTLED_FRACTION * end
    late, _ = _values_and_bands([c for c in curves if c.lw >= 2] or curves, axis, x_from=start)
    if not late:  # the thick curves end before the zoom: a short run beside the authors' 100K-step logs
        late, _ = _values_and_bands(curves, axis, x_from=start)
    low, high = padded_range(min(late + list(baselines)), max(late or levels))
    zoom.set_xlim(start, end + 0.03 * (end - start))
    zoom.set_ylim(low, high)
    whole.indicate_inset((start, low, end - start, high - low), edgecolor="0.3", alpha=0.8)


def baseline_from_args(baseline, baseline_run):
    """(value, legend label) of the reference line, or None."""
    if baseline_run:
        ref = load_run(baseline_run)
        return ref.final_loss, f"reference {ref.n_layer}L final: {ref.final_loss:.4f}"
    if baseline is not None:
        return baseline, f"baseline: {baseline:.4f}"
    return None


def _run_curves(run, color, train, smooth):
    """Validation (and optionally smoothed train) loss of one run."""
    steps, tokens, val = run.points("val_loss")
    curves = [Curve(steps, tokens, val, color)]
    if train:
        t_steps, t_tokens, t_loss = run.points("train_loss")
        curves.append(Curve(t_steps, t_tokens, ema(t_loss, smooth), color, lw=0.9, alpha=0.45))
    return curves


def read_paper_curve(path):
    """(label, steps, val losses) of one of the authors' logged runs: a CSV under '# key: value' header lines."""
    lines = Path(path).read_text().splitlines()
    header = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# ") and ": " in line)
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    return header["label"], [int(r["step"]) for r in rows], [float(r["val_loss"]) for r in rows]


def paper_curves(size):
    """The authors' logged curves for a paper size, as thin dashed Curves, and their legend handles."""
    if size not in PAPER_SIZES:
        raise SystemExit(f"--paper {size}: choose one of {', '.join(PAPER_SIZES)}")
    colors = matplotlib.colormaps["Dark2"].colors
    curves, handles = [], []
    for i, path in enumerate(sorted(PAPER_CURVES.glob(f"{size}_*.csv"))):
        label, steps, values = read_paper_curve(path)
        color = colors[i % len(colors)]
        curves.append(Curve(steps, [None] * len(steps), values, color, lw=1.3, alpha=0.85, ls="--"))
        handles.append(Line2D([], [], color=color, lw=1.3, ls="--", label=f"paper {size}: {label}"))
    return curves, handles


@matplotlib.rc_context(STYLE)
def plot_runs(run_dirs, out_path, train=False, smooth=1, baseline=None, baseline_run=None,
              title=None, logx=False, paper=None):
    """Plot the runs' loss curves to out_path and return the Figure.

    run_dirs: run directories or glob patterns. baseline: a loss level drawn as a dashed
    line; baseline_run: a run directory whose final val loss is that level instead. paper: a paper size
    (gpt2m, gpt2l, gpt2xl) whose logged curves are drawn too, dashed (run_dirs may then be empty).
    """
    if not run_dirs and paper is None:
        raise SystemExit("no runs to plot: name run directories or glob patterns, or --paper SIZE")
    runs = sorted(load_runs(run_dirs), key=sort_key) if run_dirs else []
    ref = baseline_from_args(baseline, baseline_run)
    colors = matplotlib.colormaps["tab10" if len(runs) <= 10 else "tab20"].colors
    curves, handles = [], []
    for i, (run, label) in enumerate(zip(runs, distinct_labels(runs))):
        color = colors[i % len(colors)]
        curves += [c for c in _run_curves(run, color, train, smooth) if finite(c.values)]
        progress = "" if run.finished or not run.log else f" (unfinished: step {run.log[-1]['step']})"
        handles.append(Line2D([], [], color=color, lw=2, label=label + progress))
    if paper is not None:
        theirs, their_handles = paper_curves(paper)
        curves, handles = curves + theirs, handles + their_handles
    if not curves:
        raise SystemExit("none of these runs has logged a loss yet; plot them after their first evaluation")
    if train:
        smoothing = f", EMA span {smooth}" if smooth > 1 else ""
        handles += [Line2D([], [], color="0.3", lw=2, marker="o", ms=4, label="validation loss"),
                    Line2D([], [], color="0.3", lw=0.9, alpha=0.45, label=f"train loss{smoothing}")]
    if ref:
        handles.append(Line2D([], [], color="black", ls="--", lw=1.2, label=ref[1]))
    fig = Figure(figsize=(13, 6), layout="constrained")
    panels = draw_curves(fig, curves, [ref[0]] if ref else [], logx)
    for row in panels:
        row[0].set_ylabel("loss" if train else "validation loss")
    fig.suptitle(title or ("loss" if train else "validation loss")
                 + ("" if title or paper is None else f", beside the authors' logged {paper} runs (dashed)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(2, len(handles)), framealpha=0.9)
    save_figure(fig, out_path)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="run directories or glob patterns")
    add_output_args(parser, "runs")
    parser.add_argument("--train", action="store_true", help="also draw the train loss, thin")
    parser.add_argument("--smooth", type=int, default=1, metavar="N",
                        help="EMA span for the train loss, in logged points (1 = raw)")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--baseline", type=float, help="draw this loss as a dashed line")
    ref.add_argument("--baseline-run", metavar="RUN_DIR", help="dashed line at this run's final val loss")
    parser.add_argument("--title")
    parser.add_argument("--logx", action="store_true", help="symmetric-log x axis on the whole-run panels (step 0 stays)")
    parser.add_argument("--paper", choices=PAPER_SIZES,
                        help="also draw the authors' logged validation curves of this size (plots/paper_curves/)")
    args = parser.parse_args(argv)
    if not args.runs and args.paper is None:
        parser.error("name run directories or glob patterns, or --paper SIZE")
    plot_runs(args.runs, output_path(args.out, args.format, "runs"), train=args.train,
              smooth=args.smooth, baseline=args.baseline, baseline_run=args.baseline_run,
              title=args.title, logx=args.logx, paper=args.paper)


if __name__ == "__main__":
    main()
