"""Validation loss of each grow-until-baseline round against the number of inherited layers n.

    python plots/plot_grow.py GROW_DIR [--out GROW_DIR/grow.png] [--format png|svg|pdf]

GROW_DIR is the directory made by `python inherit.py --grow-until-baseline` (its
results.json). Each round shows its val loss and gap to the baseline (drawn with its tolerance
band, and the reference at n = K); the round that stopped the loop is ringed.
"""

import argparse
import os
import sys

import matplotlib
from matplotlib.figure import Figure

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.runs import (STYLE, add_output_args, format_count, load_grow, output_path, padded_range,
                        save_figure)


def _title(grow):
    K, T = grow.get("K"), grow.get("T")
    ref = (f"{K}L reference" if K else "reference") + (f" after {T} steps" if T else "")
    stopped = grow.get("stopped_at")
    outcome = f"stopped at n={stopped}" if stopped is not None else "no round has reached the baseline"
    return f"Grow until baseline: {ref}, val loss {grow['baseline_val_loss']:.4f}\n{outcome}"


@matplotlib.rc_context(STYLE)
def plot_grow(grow_dir, out_path):
    """Plot GROW_DIR/results.json to out_path and return the Figure: every round's val loss and gap to
    the baseline, the reference itself at n = K, the round that stopped the loop ringed."""
    grow = load_grow(grow_dir)
    rounds = sorted(grow["rounds"], key=lambda r: r["n"])
    ns, losses = [r["n"] for r in rounds], [r["val_loss"] for r in rounds]
    baseline, tol, K = grow["baseline_val_loss"], grow.get("tolerance") or 0.0, grow.get("K")
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.subplots()
    handles = [ax.axhline(baseline, color="black", ls="--", lw=1.2, label=f"baseline {baseline:.4f}")]
    if tol > 0:
        handles.append(ax.axhspan(baseline, baseline + tol, color="tab:green", alpha=0.15,
                                  label=f"within tolerance (+{tol:g})"))
    handles += ax.plot(ns, losses, color="tab:blue", marker="o", ms=8, lw=2, label="Inheritune round: n layers")
    for n, loss in zip(ns, losses):
        ax.annotate(f"{loss:.4f}\ngap {loss - baseline:+.4f}", (n, loss), textcoords="offset points",
                    xytext=(9, 9), ha="left", va="bottom", fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))
    stop = next((r for r in rounds if r["n"] == grow.get("stopped_at")), None)
    if stop:
        handles += ax.plot([stop["n"]], [stop["val_loss"]], marker="o", ms=18, mfc="none", mew=2.5,
                           color="darkorange", ls="none", label=f"stopped at n={stop['n']}")
    ticks = {n: f"{n}\n{format_count(r['params'])}" for n, r in zip(ns, rounds)}
    if K:  # the reference itself, where the rounds head for
        handles += ax.plot([K], [baseline], marker="D", ms=8, color="black", ls="none",
                           label=f"reference: {K} layers")
        ticks.setdefault(K, f"{K}\n(reference)")
    ax.set_xticks(list(ticks), list(ticks.values()))
    ax.set_xlabel("inherited layers n  (parameters below, position embedding excluded)")
    ax.set_ylabel("final validation loss")
    # headroom above the highest point for its two-line label
    ax.set_ylim(*padded_range(min(losses + [baseline]), max(losses + [baseline + tol]),
                                below=0.15, above=0.3))
    ax.set_xlim(min(ticks) - 1, max(ticks) + 1.5)  # room right of the last label
    ax.grid(alpha=0.3)
    ax.set_title(_title(grow))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, framealpha=0.9)
    save_figure(fig, out_path)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("grow_dir", help="directory made by inherit.py --grow-until-baseline")
    add_output_args(parser, "GROW_DIR/grow")
    args = parser.parse_args(argv)
    plot_grow(args.grow_dir, output_path(args.out, args.format, os.path.join(args.grow_dir, "grow")))


if __name__ == "__main__":
    main()
