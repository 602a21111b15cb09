"""Prepared token files: reading and checking data_dir/<dataset>/{train,val}.bin and meta.json (written by
prepare_openwebtext.py), the dataset's tokenizer, and the windows and batches that training and evaluation read.

Also the atomic file writes every script of the project uses (meta.json, run files, checkpoints).
"""
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from configurator import ConfigError

DTYPE = np.uint16  # GPT-2's 50257 ids fit
SCAN_CHUNK = 1 << 26  # tokens per slice of the out-of-range scan: bounds its memory, not its speed
GPT2_TOKENIZER = "gpt2"  # meta.json's name for GPT-2's BPE (tokenizer.py); other datasets name their own file


# ---- files written whole or not at all ---------------------------------------------------------

def temporary_path(path):
    """A temporary name next to `path`, unique to this process: two writers never share one."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def write_atomically(path, write, mode="w"):
    """Replace `path` by what write(file) writes, whole or not at all: written to a temporary file, synced, then
    renamed (a kill or a full disk leaves the old file, and no temporary file once the error is raised)."""
    tmp = temporary_path(path)
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomically(path, text):
    write_atomically(path, lambda f: f.write(text))


def check_new_directory(out, what):
    """`out` (the `what` argument) must be a directory to create, or an empty one: nothing is overwritten."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"{what} {out} is a file: name a directory to create (nothing was overwritten)")
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not empty: choose another {what} (nothing was overwritten)")


def write_directory_atomically(out, write):
    """A new directory whole or not at all: write(folder) fills a temporary sibling, renamed to `out` once complete.
    A failure (a full disk) removes it and leaves `out` as it was, so the same command can be run again."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(out)
    try:
        tmp.mkdir()
        write(tmp)
        if out.exists():
            out.rmdir()  # the empty directory check_new_directory allowed
        tmp.rename(out)
    except OSError as e:
        raise SystemExit(f"cannot write {out} ({e.strerror or e}; {shutil.disk_usage(out.parent).free / 2**20:.0f} "
                         "MiB free there): nothing was written; free space and run the same command again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_figure_atomically(fig, path, dpi=150):
    """A matplotlib figure saved whole or not at all, in the format of its name's extension (.png, .pdf, ...)."""
    write_atomically(path, lambda f: fig.savefig(f, dpi=dpi, format=Path(path).suffix[1:]), "wb")


def write_json_atomically(path, obj):
    write_text_atomically(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def read_json_object(path):
    """A JSON object from a file, or None when it is missing, unreadable, not JSON or not an object (a file a kill
    or another program damaged): each caller says what that means for it."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# ---- meta.json and the dataset's tokenizer ------------------------------------------------------

def read_meta(data_dir, name):
    """data_dir/name/meta.json as a dict, or None for a dataset prepared without one."""
    path = Path(data_dir) / name / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except ValueError:
        raise SystemExit(f"{path} is not valid JSON: prepare the dataset again") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("tokens", {}), dict) or \
            type(meta.get("vocab_size", 1)) is not int or meta.get("vocab_size", 1) < 1:
        raise SystemExit(f"{path} is not a meta.json of prepare_openwebtext.py (an object with a 'tokens' object "
                         "and a positive integer 'vocab_size'): prepare the dataset again")
    check_tokenizer_file(meta, path)
    return meta


def check_tokenizer_file(meta, meta_path):
    """A dataset's own tokenizer file must be the one meta.json's sha256 names: that digest is the tokenizer's
    identity in every run and checkpoint trained on it (a small file: hashed at each read)."""
    name, digests = meta.get("tokenizer"), meta.get("sha256")
    if name == GPT2_TOKENIZER or not isinstance(digests, dict) or name not in digests:
        return
    path = meta_path.parent / name
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != digests[name]:
        raise SystemExit(f"{path} does not match its sha256 in {meta_path}: the tokenizer file or meta.json was "
                         "replaced or edited; prepare the dataset again")


def tokenizer_present(meta, folder):
    """meta.json's tokenizer is GPT-2's, or a tokenizer file of the dataset's own that is in its folder."""
    tokenizer = meta.get("tokenizer")
    return tokenizer == GPT2_TOKENIZER or (isinstance(tokenizer, str) and (Path(folder) / tokenizer).is_file())


def tokenizer_of(meta):
    """A dataset's tokenizer as runs record it: 'gpt2', or its own tokenizer file's name and meta.json's sha256
    of it (every own BPE is named tokenizer.json); None when there is no meta.json or it names no tokenizer."""
    name = (meta or {}).get("tokenizer")
    if not isinstance(name, str):
        return None
    digests = meta.get("sha256")
    digest = digests.get(name) if isinstance(digests, dict) and name != GPT2_TOKENIZER else None
    return f"{name} sha256:{digest}" if digest else name


def check_tokenizer(trained_on, data_dir, dataset, what):
    """The tokenizer of data_dir/dataset (None if unknown), refused if the model `what` was trained on another
    one's tokens: the same ids are other text. Unknown on either side (no meta.json; a run or checkpoint from
    before runs recorded their tokenizer) is not compared: the vocabulary size checks are all there is then."""
    used = tokenizer_of(read_meta(data_dir, dataset))
    if trained_on and used and trained_on != used:
        raise SystemExit(f"{what} was trained on tokens of tokenizer {trained_on}, but {Path(data_dir) / dataset} "
                         f"holds tokens of {used}: the same ids are other text; use data made with its tokenizer "
                         "or a model trained on this data")
    return used


def require_gpt2_tokens(trained_on, what, needs):
    """A model trained on another tokenizer's ids, refused where GPT-2's are assumed (`needs` says where); one that
    recorded no tokenizer passes (its vocabulary size is all that can be checked then)."""
    if trained_on and trained_on != GPT2_TOKENIZER:
        raise SystemExit(f"{what} was trained on tokens of tokenizer {trained_on}, not GPT-2's: {needs}")


# ---- token files, checked before training starts ------------------------------------------------

def prepare_command(name):
    """The command that creates data/<name>, for error messages."""
    if name == "builtin":
        return "python prepare_openwebtext.py"
    if name.startswith("builtin_bpe") and name[len("builtin_bpe"):].isdigit():
        return f"python prepare_openwebtext.py --bpe-vocab {name[len('builtin_bpe'):]}"
    if name == "openwebtext":
        return "python prepare_openwebtext.py --dataset openwebtext"
    return f"python prepare_openwebtext.py --text-files FILE... --name {name}"


def load_split(data_dir, name, split):
    """data_dir/name/split.bin as a read-only uint16 memmap."""
    path = Path(data_dir) / name / f"{split}.bin"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found: run `{prepare_command(name)}` first")
    return np.memmap(path, dtype=DTYPE, mode="r")


def largest_token_id(data):
    return max(int(data[i:i + SCAN_CHUNK].max()) for i in range(0, len(data), SCAN_CHUNK))


def check_against_meta(path, meta, data, split):
    """meta.json, written by prepare_openwebtext.py, must describe this file."""
    expected = {"dtype": data.dtype.name, "tokens": len(data)}
    found = {"dtype": meta.get("dtype"), "tokens": meta.get("tokens", {}).get(split)}
    for key, value in expected.items():
        if found[key] != value:
            raise SystemExit(f"{path} does not match {path.parent / 'meta.json'}: {key} is {value!r} in the file "
                             f"but {found[key]!r} in meta.json; the file was truncated, replaced or prepared "
                             "otherwise: prepare the dataset again")
    if not tokenizer_present(meta, path.parent):
        raise SystemExit(f"{path.parent / 'meta.json'} names tokenizer {meta.get('tokenizer')!r}, neither 'gpt2' nor "
                         f"a file in {path.parent}: it was prepared otherwise; prepare the dataset again")


def cached_largest_id(path, meta, data):
    """The largest token id in `path`, scanned once and cached in meta.json by the file's size, mtime, inode
    and ctime: `cp -p` or `rsync -t` keep size and mtime, but no tool can set ctime, and any write or
    replacement of the file changes it (a rescan then costs one pass over the file)."""
    stat = path.stat()
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino, "ctime_ns": stat.st_ctime_ns}
    scans = meta.get("scan") if isinstance(meta.get("scan"), dict) else {}  # a damaged cache is only rescanned
    cached = scans.get(path.name)
    if isinstance(cached, dict) and {k: cached.get(k) for k in key} == key and type(cached.get("max_id")) is int:
        return cached["max_id"]
    max_id = largest_token_id(data)
    if meta:
        meta["scan"] = {**scans, path.name: {**key, "max_id": max_id}}
        try:
            write_json_atomically(path.parent / "meta.json", meta)
        except OSError:  # a read-only dataset is scanned at every start instead
            pass
    return max_id


def resolve_vocab_size(cfg):
    """The model's vocabulary: vocab_size=0 takes the dataset's meta.json vocab_size, padded to a
    multiple of 64 for speed."""
    meta = read_meta(cfg.data_dir, cfg.dataset) or {}
    declared = meta.get("vocab_size")
    where = f"{cfg.data_dir}/{cfg.dataset}/meta.json"
    if cfg.vocab_size == 0:
        if declared is None:
            raise ConfigError(f"vocab_size=0 takes the vocabulary from {where}, which is missing or has no "
                              "vocab_size: prepare the dataset with prepare_openwebtext.py or set vocab_size")
        return -(-declared // 64) * 64
    return cfg.vocab_size  # load_tokens refuses one smaller than the dataset's, resumed runs too


def load_tokens(cfg, split, master=True):
    """A split's tokens, checked against its meta.json and the model's vocabulary before training starts.

    Only the master rank scans for out-of-range ids (and caches the result); its refusal stops every rank.
    """
    path = Path(cfg.data_dir) / cfg.dataset / f"{split}.bin"
    size = path.stat().st_size if path.is_file() else None
    if size is not None and (size == 0 or size % np.dtype(DTYPE).itemsize):
        raise SystemExit(f"{path} is {size} bytes, not a whole positive number of {np.dtype(DTYPE).name} "
                         "tokens: it is truncated or not a token file; prepare the dataset again")
    data = load_split(cfg.data_dir, cfg.dataset, split)
    # a validation window is block_size+1 tokens; the batch sampler draws start offsets below len - block_size - 1
    least = cfg.block_size + (2 if split == "train" else 1)
    if len(data) < least:
        raise SystemExit(f"{path} holds {len(data)} tokens, fewer than the {least} a {split} split needs at "
                         f"block_size={cfg.block_size}: use more data or a smaller block_size")
    meta_path = path.parent / "meta.json"
    meta = read_meta(cfg.data_dir, cfg.dataset) or {}
    if meta:
        check_against_meta(path, meta, data, split)
        if meta.get("vocab_size", 0) > cfg.vocab_size:
            raise SystemExit(f"{meta_path} says vocab_size={meta['vocab_size']} but the model has vocab_size="
                             f"{cfg.vocab_size}; set --vocab_size={meta['vocab_size']} or more")
    if not master:
        return data
    if not meta:
        print(f"warning: {meta_path} not found: {path} is checked for token ids < vocab_size only", flush=True)
    max_id = cached_largest_id(path, meta, data)
    if max_id >= cfg.vocab_size:
        raise SystemExit(f"{path} holds token id {max_id}, not below the model's vocab_size={cfg.vocab_size}: "
                         "it was tokenized for another vocabulary; prepare it again or raise --vocab_size")
    return data


# ---- windows and batches ----------------------------------------------------------------------

def to_device(x, device):
    if device.startswith("cuda"):
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def windows(data, starts, block_size, device):
    """Inputs and next-token targets for the windows of block_size+1 tokens at `starts`."""
    window = torch.from_numpy(np.stack([data[o:o + block_size + 1] for o in starts]).astype(np.int64))
    return to_device(window[:, :-1], device), to_device(window[:, 1:], device)


def train_batches(data, cfg, step, accum, d):
    """The micro-batches this rank trains on at `step`.

    Offsets depend only on (data_seed, step), and each rank takes its own slice of the global
    batch, so a resumed run sees the same data and any (world_size, accumulation) split of
    one global batch trains on the same sequences.
    """
    rng = np.random.default_rng([cfg.data_seed, step])
    offsets = rng.integers(0, len(data) - cfg.block_size - 1, size=accum * d.world_size * cfg.batch_size)
    mine = offsets.reshape(d.world_size, accum, cfg.batch_size)[d.rank]
    for micro in mine:
        yield windows(data, micro, cfg.block_size, d.device)


def val_windows(data, cfg):
    """Start offsets of the fixed, non-overlapping validation windows."""
    n_tokens = len(data) - 1 if cfg.eval_tokens == 0 else min(cfg.eval_tokens, len(data) - 1)
    return np.arange(0, n_tokens - cfg.block_size + 1, cfg.block_size)
