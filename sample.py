"""Sample text from a trained, inherited or Hugging Face GPT-2, as nanoGPT's sample.py.

    python sample.py --out_dir=out/tiny --start="In the beginning" --num_samples=3 --max_new_tokens=100
    python sample.py --init_from=out/run/ckpt.pt --start=FILE:prompt.txt --top_k=1     # greedy
    python sample.py --init_from=hf/gpt2m_inherit16    # an export_hf.py directory (or a hub id such as gpt2)

The text is encoded and decoded with the tokenizer the model was trained on: GPT-2's, or its dataset's own
BPE (data_dir/dataset/tokenizer.json, checked against the sha256 the checkpoint recorded). A KV cache makes
each new token cost one position instead of the whole context (--cache=False runs the whole context each
step, for comparison); a context past block_size keeps its last block_size tokens.
"""

import sys
import time
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import torch

from checkpoint import GPT2_VOCAB, load_checkpoint, load_model_source
from configurator import ConfigError, load_config
from data import GPT2_TOKENIZER, read_meta, tokenizer_of
from model import GPT, GPTConfig
from prepare_openwebtext import sha256_file
from tokenizer import gpt2_encoding
from train import autocast_context, resolve_device

DEFAULTS = dict(
    init_from="resume",  # 'resume' (out_dir/ckpt.pt) | a checkpoint | a HF GPT-2 directory (export_hf.py's) or hub id
    out_dir="out",
    start="\n",  # the prompt, or FILE:path to read it from a file
    num_samples=10,
    max_new_tokens=500,
    temperature=0.8,  # 1.0 = the model's distribution; lower is more predictable
    top_k=200,  # sample among the k most likely tokens only; 1 = greedy, 0 = all
    seed=1337,
    device="auto",  # 'auto' | 'cpu' | 'cuda' | 'cuda:N'
    dtype="auto",  # 'auto' (bfloat16 where supported, else float32) | 'bfloat16' | 'float32'
    compile=False,  # torch.compile the model (pays off for long samples on a GPU)
    cache=True,  # the KV cache; False recomputes the whole context for every token
    tokenizer="",  # '' = the model's own; else the path of its dataset's tokenizer.json, if that moved
)
CHOICES = dict(dtype=("auto", "bfloat16", "float32"))

Codec = namedtuple("Codec", "encode decode n_tokens")


def gpt2_codec():
    enc = gpt2_encoding()
    return Codec(lambda text: enc.encode(text, allowed_special="all"), enc.decode, enc.n_vocab)


def bpe_codec(path, recorded=""):
    """A dataset's own tokenizer file (prepare_openwebtext.py --bpe-vocab), refused unless it is the one recorded
    ('': the model recorded none, so there is nothing to check it against)."""
    from tokenizers import Tokenizer

    if not Path(path).is_file():
        raise SystemExit(f"the model's tokenizer {recorded} is not at {path}: prepare its dataset again "
                         "(python prepare_openwebtext.py --bpe-vocab N) or pass --tokenizer=PATH/tokenizer.json")
    digest = recorded.partition(" sha256:")[2]
    if digest and sha256_file(path) != digest:
        raise SystemExit(f"{path} is not the tokenizer the model was trained with ({recorded}): its ids would be "
                         "other text; pass the dataset's own tokenizer.json with --tokenizer=PATH")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises its own exception types for unreadable files
        raise SystemExit(f"{path} cannot be read as a tokenizer ({type(e).__name__}): give a tokenizer.json") from None
    return Codec(lambda text: tok.encode(text, add_special_tokens=False).ids,
                 lambda ids: tok.decode(ids, skip_special_tokens=False), tok.get_vocab_size())


def model_codec(source, override=""):
    """The tokenizer the model was trained on, or the file `override` names for it. A checkpoint recording none
    (written before runs recorded it) is taken to be GPT-2's when its dataset's meta.json says nothing else and
    its vocabulary holds GPT-2's tokens."""
    config = source.get("config") or {}  # the run's: where its dataset, and so its tokenizer file, is
    data_dir, dataset = config.get("data_dir", "data"), config.get("dataset", "")
    recorded = source.get("tokenizer") or (tokenizer_of(read_meta(data_dir, dataset)) if dataset else None)
    if override:
        if recorded == GPT2_TOKENIZER:
            raise SystemExit("the model was trained on GPT-2's tokens: drop --tokenizer, which names a dataset's "
                             "own tokenizer.json")
        return bpe_codec(override, recorded or "")
    if recorded is None and source["model_args"]["vocab_size"] >= GPT2_VOCAB:
        recorded = GPT2_TOKENIZER
    if recorded is None:
        raise SystemExit(f"the model records no tokenizer and its vocabulary ({source['model_args']['vocab_size']} "
                         "ids) is not GPT-2's: unknown tokenizer; pass its dataset's --tokenizer=PATH/tokenizer.json")
    if recorded == GPT2_TOKENIZER:
        return gpt2_codec()
    return bpe_codec(Path(data_dir) / dataset / recorded.partition(" sha256:")[0], recorded)


def read_prompt(start):
    if start.startswith("FILE:"):
        try:
            start = Path(start[len("FILE:"):]).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SystemExit(f"cannot read the prompt file {start[len('FILE:'):]} "
                             f"({getattr(e, 'strerror', None) or e}): give a readable text file") from None
    if not start:
        raise SystemExit("the prompt is empty: give --start=TEXT (nanoGPT's default is a newline) or FILE:path")
    return start


def load_model(cfg):
    source = load_checkpoint(Path(cfg.out_dir) / "ckpt.pt") if cfg.init_from == "resume" else \
        load_model_source(cfg.init_from)
    model = GPT(GPTConfig(**{**source["model_args"], "dropout": 0.0}))
    model.load_state_dict(source["model"])
    return model.eval(), source


def check(cfg):
    if cfg.temperature <= 0:
        raise ConfigError(f"temperature={cfg.temperature} must be above 0; for the most likely tokens use --top_k=1")
    for key in ("num_samples", "max_new_tokens", "top_k"):
        if getattr(cfg, key) < (0 if key == "top_k" else 1):
            raise ConfigError(f"{key}={getattr(cfg, key)} must be at least {0 if key == 'top_k' else 1}")


def main(argv=None):
    """Prints each sample and its speed; returns the samples' new token ids."""
    cfg = SimpleNamespace(**load_config(DEFAULTS, sys.argv[1:] if argv is None else argv, CHOICES))
    check(cfg)
    device = resolve_device(cfg.device)
    prompt = read_prompt(cfg.start)
    model, source = load_model(cfg)
    codec = model_codec(source, cfg.tokenizer)
    if codec.n_tokens > model.config.vocab_size:
        raise SystemExit(f"the tokenizer has {codec.n_tokens} tokens but the model only {model.config.vocab_size}: "
                         "it is not the model's; pass its dataset's --tokenizer=PATH/tokenizer.json")
    ids = codec.encode(prompt)
    if not ids:
        raise SystemExit(f"the prompt {prompt!r} encodes to no tokens: give some text")
    model.to(device)
    if cfg.compile:  # dynamic: the context and the cache grow by one position per step
        model.compile(dynamic=True)
    x = torch.tensor([ids], dtype=torch.long, device=device)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    samples = []
    with autocast_context(device, cfg.dtype):
        for _ in range(cfg.num_samples):
            started = time.perf_counter()
            y = model.generate(x, cfg.max_new_tokens, cfg.temperature, cfg.top_k, n_tokens=codec.n_tokens,
                               use_cache=cfg.cache, generator=generator)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            new = y[0, len(ids):].tolist()
            samples.append(new)
            print(codec.decode(ids + new))
            print("---------------")
            print(f"{len(new)} tokens in {seconds:.2f} s: {len(new) / seconds:.1f} tokens/s "
                  f"(KV cache {'on' if cfg.cache else 'off'})", file=sys.stderr, flush=True)
    return samples


if __name__ == "__main__":
    main()
