"""Attention collapse ("lazy layers"): how low-rank each layer's attention is, per head.

    python analyze.py out/study_cpu/seed0/reference/ckpt.pt              # table, JSON, heatmap
    python analyze.py REF/ckpt.pt --windows 32 --threshold 0.9 --out results/attention

For every layer and head, over the first `--windows` fixed validation windows of the checkpoint's
dataset: the approximate rank of the T x T attention probability matrix (the smallest k whose top-k
singular values hold `--threshold` of the squared spectral energy, averaged over windows) and the
mean attention mass on the first token (over all query positions). A head is collapsed when its
rank is at most `--collapsed` x T; the first layer where most heads are collapsed is reported.

The model computes attention with F.scaled_dot_product_attention, which never forms the
probabilities; hooks on the attention modules recompute them from q and k with each layer's own
scale (scale_attn_by_inverse_layer_idx included), so model.py's forward stays as fast as it is.
"""

import argparse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from checkpoint import load_checkpoint
from model import GPT, Block, CausalSelfAttention, GPTConfig
from data import load_split, save_figure_atomically, val_windows, windows, write_json_atomically


def attention_probs(attn, x):
    """The (B, heads, T, T) causal softmax probabilities `attn` computes from its input x."""
    B, T, C = x.shape
    q, k, _ = attn.c_attn(x).split(C, dim=2)
    q, k = (t.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2) for t in (q, k))
    scores = (q @ k.transpose(-2, -1)).float() * attn.scale
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)


def energy_rank(probs, threshold):
    """Smallest k whose top-k singular values hold `threshold` of sum(s^2), per matrix of (..., T, T)."""
    energy = torch.linalg.svdvals(probs.double()) ** 2
    share = energy.cumsum(-1) / energy.sum(-1, keepdim=True)
    return (share < threshold - 1e-12).sum(-1) + 1  # 1e-12: k/T == threshold exactly counts as reached


def uniform_causal(T):
    """Attention spread evenly over each query's causal prefix: row i puts 1/(i+1) on tokens 0..i."""
    return torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]


def first_token_mass(probs):
    """Mean over query positions of the probability put on the first token, per matrix."""
    return probs[..., :, 0].mean(-1)


WINDOWS, THRESHOLD = 16, 0.9  # defaults of the analysis, and what inherit.py's selection policies use


@torch.no_grad()
def over_windows(model, windows, kind, record):
    """Run the windows (B, T) through the model one at a time (bounding memory at (heads, T, T) per layer),
    calling record(i, module, input, output) for the i-th module of type `kind` at each forward."""
    modules = [m for m in model.modules() if isinstance(m, kind)]
    handles = [m.register_forward_hook(lambda m, args, out, i=i: record(i, m, args[0], out))
               for i, m in enumerate(modules)]
    try:
        model.eval()
        for window in windows:
            model(window[None])
    finally:
        for h in handles:
            h.remove()
    return len(modules)


def collapse_stats(model, windows, threshold):
    """Per layer and head: mean energy rank and mean first-token mass over the windows (B, T)."""
    ranks, masses = {}, {}

    def record(i, attn, x, out):
        probs = attention_probs(attn, x)
        ranks.setdefault(i, []).append(energy_rank(probs, threshold).double())
        masses.setdefault(i, []).append(first_token_mass(probs).double())

    n = over_windows(model, windows, CausalSelfAttention, record)
    return ([torch.cat(ranks[i]).mean(0).tolist() for i in range(n)],
            [torch.cat(masses[i]).mean(0).tolist() for i in range(n)])


def block_influence(model, windows):
    """Per block: 1 - cos(block input, block output) of the residual stream, averaged over every token of
    the windows (ShortGPT's Block Influence): 0 for a block that leaves the stream's direction unchanged."""
    values = {}

    def record(i, block, x, out):
        values.setdefault(i, []).append(1 - F.cosine_similarity(x.double(), out.double(), dim=-1).flatten())

    n = over_windows(model, windows, Block, record)
    return [torch.cat(values[i]).mean().item() for i in range(n)]


def fixed_windows(data, block_size, count):
    """The first `count` validation windows of train.py's evaluator (data.py's val_windows and windows)."""
    starts = val_windows(data, SimpleNamespace(eval_tokens=0, block_size=block_size))[:count]
    if len(starts) == 0:
        raise SystemExit(f"the validation split holds fewer than block_size={block_size} tokens")
    return windows(data, starts, block_size, "cpu")[0]


def summarize(ranks, masses, T, collapsed):
    """Per-layer rows and the first layer in which most heads are collapsed (None if none)."""
    rows = []
    for i, (r, m) in enumerate(zip(ranks, masses)):
        n_collapsed = sum(x <= collapsed * T for x in r)
        rows.append({"layer": i, "rank": r, "first_token_mass": m, "mean_rank": float(np.mean(r)),
                     "mean_first_token_mass": float(np.mean(m)), "collapsed_heads": n_collapsed})
    first = next((row["layer"] for row in rows if 2 * row["collapsed_heads"] > len(row["rank"])), None)
    return rows, first


def table(rows, T):
    lines = [f"| layer | mean rank (of T={T}) | head ranks | first-token mass | collapsed heads |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['layer']} | {row['mean_rank']:.1f} | {' '.join(f'{r:.1f}' for r in row['rank'])} | "
                     f"{row['mean_first_token_mass']:.3f} | {row['collapsed_heads']}/{len(row['rank'])} |")
    return "\n".join(lines)


def draw_heatmap(fig, ax, rows, T, title, marks=None):
    """Ranks per layer and head on `ax`. The colours span the ranks found (one colour for all would hide their
    spread); marks, {name: rank} (uniform causal attention, attention to self), are lines on the colour bar
    where they fall in that span and are named beside it in any case."""
    ranks = np.array([row["rank"] for row in rows])
    low, high = float(ranks.min()), float(ranks.max())
    low, high = (low, high) if high - low >= 1 else ((low + high) / 2 - 0.5, (low + high) / 2 + 0.5)
    image = ax.imshow(ranks, cmap="viridis", vmin=low, vmax=high, aspect="auto")
    for (layer, head), r in np.ndenumerate(ranks):
        ax.text(head, layer, f"{r:.1f}", ha="center", va="center", fontsize=10,
                color="w" if r < (low + high) / 2 else "k")
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(ranks.shape[1]))
    ax.set_yticks(range(ranks.shape[0]))
    ax.set_title(title, fontsize=11)
    named = "; ".join(f"{name}: {rank}" for name, rank in (marks or {}).items())
    bar = fig.colorbar(image, ax=ax, label=f"attention rank of T={T}" + (f"\n({named})" if named else ""))
    for name, rank in (marks or {}).items():
        if low <= rank <= high:
            bar.ax.axhline(rank, color="red", lw=2)
            bar.ax.text(1.05, rank, name, transform=bar.ax.get_yaxis_transform(), color="red", fontsize=8,
                        va="center")


def plot_heatmap(rows, T, path, title, marks=None):
    """draw_heatmap as a figure of its own, saved to path."""
    from matplotlib.figure import Figure
    ranks = len(rows), len(rows[0]["rank"])
    fig = Figure(figsize=(max(7.0, 3.0 + 0.9 * ranks[1]), max(4.5, 1.8 + 0.6 * ranks[0])), layout="tight")
    draw_heatmap(fig, fig.subplots(), rows, T, title, marks)
    save_figure_atomically(fig, path)
    return fig


def heatmap_marks(report):
    """The ranks that give the heatmap its scale, from an attention.json report."""
    return {"uniform causal": report["uniform_causal_rank"], "attention to self": report["self_rank"]}


def analyze(ckpt_path, out_dir, windows=WINDOWS, threshold=THRESHOLD, collapsed=0.05, data_dir="", dataset=""):
    """Run the analysis on a checkpoint; writes attention.json and attention.png into out_dir."""
    if not 0 < threshold <= 1 or not 0 <= collapsed < 1 or windows < 1:
        raise SystemExit("--threshold must be in (0, 1], --collapsed in [0, 1) and --windows at least 1")
    ckpt = load_checkpoint(ckpt_path)
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    config = ckpt.get("config", {})
    data_dir, dataset = data_dir or config.get("data_dir", "data"), dataset or config.get("dataset", "builtin")
    T = model.config.block_size
    batch = fixed_windows(load_split(data_dir, dataset, "val"), T, windows)
    ranks, masses = collapse_stats(model, batch, threshold)
    rows, first = summarize(ranks, masses, T, collapsed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"checkpoint": str(ckpt_path), "step": ckpt["step"], "dataset": f"{data_dir}/{dataset}",
              "windows": len(batch), "block_size": T, "threshold": threshold, "collapsed": collapsed,
              "first_collapsed_layer": first, "layers": rows,
              # for scale: the ranks of uniform causal attention and of attention to each token itself
              "uniform_causal_rank": energy_rank(uniform_causal(T), threshold).item(),
              "self_rank": energy_rank(torch.eye(T), threshold).item()}
    write_json_atomically(out_dir / "attention.json", report)
    plot_heatmap(rows, T, out_dir / "attention.png",
                 f"{Path(ckpt_path).parent.name}, step {ckpt['step']}: rank holding\n"
                 f"{threshold:.0%} of the energy, {len(batch)} windows of {T}", heatmap_marks(report))
    print(table(rows, T))
    print(f"for scale: uniform causal attention has rank {report['uniform_causal_rank']}, "
          f"attention to each token itself {report['self_rank']}")
    where = f"layer {first}" if first is not None else "no layer"
    print(f"collapsed (rank <= {collapsed:g} T in most heads) from {where}; "
          f"wrote {out_dir / 'attention.json'} and {out_dir / 'attention.png'}")
    return report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a run's ckpt.pt")
    p.add_argument("--out", default="", help="output folder (default: the checkpoint's folder)")
    p.add_argument("--windows", type=int, default=WINDOWS, help="fixed validation windows to average over")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="share of squared singular values the rank holds")
    p.add_argument("--collapsed", type=float, default=0.05, help="a head is collapsed at rank <= this x T")
    p.add_argument("--data-dir", default="", help="default: the checkpoint's data_dir")
    p.add_argument("--dataset", default="", help="default: the checkpoint's dataset")
    args = p.parse_args(argv)
    analyze(args.checkpoint, args.out or Path(args.checkpoint).parent, args.windows, args.threshold,
            args.collapsed, args.data_dir, args.dataset)


if __name__ == "__main__":
    main()
