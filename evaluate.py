"""Zero-shot evaluation with lm-evaluation-harness's definitions, so numbers compare with the paper's.

    python evaluate.py out/gpt2l_inherit18/ckpt.pt --tasks lambada,wikitext
    python evaluate.py gpt2-large --tasks wikitext --data wikitext=wikitext_test.jsonl

The model is a checkpoint of this project or a Hugging Face GPT-2 (directory or hub id), scored in
fp32 over the GPT-2 tokenizer's 50257 tokens (a padded vocabulary's extra rows get no probability).
- lambada (lambada_openai): the last word, with its leading space, scored as all its tokens given the
  rest of the passage: acc (every token is the greedy choice) and perplexity (exp of minus the mean
  per-passage log-likelihood).
- wikitext (wikitext-2-raw-v1 document level, test split; its test articles are WikiText-103's): each
  detokenized article's log-likelihood in rolling windows of the model's context (the first token
  conditioned on <|endoftext|>); word perplexity, byte perplexity, bits per byte, with words and bytes
  counted on the original article.
Task data comes from the Hugging Face hub (datasets) or local JSON lines files: --data TASK=FILE.
"""

import argparse
import json
import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from checkpoint import GPT2_VOCAB, load_model_source
from data import require_gpt2_tokens, write_text_atomically
from model import GPT, GPTConfig
from prepare_openwebtext import hub_offline
from tokenizer import EOT, gpt2_encoding

# task -> hub dataset, its config, split, and the text field (also the field of a --data file)
TASKS = {"lambada": ("EleutherAI/lambada_openai", "default", "test", "text"),
         "wikitext": ("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1", "test", "page")}


def load_docs(task, path=None):
    """The task's texts: from a JSON lines file, or from the hub (or the datasets cache)."""
    hub_id, name, split, field = TASKS[task]
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise SystemExit(f"{task}: cannot read --data file {path} ({getattr(e, 'strerror', None) or e})") from None
        docs = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)[field]
            except (ValueError, KeyError, TypeError):
                doc = None
            if not isinstance(doc, str):
                raise SystemExit(f"{path} line {number}: not a JSON object with a string '{field}' field, which "
                                 f"each line of a {task} file must be")
            docs.append(doc)
        if not any(docs):
            raise SystemExit(f"{path} holds no {task} documents: it is empty or every '{field}' is; give one JSON "
                             f"object with a non-empty '{field}' field per line")
        return docs
    offline = hub_offline()  # then the datasets cache only: a miss fails at once, not after minutes of retries
    try:
        import datasets

        return list(datasets.load_dataset(hub_id, name, split=split)[field])
    except Exception as e:  # offline, no datasets, hub errors: all end the same way
        where = "the datasets cache (the hub is offline: no network, or HF_HUB_OFFLINE)" if offline else \
            "the hub or the datasets cache"
        raise SystemExit(f"{task}: {hub_id} ({name}, {split}) could not be loaded from {where} "
                         f"({type(e).__name__}); pass a local copy: --data {task}=FILE.jsonl, one JSON "
                         f"object with a '{field}' field per line") from None


def score(model, requests, device, batch_size):
    """(log-likelihood, all greedy) of the last n tokens of each token sequence given those before it.

    Sequences are right-padded into batches: a causal model's logits at a position never see what
    follows it, so the padding changes nothing that is scored.
    """
    results = [None] * len(requests)
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0]))
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        width = max(len(requests[i][0]) for i in batch) - 1
        x = torch.tensor([requests[i][0][:-1] + [EOT] * (width - len(requests[i][0]) + 1) for i in batch])
        with torch.no_grad():
            logits, _ = model(x.to(device))
        logprobs = F.log_softmax(logits[..., :GPT2_VOCAB].float(), dim=-1).cpu()
        for row, i in enumerate(batch):
            seq, n = requests[i]
            targets = torch.tensor(seq[len(seq) - n:])
            scored = logprobs[row, len(seq) - 1 - n:len(seq) - 1]
            results[i] = (scored.gather(1, targets[:, None]).sum().item(),
                          bool((scored.argmax(-1) == targets).all()))
    return results


def lambada_requests(texts, encode, max_len):
    """The passage without its last word is the context; ' ' + the last word is the continuation,
    its tokens taken from the encoding of the whole passage, past those of the context without its
    trailing whitespace (as the harness does)."""
    requests = []
    for line, text in enumerate(texts, 1):
        if " " not in text.strip():
            raise SystemExit(f"LAMBADA passage {line} has no last word after a space: {text[:60]!r}")
        context, word = text.rsplit(" ", 1)
        context_ids, whole = encode(context.rstrip()), encode(context + " " + word)
        n = len(whole) - len(context_ids)
        requests.append((whole[-(max_len + 1):], n))
    return requests


def lambada(model, texts, encode, max_len, device, batch_size):
    results = score(model, lambada_requests(texts, encode, max_len), device, batch_size)
    return {"acc": sum(g for _, g in results) / len(results),
            "perplexity": math.exp(-sum(ll for ll, _ in results) / len(results))}


def rolling_windows(n_tokens, max_len):
    """(first, end) of the disjoint token ranges each window predicts: max_len tokens at a time."""
    if n_tokens == 0:  # an empty page has nothing to predict (the harness yields no window either)
        return []
    first, end = 0, min(max_len, n_tokens)
    windows = [(first, end)]
    while end < n_tokens:
        first, end = end, min(n_tokens, end + max_len)
        windows.append((first, end))
    return windows


def rolling_requests(ids, max_len):
    """A document's windows: tokens first..end-1 predicted from up to max_len tokens before each
    window's end, in the stream [<|endoftext|>] + ids (so the first token has a context)."""
    stream = [EOT] + ids
    return [(stream[max(0, end - max_len):end + 1], end - first) for first, end in rolling_windows(len(ids), max_len)]


# lm-evaluation-harness's WikiText detokenizer, in order: (pattern, replacement, is_regex)
WIKITEXT_DETOKENIZE = [
    ("s '", "s'", False), (r"/' [0-9]/", r"/'[0-9]/", True),
    (" @-@ ", "-", False), (" @,@ ", ",", False), (" @.@ ", ".", False),
    (" : ", ": ", False), (" ; ", "; ", False), (" . ", ". ", False), (" ! ", "! ", False), (" ? ", "? ", False),
    (" , ", ", ", False),
    (r"\(\s*([^\)]*?)\s*\)", r"(\1)", True), (r"\[\s*([^\]]*?)\s*\]", r"[\1]", True),
    (r"{\s*([^}]*?)\s*}", r"{\1}", True), (r"\"\s*([^\"]*?)\s*\"", r'"\1"', True),
    (r"'\s*([^']*?)\s*'", r"'\1'", True),
    ("= = = =", "====", False), ("= = =", "===", False), ("= =", "==", False),
    (" \N{DEGREE SIGN} ", "\N{DEGREE SIGN}", False), (" \n", "\n", False), ("\n ", "\n", False),
    (" N ", " 1 ", False), (" 's", "'s", False),
]


def wikitext_detokenize(page):
    for pattern, replacement, is_regex in WIKITEXT_DETOKENIZE:
        page = re.sub(pattern, replacement, page) if is_regex else page.replace(pattern, replacement)
    return page


def wikitext(model, pages, encode, max_len, device, batch_size):
    requests = [r for page in pages for r in rolling_requests(encode(wikitext_detokenize(page)), max_len)]
    loglik = sum(ll for ll, _ in score(model, requests, device, batch_size))
    words = sum(len(re.split(r"\s+", page)) for page in pages)  # counted before detokenizing, as the harness
    n_bytes = sum(len(page.encode("utf-8")) for page in pages)
    return {"word_perplexity": math.exp(-loglik / words), "byte_perplexity": math.exp(-loglik / n_bytes),
            "bits_per_byte": -loglik / n_bytes / math.log(2)}


EVALUATORS = {"lambada": lambada, "wikitext": wikitext}


def load_model(spec, device):
    source = load_model_source(spec)
    require_gpt2_tokens(source.get("tokenizer"), spec, "these tasks are scored in GPT-2's tokens; compare it on "
                        "its own data's val.bin instead (train.py --eval_only=True --init_from=resume)")
    if source["model_args"]["vocab_size"] < GPT2_VOCAB:
        raise SystemExit(f"{spec} has vocab_size={source['model_args']['vocab_size']}, fewer than the GPT-2 "
                         f"tokenizer's {GPT2_VOCAB} tokens: it cannot score GPT-2 text")
    model = GPT(GPTConfig(**{**source["model_args"], "dropout": 0.0}))
    model.load_state_dict(source["model"])
    return model.float().to(device).eval()


def evaluate(spec, tasks, data=None, device="cpu", batch_size=8):
    """{task: {metric: value}} for a checkpoint or HF GPT-2."""
    docs = {task: load_docs(task, (data or {}).get(task)) for task in tasks}  # a bad file costs no model load
    model = load_model(spec, device)
    encode = gpt2_encoding().encode_ordinary
    return {task: EVALUATORS[task](model, docs[task], encode, model.config.block_size, device, batch_size)
            for task in tasks}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="RUN/ckpt.pt, a Hugging Face GPT-2 directory, or a hub id like gpt2-large")
    p.add_argument("--tasks", default="lambada,wikitext", help=f"comma list of {', '.join(TASKS)}")
    p.add_argument("--data", action="append", default=[], metavar="TASK=FILE",
                   help="a local JSON lines file for a task (lambada: 'text' field, wikitext: 'page')")
    p.add_argument("--device", default="auto", help="'auto' (cuda if available) | 'cpu' | 'cuda' | 'cuda:N'")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per forward pass")
    p.add_argument("--out", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown or not args.tasks:
        p.error(f"unknown task(s) {unknown}: choose from {', '.join(TASKS)}")
    pairs = [d.partition("=") for d in args.data]
    if any(not sep or task not in TASKS for task, sep, _ in pairs):
        p.error(f"--data takes TASK=FILE with TASK one of {', '.join(TASKS)}")
    args.data = {task: path for task, _, path in pairs}
    if args.batch_size < 1:
        p.error(f"--batch-size {args.batch_size}: give at least 1")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", args.device):
        p.error(f"--device {args.device}: choose 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device} but torch sees no CUDA GPU: use --device cpu (or auto)")
    if args.out and Path(args.out).is_dir():  # refused before scoring: the scores would be lost
        p.error(f"--out {args.out} is a directory: name the JSON file to write, e.g. {Path(args.out) / 'scores.json'}")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def write_scores(path, scores):
    """The results file, whole or not at all (its folder made if missing); a failure says the scores are above."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(scores, indent=2))
    except OSError as e:
        raise SystemExit(f"cannot write --out {path} ({e.strerror or e}); the scores are printed above") from None


def main(argv=None):
    args = parse_args(argv)
    results = evaluate(args.model, args.tasks, args.data, args.device, args.batch_size)
    for task, metrics in results.items():
        print(task + ": " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if args.out:
        write_scores(args.out, {"model": str(args.model), **results})
    return results


if __name__ == "__main__":
    main()
