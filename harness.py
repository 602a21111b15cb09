"""The paper's zero-shot table through lm-evaluation-harness itself: its task definitions, prompts and metrics,
this project's model scored in process (pip install -r requirements-eval.txt).

    python harness.py out/gpt2l_inherit18/ckpt.pt --out out/gpt2l_inherit18/harness.md
    python harness.py hf/gpt2l_inherit18 --tasks sciq,wikitext --limit 100 --device cuda

The model is a checkpoint of this project or a Hugging Face GPT-2 (directory or hub id), scored as evaluate.py
scores it: fp32 log-probabilities over GPT-2's 50257 tokens. Prints a markdown table like the README's (written to
--out too) and, with --json, the harness's own results. Task data comes from the hub (the datasets cache when
offline); --include-path adds a folder of task YAMLs, e.g. local copies of the tasks read from JSON lines files.
"""

import argparse
import json
from pathlib import Path

import torch

try:
    from lm_eval import simple_evaluate
    from lm_eval.api.model import TemplateLM
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
except ImportError:  # an extra install, kept out of requirements.txt
    raise SystemExit("harness.py needs lm-evaluation-harness: pip install -r requirements-eval.txt") from None

from checkpoint import GPT2_VOCAB
from evaluate import load_model, score
from prepare_openwebtext import hub_offline
from tokenizer import EOT, gpt2_encoding

# The latest README's task list, in its table's order: task -> (column, metric). HellaSwag is reported length-
# normalised, as the paper does; the perplexities come after the accuracies and their average.
PAPER_TASKS = {"arc_easy": ("ARC-E", "acc"), "piqa": ("PIQA", "acc"), "sciq": ("SciQ", "acc"),
               "hellaswag": ("HellaSwag", "acc_norm"), "lambada_openai": ("LAMBADA", "acc"),
               "winogrande": ("WinoGrande", "acc"), "boolq": ("BoolQ", "acc")}
PERPLEXITIES = {"wikitext": ("WikiText ppl", "word_perplexity"), "lambada_openai": ("LAMBADA ppl", "perplexity")}


class InherituneLM(TemplateLM):
    """A GPT of this project as an lm-evaluation-harness model. TemplateLM (an LM) splits each (context,
    continuation) into tokens as the harness's `hf` model does; the windows of rolling log-likelihoods are the
    harness's own; greedy generation stops at the first `until` string or <|endoftext|>."""

    def __init__(self, model, device="cpu", batch_size=8):
        super().__init__()
        self.model, self._device, self.batch_size = model, device, batch_size
        self.max_length = model.config.block_size
        self.encoding = gpt2_encoding()

    @property
    def eot_token_id(self):
        return EOT

    def tok_encode(self, string, add_special_tokens=None, **kwargs):
        return self.encoding.encode(string, allowed_special="all")  # '<|endoftext|>' in text is the token, as in HF

    def _loglikelihood_tokens(self, requests, disable_tqdm=False, **kwargs):
        """(log-likelihood, greedy) of each continuation given the context, cut to the model's last
        max_length + 1 tokens (the last is only predicted)."""
        return score(self.model, [((context + continuation)[-(self.max_length + 1):], len(continuation))
                                  for _, context, continuation in requests], self._device, self.batch_size)

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        totals = []
        for (text,) in [r.args for r in requests]:
            windows = map(make_disjoint_window, get_rolling_token_windows(
                token_list=self.tok_encode(text), prefix_token=EOT, max_seq_len=self.max_length, context_len=1))
            totals.append(sum(ll for ll, _ in self._loglikelihood_tokens([(None, c, p) for c, p in windows])))
        return totals

    def generate_until(self, requests, disable_tqdm=False):
        return [self.greedy_until(context, dict(kwargs)) for context, kwargs in [r.args for r in requests]]

    def greedy_until(self, context, kwargs):
        until = kwargs.pop("until", None) or []
        until = [until] if isinstance(until, str) else until
        max_new = kwargs.pop("max_gen_toks", 256)
        if kwargs.get("do_sample") or kwargs.get("temperature", 0) > 0:
            raise SystemExit(f"this model generates greedily, and a task asks to sample ({kwargs}): run it with the "
                             "harness's hf model on an export (python export_hf.py CKPT DIR)")
        ids = self.tok_encode(context)[-max(1, self.max_length - max_new):]  # room for the answer, as hf leaves
        with torch.no_grad():
            out = self.model.generate(torch.tensor([ids], device=self._device), max_new, top_k=1,
                                      n_tokens=GPT2_VOCAB)[0, len(ids):].tolist()
        text = self.encoding.decode(out[:out.index(EOT)] if EOT in out else out)
        for stop in until:
            text = text.split(stop)[0]
        return text


def table_columns(tasks, results):
    """(column, task, metric, scale) of the table: the paper's accuracies in its order (in %) and any other task's
    accuracy, then the perplexities (the paper's, then any other task's word perplexity)."""
    others = [t for t in tasks if t not in PAPER_TASKS and t not in PERPLEXITIES]
    accuracies = [(PAPER_TASKS[t][0], t, PAPER_TASKS[t][1], 100) for t in PAPER_TASKS if t in tasks]
    accuracies += [(t, t, "acc", 100) for t in others if "acc,none" in results.get(t, {})]
    perplexities = [(PERPLEXITIES[t][0], t, PERPLEXITIES[t][1], 1) for t in PERPLEXITIES if t in tasks]
    perplexities += [(f"{t} ppl", t, "word_perplexity", 1) for t in others
                     if "word_perplexity,none" in results.get(t, {})]
    return accuracies, perplexities


def markdown_table(name, results, tasks):
    """One row for the model, as the README's downstream tables: accuracies in %, their average when there are
    several, perplexities. A metric the harness did not report is left empty."""
    accuracies, perplexities = table_columns(tasks, results)

    def value(task, metric, scale):
        found = results.get(task, {}).get(f"{metric},none")
        return None if found is None else found * scale

    acc = [value(t, m, s) for _, t, m, s in accuracies]
    cells = acc + ([sum(acc) / len(acc)] if len(acc) > 1 and None not in acc else [None] * (len(acc) > 1))
    cells += [value(t, m, s) for _, t, m, s in perplexities]
    header = [c for c, *_ in accuracies] + ["average"] * (len(acc) > 1) + [c for c, *_ in perplexities]
    return "\n".join(["| model | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|",
                      f"| {name} | " + " | ".join("" if v is None else f"{v:.2f}" for v in cells) + " |"])


def task_manager(tasks, include_path=None):
    """The harness's task index (with the YAMLs of include_path), checked to know every task before a model loads."""
    manager = TaskManager(include_path=include_path)
    unknown = [t for t in tasks if not manager.match_tasks([t])]
    if unknown:
        raise SystemExit(f"lm-evaluation-harness knows no task {', '.join(unknown)}: check the names "
                         "(lm_eval ls tasks) or give the folder of their YAMLs with --include-path")
    return manager


def run_tasks(lm, tasks, manager, limit=None, bootstrap_iters=100000, log_samples=False):
    """simple_evaluate's output for the tasks, zero-shot: its "results" are {task: {'metric,filter': value}}."""
    offline = hub_offline()  # then the datasets cache only: a miss fails at once, not after minutes of retries
    try:
        out = simple_evaluate(model=lm, tasks=tasks, num_fewshot=0, limit=limit, task_manager=manager,
                              bootstrap_iters=bootstrap_iters, log_samples=log_samples)
    except OSError as e:  # the task data could not be fetched or read (datasets' errors, connections, files)
        where = "the datasets cache (the hub is offline)" if offline else "the hub or the datasets cache"
        raise SystemExit(f"a task's data could not be loaded from {where} ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); run where the hub answers once, or give "
                         "local task YAMLs with --include-path") from None
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="RUN/ckpt.pt, a Hugging Face GPT-2 directory, or a hub id like gpt2-large")
    p.add_argument("--tasks", default=",".join([*PAPER_TASKS, "wikitext"]),
                   help="comma list of lm-evaluation-harness tasks (default: the paper's seven and wikitext)")
    p.add_argument("--include-path", help="a folder of extra task YAMLs (e.g. tasks read from local files)")
    p.add_argument("--limit", type=float, help="at most this many documents per task (a fraction if below 1): "
                                               "a quick look, not the paper's numbers")
    p.add_argument("--device", default="auto", help="'auto' (cuda if available) | 'cpu' | 'cuda' | 'cuda:N'")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass")
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--json", help="also write the harness's results to this JSON file")
    args = p.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    if not args.tasks:
        p.error("--tasks is empty: give at least one task")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv=None):
    args = parse_args(argv)
    manager = task_manager(args.tasks, args.include_path)
    lm = InherituneLM(load_model(args.model, args.device), args.device, args.batch_size)
    results = run_tasks(lm, args.tasks, manager, args.limit)["results"]
    table = markdown_table(Path(args.model).name if Path(args.model).name != "ckpt.pt" else
                           Path(args.model).parent.name, results, args.tasks)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(args.model), "results": results}, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
