"""Inheritune: initialise an n-block GPT-2 from the first n blocks of a K-block reference.

By default, as in the paper's released code, the target inherits its blocks and the token embedding
(= the tied LM head); the position embedding and the final layernorm keep their fresh init
(`--embeddings wte,wpe,ln_f` inherits them too).

Make a step-0 checkpoint that train.py continues (it prints the command, `... --init_from=resume --out_dir=OUT`):
    python inherit.py --reference REF/ckpt.pt --n-layer 16 [--parts full] [--layers 0,1,..] --out OUT/ckpt.pt
The same from a training config: init_from='inherit', inherit_from=REF/ckpt.pt (config/gpt2l_inherit18.py).
REF may also be a Hugging Face GPT-2 (hub id like gpt2-large, or a local directory).

The first n layers of any Hugging Face decoder (LLaMA, Mistral, Qwen2, GPT-NeoX, GPT-2...) as a HF checkpoint:
    python inherit.py --reference openlm-research/open_llama_3b --n-layer 13 --out OUT_DIR --format hf

Grow a trained model in depth by stacking its blocks (G_stack; the rival the paper's later versions compare with):
    python inherit.py --reference SMALL/ckpt.pt --stack 24 --out OUT/ckpt.pt [--stack-order gradual] [--max-iters T]

Grow until the baseline is matched (the paper's loop; resumable, rerun the same command):
    python inherit.py --grow-until-baseline                       # built-in default on CPU
    python inherit.py --grow-until-baseline --reference-run out/gpt2m_baseline24 --nproc-per-node 8
Add --wandb to follow every run of the search in Weights & Biases, grouped under the --out folder.
"""

import argparse
import math
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import torch

from analyze import THRESHOLD, WINDOWS, block_influence, collapse_stats, fixed_windows
from checkpoint import MODEL_KEYS, load_model_source, lock_run_dir, save_checkpoint
from data import (check_new_directory, check_tokenizer, load_split, write_directory_atomically, write_json_atomically,
                  write_text_atomically)
from grow import Launcher, Search, grow_until_baseline
from model import GPT, GPTConfig
from model_card import model_card
from settings import ORIGIN_KEYS, SELECT, TRACKING_KEYS, changed_settings, require_wandb, target_data_seed

# per-block parts of the paper's ablation, as module-name prefixes inside transformer.h.{i}
PRESETS = {
    "full": ("ln_1.", "attn.c_attn.", "attn.c_proj.", "ln_2.", "mlp.c_fc.", "mlp.c_proj."),
    "attn_ln": ("ln_1.", "attn.c_attn.", "attn.c_proj."),
    "mlp_ln": ("ln_2.", "mlp.c_fc.", "mlp.c_proj."),
    "attn_mlp_noln": ("attn.c_attn.", "attn.c_proj.", "mlp.c_fc.", "mlp.c_proj."),
}
# non-block tensors; lm_head is tied to wte, so inheriting one inherits both; 'wte' alone is the paper's
EMBEDDINGS = {
    "wte": ("transformer.wte.", "lm_head."),
    "wpe": ("transformer.wpe.",),
    "ln_f": ("transformer.ln_f.",),
}
SELECTION = "selection"  # the manifest entry: the policy, its per-block scores, the choice and the reference's K


def parse_layers(spec, n_layer, n_ref):
    """Reference block for each target block: the first n_layer by default, or a comma list."""
    if not 1 <= n_layer <= n_ref:
        raise SystemExit(f"n_layer={n_layer} but the reference has {n_ref} blocks: choose 1 <= n_layer <= {n_ref}")
    if not spec:
        return list(range(n_layer))
    try:
        layers = [int(x) for x in spec.split(",")]
    except ValueError:
        raise SystemExit(f"layers '{spec}' is not a comma list of block indices like 0,1,2,5") from None
    if len(layers) != n_layer or len(set(layers)) != n_layer or not all(0 <= i < n_ref for i in layers):
        raise SystemExit(f"layers '{spec}' must name {n_layer} distinct blocks in 0..{n_ref - 1}")
    return layers


def spread_layers(n_layer, n_ref):
    """n_layer blocks evenly spaced over the reference's K, from block 0 to block K-1 (n = 1: block 0):
    i (K-1) / (n-1) rounded half up; n = K gives the first n."""
    if n_layer == 1:
        return [0]
    return [(2 * i * (n_ref - 1) + n_layer - 1) // (2 * (n_layer - 1)) for i in range(n_layer)]  # integers: exact


def block_scores(select, ref, data_dir, dataset, device="cpu"):
    """Per reference block, what the policy keeps the largest of, on analyze.py's fixed validation windows:
    1 - cos(block input, output) for 'influence', the mean attention rank over heads for 'rank'."""
    model = GPT(GPTConfig(**ref["model_args"]))
    model.load_state_dict(ref["model"])
    windows = fixed_windows(load_split(data_dir, dataset, "val"), model.config.block_size, WINDOWS).to(device)
    model.to(device)
    if select == "influence":
        return block_influence(model, windows)
    return [sum(heads) / len(heads) for heads in collapse_stats(model, windows, THRESHOLD)[0]]


def choose_layers(ref, n_layer, select="first", layers="", data_dir="data", dataset="builtin", device="cpu"):
    """The reference blocks to inherit, as a comma list, and the manifest's record of how they were chosen:
    an explicit `layers` list, else the `select` policy's (scores: the n highest kept, in their order)."""
    if select not in SELECT:
        raise SystemExit(f"unknown select '{select}': choose from {', '.join(SELECT)}")
    if layers and select != "first":
        raise SystemExit(f"both layers '{layers}' and select '{select}' choose the blocks: give one of them")
    n_ref = ref["model_args"]["n_layer"]
    chosen, scores = parse_layers(layers, n_layer, n_ref), None
    if select == "spread":
        chosen = spread_layers(n_layer, n_ref)
    elif select in ("influence", "rank"):
        scores = block_scores(select, ref, data_dir, dataset, device)
        chosen = sorted(sorted(range(n_ref), key=lambda i: -scores[i])[:n_layer])  # ties: the earlier block
    record = {"policy": "layers" if layers else select, "blocks": chosen, "scores": scores,
              "reference_layers": n_ref}
    print(f"blocks chosen by {record['policy']}: {chosen} of {n_ref}"
          + (f" | {select} per block: {' '.join(f'{x:.4g}' for x in scores)}" if scores else ""), flush=True)
    return ",".join(map(str, chosen)), record


def parse_embeddings(spec):
    names = [x for x in spec.split(",") if x]
    unknown = [x for x in names if x not in EMBEDDINGS]
    if unknown:
        raise SystemExit(f"unknown embedding part(s) {unknown}: choose from {', '.join(EMBEDDINGS)}")
    return names


def source_of(name, layers, parts, embeddings):
    """The reference tensor a target tensor inherits, or None if it keeps its fresh init."""
    if name.startswith("transformer.h."):
        idx, rest = name[len("transformer.h."):].split(".", 1)
        if rest.startswith(PRESETS[parts]):
            return f"transformer.h.{layers[int(idx)]}.{rest}"
        return None
    if any(name.startswith(prefix) for e in embeddings for prefix in EMBEDDINGS[e]):
        return name
    return None


def check_moved_blocks(layer_map, scaled_by_layer, allow_moved):
    """--format hf: a HF GPT-2 under scale_attn_by_inverse_layer_idx divides block i's attention logits by
    i + 1, so a block moved to another position computes another function there: refused unless allowed."""
    moved = [f"{r}->{i}" for i, r in enumerate(layer_map) if r != i]
    if scaled_by_layer and moved and not allow_moved:
        raise SystemExit(f"blocks {' '.join(moved)} (reference->target) would divide their attention logits by "
                         "another layer index + 1 than they were trained with (scale_attn_by_inverse_layer_idx): "
                         "keep them in place, or allow it with --allow-moved-blocks")


def kept_divisors(ref_args, layer_map, n_layer):
    """The target's attn_divisors: each block keeps the attention-logit divisor it was trained with, so a
    moved block computes what it did in the reference; [] when that is the target's default anyway."""
    trained = GPTConfig(**ref_args).divisors()
    kept = [trained[r] for r in layer_map]
    default = GPTConfig(**{**ref_args, "n_layer": n_layer, "attn_divisors": []}).divisors()
    return [] if kept == default else kept


def inherit(ref_state, ref_args, n_layer, parts="full", layers="", embeddings="wte", seed=1337):
    """Build the n_layer target: a scratch init with `seed`, then the inherited tensors copied in.

    Returns the model and its manifest: target tensor name -> reference tensor name or 'init'.
    """
    if parts not in PRESETS:
        raise SystemExit(f"unknown parts '{parts}': choose from {', '.join(PRESETS)}")
    layer_map = parse_layers(layers, n_layer, ref_args["n_layer"])
    embedding_names = parse_embeddings(embeddings)
    torch.manual_seed(seed)  # the same init a scratch run of this shape and seed gets
    model = GPT(GPTConfig(**{**ref_args, "n_layer": n_layer,
                             "attn_divisors": kept_divisors(ref_args, layer_map, n_layer)}))
    manifest = {}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            src = source_of(name, layer_map, parts, embedding_names)
            manifest[name] = src or "init"
            if src is not None:
                tensor.copy_(ref_state[src])
    return model, manifest


def inherit_from_checkpoint(path, n_layer, parts="full", layers="", embeddings="wte", seed=1337, check=None,
                            select="first", data=("data", "builtin"), device="cpu"):
    """`inherit` from a checkpoint file or a HF GPT-2, blocks chosen by `choose_layers` (scores on the
    validation split of data = (data_dir, dataset)); `check(model_args, path)` may veto a mismatching config, and a
    reference trained on another tokenizer than the data's is refused.

    Returns the model, its manifest and the reference's training config ({} for a HF model)."""
    if not str(path):  # train.py's default inherit_from='' would be reported as "checkpoint . not found"
        raise SystemExit("init_from='inherit' needs inherit_from=REF_DIR/ckpt.pt, the reference run's checkpoint")
    ckpt = load_model_source(path)
    check_tokenizer(ckpt.get("tokenizer"), *data, f"inherit_from={path}")
    if check is not None:
        check(ckpt["model_args"], path)
    model, manifest = inherit_chosen(ckpt, n_layer, parts, layers, embeddings, seed, select, data, device)
    print(manifest_summary(manifest, model.config), flush=True)
    return model, manifest, ckpt["config"]


def inherit_chosen(ref, n_layer, parts, layers, embeddings, seed, select, data, device="cpu"):
    """`inherit` the blocks `choose_layers` picks; the manifest records how they were chosen."""
    chosen, record = choose_layers(ref, n_layer, select, layers, *data, device)
    model, manifest = inherit(ref["model"], ref["model_args"], n_layer, parts, chosen, embeddings, seed)
    return model, {**manifest, SELECTION: record}


def inherited_blocks(manifest):
    """(target block, reference block) pairs of the blocks that inherited something, in target order."""
    return sorted({(int(n.split(".")[2]), int(src.split(".")[2])) for n, src in manifest.items()
                   if n.startswith("transformer.h.") and src != "init"})


def manifest_summary(manifest, config):
    """One line: which reference blocks and which parts were copied, and the attention-logit divisors
    that moved blocks keep; the rest is fresh init."""
    manifest = {n: src for n, src in manifest.items() if n != SELECTION}
    copied = {n: src for n, src in manifest.items() if src != "init"}
    in_blocks = [n for n in copied if n.startswith("transformer.h.")]
    block_map = inherited_blocks(manifest)
    parts = sorted({n.split(".", 3)[3].rsplit(".", 1)[0] for n in in_blocks})
    outside = sorted({n.rsplit(".", 1)[0] for n in copied if n not in in_blocks})
    kept = config.attn_divisors
    return (f"inherited {len(copied)} of {len(manifest)} tensors | blocks (target<-reference): "
            f"{' '.join(f'{t}<-{r}' for t, r in block_map) or 'none'} | block parts: "
            f"{', '.join(parts) or 'none'} | outside blocks: {', '.join(outside) or 'none'} | "
            + (f"attention logit divisors kept from the reference: {' '.join(f'{x:g}' for x in kept)} | "
               if kept else "")
            + "all else: fresh init")


def new_checkpoint_path(out):
    """--out of a checkpoint that train.py will resume: a run dir's ckpt.pt that does not exist yet."""
    out = Path(out)
    if out.name != "ckpt.pt":  # train.py resumes out_dir/ckpt.pt: another name would be ignored
        raise SystemExit(f"--out {out} must be a run dir's ckpt.pt, e.g. {out / 'ckpt.pt'}: "
                         "train.py resumes only out_dir/ckpt.pt")
    if out.exists():
        raise SystemExit(f"{out} already exists: choose another --out (nothing was overwritten)")
    return out


def write_inherited_checkpoint(args):
    """The --reference/--n-layer CLI: a step-0 checkpoint that train.py resumes from."""
    out = new_checkpoint_path(args.out)
    ckpt = load_model_source(args.reference)
    data = (args.data_dir or ckpt["config"].get("data_dir", "data"),
            args.dataset or ckpt["config"].get("dataset", "builtin"))
    tokenizer = check_tokenizer(ckpt.get("tokenizer"), *data, f"--reference {args.reference}") or ckpt.get("tokenizer")
    model, manifest = inherit_chosen(ckpt, args.n_layer, args.parts, args.layers, args.embeddings, args.seed,
                                     args.select, data)
    data_seed = args.data_seed if args.data_seed != -1 else target_data_seed(ckpt["config"], args.seed)
    recipe = {k: v for k, v in ckpt["config"].items() if k not in TRACKING_KEYS}  # never the reference's wandb run
    config = {**recipe, "n_layer": args.n_layer, "init_from": "inherit", "inherit_from": str(args.reference),
              "inherit_parts": args.parts,
              "inherit_layers": args.layers, "inherit_select": args.select, "inherit_embeddings": args.embeddings,
              "seed": args.seed, "data_seed": data_seed,
              "out_dir": str(out.parent)}
    save_checkpoint(out, model, config, step=0, manifest=manifest, tokenizer=tokenizer)
    print(manifest_summary(manifest, model.config))
    print(f"wrote {out}; train it with the reference's settings: {resume_command(config, out.parent)}")


# ---- growth by stacking ---------------------------------------------------------------------

STACK_ORDERS = ("gstack", "gradual")


def stack_layers(n, m, order="gstack"):
    """The source block of each of the m blocks grown from n. gstack (Du et al. 2024, "Stacking Your
    Transformers"): the n blocks in order, again and again, cut at m; gradual: the n blocks, then copies of the top
    min(n, m - n) blocks appended in their order (repeated if m - n > n). For m = 2n the two agree."""
    if order not in STACK_ORDERS:
        raise SystemExit(f"unknown stacking order '{order}': choose from {', '.join(STACK_ORDERS)}")
    if not 1 <= n < m:
        raise SystemExit(f"stacking grows a model: {m} blocks from {n} is no growth; choose --stack above {n}")
    if order == "gstack":
        return [i % n for i in range(m)]
    top = min(n, m - n)
    return list(range(n)) + [n - top + j % top for j in range(m - n)]


def stack(src_state, src_args, m, order="gstack"):
    """The m-block model grown from an n-block one: every tensor copied, the blocks in stack_layers order, the
    embeddings, final layernorm and head as they are (the whole small model, as G_stack does). Each copy keeps the
    attention-logit divisor its block was trained with (kept_divisors). Returns the model and its manifest (target
    tensor -> source tensor; under SELECTION the order and the source block of each block)."""
    n = src_args["n_layer"]
    layer_map = stack_layers(n, m, order)
    model = GPT(GPTConfig(**{**src_args, "n_layer": m, "attn_divisors": kept_divisors(src_args, layer_map, m)}))
    manifest = {}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            manifest[name] = source_of(name, layer_map, "full", tuple(EMBEDDINGS))
            tensor.copy_(src_state[manifest[name]])
    return model, {**manifest, SELECTION: {"policy": order, "blocks": layer_map, "scores": None,
                                           "reference_layers": n}}


def stacked_max_iters(ckpt, max_iters):
    """The stacked run's total steps: max_iters, else where the source's schedule ends (lr_decay_iters, or its
    max_iters); it must lie beyond the step the source stopped at, where the stacked run goes on."""
    config, step = ckpt["config"], ckpt["step"]
    total = max_iters or config.get("lr_decay_iters") or config.get("max_iters", 0)
    if total <= step:
        raise SystemExit(f"the source stopped at step {step} and its schedule ends there: give --max-iters, the "
                         f"stacked run's total steps, above {step}")
    return total


def write_stacked_checkpoint(source, m, out, order="gstack", max_iters=0):
    """OUT/ckpt.pt: the source (a checkpoint of this project or a HF GPT-2) stacked to m blocks, at the source's
    step, without optimizer state: train.py --init_from=resume continues it to max_iters on the same schedule and
    batches (both are functions of the step). Returns its config."""
    out = new_checkpoint_path(out)
    ckpt = load_model_source(source)
    model, manifest = stack(ckpt["model"], ckpt["model_args"], m, order)
    recipe = {k: v for k, v in ckpt["config"].items() if k not in TRACKING_KEYS}
    config = {**recipe, "n_layer": m, "max_iters": stacked_max_iters(ckpt, max_iters), "init_from": "stack",
              "inherit_from": str(source), "inherit_layers": ",".join(map(str, manifest[SELECTION]["blocks"])),
              "out_dir": str(out.parent)}
    # the clipped steps so far carry on: the stacked run's clip rate is that of all its steps, as a resumed run's
    save_checkpoint(out, model, config, step=ckpt["step"], manifest=manifest, tokenizer=ckpt.get("tokenizer"),
                    clipped_steps=ckpt.get("clipped_steps", 0))
    print(f"stacked ({order}) {ckpt['model_args']['n_layer']} -> {m} blocks at step {ckpt['step']}: "
          + manifest_summary(manifest, model.config), flush=True)
    return config


def write_stacked_from_args(args):
    """The --stack CLI."""
    config = write_stacked_checkpoint(args.reference, args.stack, args.out, args.stack_order, args.max_iters)
    print(f"wrote {args.out}; train it on to step {config['max_iters']}: "
          f"{resume_command(config, Path(args.out).parent)}")


def resume_command(config, out_dir):
    """The train.py command that trains a step-0 checkpoint with the settings it was made with: those of
    config that differ from train.py's defaults, but for the model's shape and origin (the checkpoint's)."""
    settings = changed_settings(config, skip={"out_dir", "data_seed", *MODEL_KEYS, *ORIGIN_KEYS})
    return shlex.join(["python", "train.py", *settings, "--init_from=resume", f"--out_dir={out_dir}"])


# ---- any Hugging Face decoder -> a Hugging Face checkpoint ------------------------------------


def decoder_layer_list(model):
    """The name and ModuleList of the decoder's layers: the one list of config.num_hidden_layers modules."""
    k = model.config.num_hidden_layers
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == k]
    if len(found) != 1:
        raise SystemExit(f"{type(model).__name__} does not keep its {k} layers in one list "
                         f"({len(found)} candidates): --format hf cannot cut it")
    return found[0]


def load_hf_causal_lm(spec):
    """transformers' model and tokenizer for a hub id or directory (tokenizer None if it has none)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise SystemExit("--format hf needs transformers: pip install transformers") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(spec)
    except (OSError, ValueError) as e:
        raise SystemExit(f"transformers cannot load '{spec}' as a causal LM (not a local directory, and the hub "
                         f"was unreachable or has no such model?): {str(e).strip().splitlines()[0]}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec)
    except (OSError, ValueError):
        tokenizer = None
    return model, tokenizer


def keep_hf_layers(model, layers):
    """Cut the model to `layers` (reference indices, in order), in place; returns the manifest
    (target tensor -> reference tensor). Layer indices are renumbered, as a fresh load would."""
    name, old = decoder_layer_list(model)
    kept = torch.nn.ModuleList([old[i] for i in layers])
    for j, layer in enumerate(kept):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):  # attention uses it for its KV cache (GPT-2: for its scale too)
                module.layer_idx = j
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent), attr, kept)
    layer_types = getattr(model.config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == len(old):
        model.config.layer_types = [layer_types[i] for i in layers]
    model.config.num_hidden_layers = len(layers)
    return {n: hf_reference_name(n, name, layers) for n in model.state_dict()}


def hf_reference_name(target, list_name, layers):
    """The reference tensor of a target tensor: layer j of the list came from layer layers[j]."""
    if not target.startswith(list_name + "."):
        return target
    j, rest = target[len(list_name) + 1:].split(".", 1)
    return f"{list_name}.{layers[int(j)]}.{rest}"


def write_inherited_hf(args):
    """The --format hf CLI: the first n layers (or --layers) of a HF decoder, written as a HF checkpoint."""
    out = Path(args.out)
    check_new_directory(out, "--out")
    model, tokenizer = load_hf_causal_lm(args.reference)
    _, ref_layers = decoder_layer_list(model)
    layers = parse_layers(args.layers, args.n_layer, len(ref_layers))
    check_moved_blocks(layers, getattr(model.config, "scale_attn_by_inverse_layer_idx", False),
                       args.allow_moved_blocks)
    manifest = keep_hf_layers(model, layers)

    def write(folder):
        model.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        write_json_atomically(folder / "inherit_manifest.json", {"reference": str(args.reference), "layers": layers,
                                                                 "tensors": manifest})
        write_text_atomically(folder / "README.md", model_card(
            out.name, type(model).__name__, len(layers), reference=str(args.reference),
            reference_layers=len(ref_layers), blocks=layers,
            inherited=["Every tensor of the kept layers, and every tensor outside the layer list (embeddings, final "
                       "norm, LM head), unchanged; inherit_manifest.json maps each tensor to the reference's."],
            trained=["Not trained after the cut (0 tokens): continue pre-training it."],
            commands=[shlex.join(["python", "inherit.py", *args.argv])], tags=(model.config.model_type,)))
    write_directory_atomically(out, write)
    print(f"kept layers {layers} of {len(ref_layers)} and every tensor outside them ({len(manifest)} tensors, "
          f"{sum(t != r for t, r in manifest.items())} renamed); manifest: {out / 'inherit_manifest.json'}; "
          f"model card: {out / 'README.md'}")
    print(f"wrote {out} ({type(model).__name__}, num_hidden_layers={len(layers)}"
          f"{'' if tokenizer else ', no tokenizer found'}); continue pre-training it with transformers or litgpt "
          "(docs/huggingface.md: Inherit from any Hugging Face decoder)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grow-until-baseline", action="store_true", help="run the paper's grow loop")
    p.add_argument("--reference", help="reference checkpoint (REF/ckpt.pt) for a single inheritance")
    p.add_argument("--n-layer", type=int, help="blocks of the target model")
    p.add_argument("--out", help="output: OUT/ckpt.pt for a single inheritance; a folder for the grow loop")
    # the flags the grow loop shares take its defaults (grow.Search), a single inheritance's too
    p.add_argument("--parts", default=Search.parts, choices=tuple(PRESETS), help="per-block parts to inherit")
    p.add_argument("--layers", default="", help="reference blocks to take, e.g. 0,1,2,5 (default: first n)")
    p.add_argument("--select", default=Search.select, choices=SELECT,
                   help="how the blocks are chosen without --layers: first n (the paper), spread (evenly, from "
                        "block 0), influence (largest 1 - cos(block input, output)), rank (least collapsed "
                        "attention, analyze.py's); scores on the reference's fixed validation windows")
    p.add_argument("--data-dir", default="", help="--select influence/rank: default the reference's data_dir")
    p.add_argument("--dataset", default="", help="--select influence/rank: default the reference's dataset")
    p.add_argument("--embeddings", default=Search.embeddings,
                   help="non-block tensors to inherit: wte (= the tied lm_head, the paper's default), wpe, ln_f")
    p.add_argument("--allow-moved-blocks", action="store_true",
                   help="--format hf with a HF GPT-2 under scale_attn_by_inverse_layer_idx: let --layers move a "
                        "block (it then divides its attention logits by its new index + 1; ckpt format keeps "
                        "each block's trained divisor)")
    p.add_argument("--seed", type=int, default=Search.seed, help="seed of the fresh init of what is not inherited")
    p.add_argument("--format", default="ckpt", choices=("ckpt", "hf"),
                   help="ckpt: OUT/ckpt.pt for train.py (GPT-2 references); hf: a HF checkpoint directory cut "
                        "from any HF decoder (whole layers, everything outside them kept)")
    p.add_argument("--data-seed", type=int, default=Search.data_seed,
                   help="batch order of the target's training (default: the reference's data seed + 1)")
    s = p.add_argument_group("growth by stacking")
    s.add_argument("--stack", type=int, default=0, metavar="M",
                   help="grow --reference (n blocks) to M > n blocks by repeating its blocks, everything copied")
    s.add_argument("--stack-order", default="gstack", choices=STACK_ORDERS,
                   help="gstack: blocks 0..n-1, 0..n-1, ... up to M (Du et al. 2024); gradual: the n blocks, then "
                        "copies of the top ones")
    s.add_argument("--max-iters", type=int, default=0,
                   help="--stack: the stacked run's total steps (default: where the source's lr schedule ends)")
    g = p.add_argument_group("grow until baseline")
    g.add_argument("--reference-run", default=Search.reference_run,
                   help="finished train.py out_dir of the K-layer reference (default: train the built-in reference "
                        "in OUT/reference)")
    g.add_argument("--start-n", type=int, default=Search.start_n, help="first n (default K/2)")
    g.add_argument("--step-n", type=int, default=Search.step_n, help="layers added per round")
    g.add_argument("--tolerance", type=float, default=Search.tolerance, help="stop when val loss <= baseline + this")
    g.add_argument("--scratch-control", action="store_true",
                   help="also train the last round's depth from scratch for T steps on the same batches (the "
                        "built-in default always does)")
    g.add_argument("--nproc-per-node", type=int, default=Launcher.nproc_per_node, help="GPUs per round via torchrun")
    g.add_argument("--launcher", default=Launcher.prefix, help="custom launch prefix, e.g. 'torchrun --nnodes=2 ...'")
    g.add_argument("--wandb", action="store_true", help="track every training run in Weights & Biases (train.py's "
                                                         "wandb_log; pip install wandb)")
    g.add_argument("--wandb-project", default=Launcher.wandb_project, help="its project")
    g.add_argument("--wandb-group", default="", help="the group that shows the search's runs together (default: "
                                                     "the --out folder)")
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # the command, for --format hf's model card
    if args.seed < 0 or args.data_seed < -1:  # train.py could not train what they would write
        p.error(f"--seed {args.seed} --data-seed {args.data_seed}: seeds are >= 0 (--data-seed -1: the default order)")
    if args.grow_until_baseline:
        args.out = args.out or Search.out
        if Path(args.out).exists() and not Path(args.out).is_dir():
            p.error(f"--out {args.out} is a file: the grow loop needs a folder for its rounds (default out/grow)")
        if not math.isfinite(args.tolerance):
            p.error(f"--tolerance {args.tolerance} is not a finite number")
        if args.wandb:
            require_wandb("--wandb", "leave out --wandb")
    elif args.wandb:
        p.error("--wandb tracks the grow loop's training runs: add --grow-until-baseline (a single inheritance "
                "trains nothing)")
    elif args.stack:
        if not (args.reference and args.out) or args.n_layer is not None or args.format != "ckpt":
            p.error("--stack M takes --reference (the trained model to grow) and --out OUT/ckpt.pt, and no "
                    "--n-layer or --format hf")
    elif not (args.reference and args.n_layer is not None and args.out):
        p.error("give --reference, --n-layer and --out, or --grow-until-baseline")
    elif args.format == "hf" and (args.parts != "full" or args.embeddings != p.get_default("embeddings")):
        p.error("--format hf keeps whole layers and every tensor outside them: drop --parts and --embeddings")
    elif args.format == "hf" and args.select != "first":
        p.error("--format hf takes its layers from --layers only: drop --select")
    return args


def grow_launcher(args):
    """How the grow loop's flags launch its runs: tracked in the --out folder's group unless --wandb-group names one."""
    return Launcher(prefix=args.launcher, nproc_per_node=args.nproc_per_node, wandb=args.wandb,
                    wandb_project=args.wandb_project, wandb_group=args.wandb_group or args.out)


def grow_search(args):
    """The search the grow loop's flags describe."""
    return Search(**{f.name: getattr(args, f.name) for f in fields(Search)})


def main(argv=None):
    args = parse_args(argv)
    if args.grow_until_baseline:
        with lock_run_dir(Path(args.out)):  # one grow loop per folder
            grow_until_baseline(grow_launcher(args), grow_search(args))
    elif args.stack:
        write_stacked_from_args(args)
    elif args.format == "hf":
        write_inherited_hf(args)
    else:
        write_inherited_checkpoint(args)


if __name__ == "__main__":
    main()
