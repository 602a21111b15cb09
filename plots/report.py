"""A markdown table of runs' final validation losses, laid out like the paper's tables.

    python plots/report.py 'out/*' [--aggregate] [--out results.md]

The loss is result.json's; for a run still training it is the last val_loss in its
log.jsonl, marked with * and a footnote. --aggregate folds runs that differ only in
seed into one row: mean ± sample std over the n seeds.
"""

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the `plots` package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from plots.runs import (ensure_parent, format_count, group_by, init_name, load_runs, mean_std,
                        model_name, sort_key)
from settings import TRACKING_KEYS

COLUMNS = ("model", "layers", "init", "steps", "tokens", "final val loss", "params")


# config keys that differ between seeds of one setting, or say nothing about what was trained (the tokenizer is
# the dataset's, which `dataset` names; runs made before it was recorded lack it; tracking is per run)
PER_SEED = {"seed", "data_seed", "out_dir", "inherit_from", "git_commit", "device", "world_size", "num_params",
            "data_dir", "log_interval", "compile", "backend", "peak_tflops", "eval_only", "tokenizer", *TRACKING_KEYS}


def describe(run):
    """The columns that name what was trained."""
    return (model_name(run), str(run.n_layer), init_name(run), str(run.max_iters))


def setting(run):
    """Runs equal in this are seeds of one setting: the shown columns and every hidden hyperparameter."""
    hidden = tuple(sorted((k, repr(v)) for k, v in run.config.items() if k not in PER_SEED))
    return describe(run), hidden


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _loss_cell(runs):
    """One run's loss, or several seeds' mean ± sample std; * when any is unfinished."""
    mean, std = mean_std([r.final_loss for r in runs])
    spread = f" ± {std:.4f}" if len(runs) > 1 else ""
    return f"{mean:.4f}{spread}" + ("" if all(r.finished for r in runs) else "*")


def _params_cell(runs):
    params = {r.num_params for r in runs if r.num_params is not None}
    return " / ".join(format_count(p) for p in sorted(params)) or "?"


def _tokens_cell(runs):
    tokens = [r.final()["tokens"] for r in runs if r.final().get("tokens") is not None]
    if not tokens:
        return "?"
    low, high = min(tokens), max(tokens)
    return format_count(low) if low == high else f"{format_count(low)}-{format_count(high)}"


def _footnote(runs):
    unfinished = [r for r in runs if not r.finished]
    if not unfinished:
        return ""
    where = "; ".join(f"{r.path} at step {r.final()['step']} of {r.max_iters}" for r in unfinished)
    return f"\n\n`*` unfinished: last val_loss in log.jsonl ({where})"


def _run_rows(runs):
    return [describe(r) + (_tokens_cell([r]), _loss_cell([r]), _params_cell([r]),
                           str(r.config.get("seed", "?")), r.path) for r in runs]


def _aggregate_rows(runs):
    return [describe(members[0]) + (_tokens_cell(members), _loss_cell(members), _params_cell(members),
                                    str(len(members)))
            for members in group_by(runs, setting).values()]


def report_table(run_dirs, aggregate=False):
    """The markdown table (and footnote) of the runs named by dirs or glob patterns."""
    runs = sorted(load_runs(run_dirs), key=sort_key)
    if aggregate:
        header = COLUMNS[:5] + ("final val loss (mean ± std)", "params", "seeds")
        table = _markdown(header, _aggregate_rows(runs))
    else:
        table = _markdown(COLUMNS + ("seed", "run"), _run_rows(runs))
    return table + _footnote(runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or glob patterns")
    parser.add_argument("--aggregate", action="store_true",
                        help="one row per setting: mean ± std over seeds")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    table = report_table(args.runs, aggregate=args.aggregate)
    print(table)
    if args.out:
        ensure_parent(args.out)
        with open(args.out, "w") as f:
            f.write(table + "\n")
        print(f"wrote {args.out}", file=sys.stderr)  # stdout stays the bare table


if __name__ == "__main__":
    main()
