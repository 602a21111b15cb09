"""Which blocks each selection policy inherited, beside the reference's attention-rank heatmap
(study.py --suite layers draws it into results/layers_blocks.png from the runs' manifests).

Left: analyze.py's heatmap (rank per layer and head) of the first reference; right: per reference block
and policy, how many seeds' targets inherited it. Rows are the reference's blocks in both panels.
"""

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from analyze import draw_heatmap, heatmap_marks
from plots.runs import STYLE, save_figure


@matplotlib.rc_context(STYLE)
def plot_layer_choices(attention, choices, out_path, title):
    """attention: an attention.json report (analyze.py); choices: policy -> per seed, the reference blocks
    inherited. Returns the Figure."""
    K = len(attention["layers"])
    counts = np.array([[sum(b in seed for seed in per_seed) for b in range(K)] for per_seed in choices.values()]).T
    seeds = max(len(per_seed) for per_seed in choices.values())
    fig = Figure(figsize=(8.5 + 1.1 * len(choices), max(4.5, 1.8 + 0.55 * K)), layout="constrained")
    heat, grid = fig.subplots(1, 2, width_ratios=[len(attention["layers"][0]["rank"]) + 2, len(choices)])
    draw_heatmap(fig, heat, attention["layers"], attention["block_size"],
                 f"attention rank, {Path(attention['checkpoint']).parent.name}\n(analyze.py)", heatmap_marks(attention))
    grid.imshow(counts, cmap="Blues", vmin=0, vmax=seeds * 1.25, aspect="auto")
    for (block, col), c in np.ndenumerate(counts):
        grid.text(col, block, f"{c}/{seeds}" if c else "", ha="center", va="center", fontsize=10,
                  color="w" if c > seeds / 2 else "k")
    grid.set_xticks(range(len(choices)), list(choices), rotation=20)
    grid.set_yticks(range(K))
    grid.set_ylabel("reference block")
    grid.set_title(f"blocks inherited\n(seeds choosing each, of {seeds})", fontsize=11)
    fig.suptitle(title)
    save_figure(fig, out_path)
    return fig
