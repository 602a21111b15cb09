"""A model card: README.md in Hugging Face's format for a model this project made, from export_hf.py (a checkpoint)
or inherit.py --format hf (a cut Hugging Face decoder)."""

import json
import re
from pathlib import Path

from checkpoint import is_checkpoint_file

PAPER = "Inheritune (\"Pre-training Small Base LMs with Fewer Tokens\", https://arxiv.org/abs/2404.08634)"
# The weights' license. This repository states none, and a model's weights derive from its reference and its
# training data, whose terms apply to them (OpenAI's GPT-2: MIT; a Llama: Meta's license; OpenWebText: its own):
# 'other' claims no license that nobody granted, and the card's body says where the terms come from.
CARD_LICENSE = "other"


def hub_id(spec):
    """spec as a Hugging Face hub id (the card's base_model), or None for a file or directory."""
    spec = str(spec)
    if is_checkpoint_file(spec) or Path(spec).exists() or spec.startswith((".", "/", "~")):
        return None
    return spec if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec) else None


def model_card(title, architecture, n_layer, reference="", reference_layers=None, blocks=(), inherited=(),
               trained=(), scores=None, scores_from="", commands=(), how="", tags=(), datasets=()):
    """README.md in Hugging Face's model-card format (YAML front matter, then markdown), from what is known:
    the reference it inherited from ('': none) with its K blocks (None: not recorded) and the reference blocks
    it kept, in its order; lines on what else it inherited and on its training; evaluate.py's scores
    ({task: {metric: value}}) and the file they came from; the commands that made it, and how to read them."""
    base = hub_id(reference) if reference else None
    front = ["---", "library_name: transformers", f"license: {CARD_LICENSE}", "pipeline_tag: text-generation",
             "tags:", *[f"- {json.dumps(tag)}" for tag in ("inheritune", *tags)],
             *(["datasets:", *[f"- {json.dumps(d)}" for d in datasets]] if datasets else []),
             *([f"base_model: {json.dumps(base)}"] if base else []), "---", ""]
    K = f"K = {reference_layers}" if reference_layers else "K not recorded"
    if reference:
        what = f"A {architecture} of n = {n_layer} blocks made with {PAPER}: its blocks come from a deeper reference."
        facts = [f"Reference: `{reference}`, {K} blocks.",
                 f"Inherited blocks: reference blocks {', '.join(map(str, blocks))} ({K}) are blocks "
                 f"0-{len(blocks) - 1} of this model, in that order.", *inherited]
    else:
        what = f"A {architecture} of n = {n_layer} blocks, trained with the Inheritune codebase; it inherits nothing."
        facts = list(inherited)
    body = [f"# {title}", "", what, "", "## Provenance", "", *[f"- {line}" for line in (*facts, *trained)], ""]
    if scores:
        body += ["## Zero-shot scores", "",
                 f"evaluate.py (lm-evaluation-harness's definitions), from `{scores_from}`:", "",
                 "| task | metric | value |", "|---|---|---|",
                 *[f"| {task} | {metric} | {value:.4f} |" for task, metrics in scores.items()
                   for metric, value in metrics.items()], ""]
    body += ["## How it was made", "", *([how, ""] if how else []), *[f"    {command}" for command in commands], "",
             "## License", "", "Not stated by the code that made these weights: they derive from their reference "
             "model and training data (where named above), whose terms apply to them.", ""]
    return "\n".join(front + body)
