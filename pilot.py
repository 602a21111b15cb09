"""The pilot sweep for a study regime where depth matters: at each point, a K-block reference against K/2
blocks from scratch after the same T steps, the gap the paper's claims need (results/pilot.md).

    OMP_NUM_THREADS=1 python pilot.py --jobs 2                   # every point, one seed each (SEEDS)
    OMP_NUM_THREADS=1 python pilot.py --jobs 2 --seeds 0 1 2 --points pcfg_d64_K8
    python pilot.py --table --seeds 0 1 2 --figure results/pilot.png   # the finished runs' table and curves

Every run trains with config/study_cpu.py's recipe (the paper's, scaled to a CPU) where a point does not
change it, and with the study's seeds and batch orders: seed s initialises both models, the reference draws
batches with data_seed 2s and the scratch model with 2s + 1 (study.data_orders), so a study that retrains a
reference reproduces the pilot's. The learning rate follows one rule for every point and both depths:
LR_AT_D64 x 64 / d (min lr a tenth of it), never tuned per arm. Finished runs are reused, unfinished ones
resumed; each run's output goes to its train.log under out/pilot.
"""
import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from analyze import analyze
from configurator import load_config
from data import read_meta
from grow import Launcher, reference_overrides, run_training
from model import GPT, GPTConfig
from plots.runs import save_figure
from prepare_openwebtext import prepare_dataset
from run_records import read_log
from settings import DEFAULTS
from study import HERE, status_line
from study_plan import PRESETS, data_orders
from study_report import hardware, paired, plateau, result, run_config, spread

LR_AT_D64 = 3e-3  # config/study_cpu.py's lr, at its width
SEEDS = (0,)


def point(dataset, d, K, T=1600, ls=True, heads=4):
    """A pilot point: its changes to config/study_cpu.py."""
    lr = round(LR_AT_D64 * 64 / d, 12)  # rounded: 1.5e-3 / 10 is 0.00015000000000000001 unrounded
    return dict(dataset=dataset, n_embd=d, n_layer=K, n_head=heads, max_iters=T, eval_interval=T // 10,
                warmup_iters=T // 40, learning_rate=lr, min_lr=round(lr / 10, 12), scale_attn_by_inverse_layer_idx=ls)


POINTS = {
    "kjv_d64_K8": point("builtin_bpe1024", 64, 8),  # the first study's regime (results/study.md)
    "kjv_d64_K8_ls0": point("builtin_bpe1024", 64, 8, ls=False),
    "pcfg_d64_K8": point("pcfg", 64, 8),
    "pcfg_d64_K8_ls0": point("pcfg", 64, 8, ls=False),
    "kjv_d128_K8": point("builtin_bpe1024", 128, 8),
    "pcfg_d64_K12_T3200": point("pcfg", 64, 12, T=3200),
    "pcfg_d128_K8": point("pcfg", 128, 8),
    "kjv_d64_K8_T3200": point("builtin_bpe1024", 64, 8, T=3200),
    "pcfg_d64_K8_T3200": point("pcfg", 64, 8, T=3200),
    "pcfg_d64_K8_T3200_ls0": point("pcfg", 64, 8, T=3200, ls=False),
}


class Status:
    """What grow.run_training reports to: a line per run start and finish; the run's output in train.log."""

    def __init__(self, out):
        self.out, self.t0 = out, time.time()

    def started(self, out_dir):
        self.say(f"start  {Path(out_dir).relative_to(self.out)}")

    def finished(self, out_dir, result, trained):
        if trained:
            self.say(f"finish {Path(out_dir).relative_to(self.out)}: val loss {result['val_loss']:.4f}")

    def say(self, text):
        status_line(self.t0, text)


def recipe(name):
    """A point's reference config: train.py's defaults, config/study_cpu.py, the point's changes."""
    cfg = load_config(DEFAULTS, [str(HERE / PRESETS["cpu"])])
    cfg.update(POINTS[name])
    return reference_overrides(cfg)


def arms(name, seed):
    """(run dir name, config) of a point's two models at a seed: the reference and scratch at K/2."""
    base, orders = {**recipe(name), "seed": seed}, data_orders(seed)
    scratch = {**base, "n_layer": base["n_layer"] // 2, "data_seed": orders["targets"]}
    return [("reference", {**base, "data_seed": orders["reference"]}), ("scratch", scratch)]


def train(status, out, name, seed, arm, cfg):
    return run_training(Launcher(progress=status), cfg, str(out / name / f"seed{seed}" / arm))


def runs(out, names, seeds):
    return [(name, s, arm, cfg) for s in seeds for name in names for arm, cfg in arms(name, s)]


# ---- report -----------------------------------------------------------------------------------

def parameters(cfg, vocab):
    """(all parameters with the position embedding, the blocks' share of them), counted on the model itself."""
    model = GPT(GPTConfig(**{k: cfg[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "bias")}, vocab_size=vocab))
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.transformer.h.parameters()) / total


def tokens_per_s(run_dir):
    rates = [r["tokens_per_s"] for r in read_log(Path(run_dir) / "log.jsonl") if r.get("tokens_per_s")]
    return statistics.median(rates) if rates else None


def summarize(out, name, seeds):
    """A point's row: shape, budget, reference - scratch over the seeds done, tokens/s, first collapsed layer."""
    done = [s for s in seeds if all((out / name / f"seed{s}" / a / "result.json").exists() for a, _ in arms(name, s))]
    if not done:
        return None
    cfg = run_config(out / name / f"seed{done[0]}" / "reference")
    meta = read_meta(cfg["data_dir"], cfg["dataset"])
    params, share = parameters(cfg, meta["vocab_size"])
    tokens = cfg["max_iters"] * cfg["tokens_per_step"]
    loss = {a: [result(out / name / f"seed{s}" / a)["val_loss"] for s in done] for a in ("reference", "scratch")}
    ref_dir = out / name / f"seed{done[0]}" / "reference"
    collapse = analyze(ref_dir / "ckpt.pt", ref_dir)["first_collapsed_layer"]
    return {"name": name, "cfg": cfg, "seeds": done, "params": params, "share": share, "tokens": tokens,
            "passes": tokens / meta["tokens"]["train"], "loss": loss,
            "gap": paired(loss["reference"], loss["scratch"]), "tokens_per_s": tokens_per_s(ref_dir),
            "plateau": statistics.fmean(plateau(out / name / f"seed{s}" / "reference") for s in done),
            "collapse": collapse}


def gap_text(gap):
    if gap["lo"] is None:
        return f"{gap['mean']:+.3f} (one seed)"
    return f"{gap['mean']:+.3f} [{gap['lo']:+.3f}, {gap['hi']:+.3f}]"


def table(rows):
    lines = ["| point | corpus | K / K/2, d, heads, block | lr | layer scaling | params (blocks' share) | tokens / param "
             "| passes | reference | reference's last 20% of steps | scratch K/2 | reference - scratch (95% interval) | seeds "
             "| tokens/s (reference) | first collapsed layer |", "|" + "---|" * 15]
    for r in rows:
        c, loss = r["cfg"], r["loss"]
        std = spread(loss["reference"])
        lines.append(
            f"| {r['name']} | {c['dataset']} | {c['n_layer']} / {c['n_layer'] // 2}, {c['n_embd']}, {c['n_head']}, "
            f"{c['block_size']} | {c['learning_rate']:.2g} | {'on' if c['scale_attn_by_inverse_layer_idx'] else 'off'} "
            f"| {r['params'] / 1e6:.2f}M ({r['share']:.0%}) | {r['tokens'] / r['params']:.1f} | {r['passes']:.2f} "
            f"| {statistics.fmean(loss['reference']):.4f}{'' if std is None else f' ± {std:.4f}'} "
            f"| {-100 * r['plateau']:+.2f}% | {statistics.fmean(loss['scratch']):.4f} | {gap_text(r['gap'])} | {len(r['seeds'])} "
            f"| {r['tokens_per_s']:,.0f} | {'none' if r['collapse'] is None else r['collapse']} |")
    return "\n".join(lines)


def plot(rows, out, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = 4
    fig, axes = plt.subplots((len(rows) + cols - 1) // cols, cols, figsize=(4 * cols, 3.2 * ((len(rows) + cols - 1) // cols)),
                             squeeze=False)
    for ax, r in zip(axes.flat, rows):
        for arm, color in (("reference", "C0"), ("scratch", "C1")):
            curve = [(x["step"], x["val_loss"]) for x in read_log(out / r["name"] / f"seed{r['seeds'][0]}" / arm / "log.jsonl")
                     if x.get("val_loss") is not None]
            label = f"{r['cfg']['n_layer'] if arm == 'reference' else r['cfg']['n_layer'] // 2} blocks"
            ax.plot(*zip(*curve[1:]), color=color, label=label)
        ax.set_title(f"{r['name']}: {gap_text(r['gap'])}", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    axes[0][0].set_ylabel("val loss")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", nargs="+", choices=tuple(POINTS), default=list(POINTS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--jobs", type=int, default=2, help="runs trained side by side (one per core)")
    p.add_argument("--out", default="out/pilot")
    p.add_argument("--table", action="store_true", help="train nothing: tabulate the points' finished runs")
    p.add_argument("--figure", default="", help="also draw every point's curves (first seed) to this file")
    args = p.parse_args(argv)
    out = Path(args.out)
    if not args.table:
        for dataset in sorted({POINTS[n]["dataset"] for n in args.points}):
            prepare_dataset(dataset)
        status = Status(out)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(lambda job: train(status, out, *job), runs(out, args.points, args.seeds)))
    rows = [r for r in (summarize(out, n, args.seeds) for n in args.points) if r is not None]
    print(table(rows) + f"\n\nHardware: {hardware(rows[0]['cfg'])}")
    if args.figure:
        plot(rows, out, args.figure)


if __name__ == "__main__":
    main()
