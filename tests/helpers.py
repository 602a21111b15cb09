"""What several test files use: a run directory's files read back, one-line exits, writes that fail on cue, a small
tmpfs, edited checkpoints, the environment of a child process, and the tiny synthetic datasets (conftest.py's
synth_data_dir, and the variants a test writes for itself)."""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from checkpoint import checksum, save_checkpoint
from model import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]
SYNTH_VOCAB = 256  # the synthetic datasets' ids: a small vocabulary keeps each tiny run well under a second
SYNTH_TOKENS = {"train": 16384, "val": 2048}
PADDED_VOCAB = 50304  # GPT-2's 50,257 ids padded to a multiple of 64, as train.py's default vocab_size


def read_json(path):
    return json.loads(Path(path).read_text())


def read_log(out_dir):
    return [json.loads(line) for line in (Path(out_dir) / "log.jsonl").read_text().splitlines()]


def load_ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(folder):
    """Each file of `folder` by name: its sha256."""
    return {p.name: digest(p) for p in Path(folder).iterdir()}


def subprocess_env():
    """The environment of a child run: single-process (whatever torchrun set here), one thread."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1"}


def one_line_exit(fn, *args, **kwargs):
    """fn(*args, **kwargs) must stop with a SystemExit whose message is one line: no traceback, no bare code."""
    with pytest.raises(SystemExit) as excinfo:
        fn(*args, **kwargs)
    message = str(excinfo.value.code)
    assert message and not message.isdigit() and "\n" not in message, message
    return message


class HookedFile:
    """A file whose every write() first calls hook(data): how a test makes a write fail, or a signal land inside
    one, as the system would."""

    def __init__(self, file, hook):
        self.file, self.hook = file, hook

    def write(self, data):
        self.hook(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def run_on_small_tmpfs(size, script, mount_point, *args, **kwargs):
    """The shell `script` run with a tmpfs of `size` mounted at mount_point ($1; `args` are $2...), in a user and mount
    namespace of its own: a real file system that fills up, without root. kwargs go to subprocess.run."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs "$1" || exit 1\n{script}', "sh",
                           mount_point, *args], **kwargs)


def mounts_small_tmpfs():
    """Whether this machine lets a process mount a tmpfs of its own (unshare, user namespaces)."""
    return bool(shutil.which("unshare")) and run_on_small_tmpfs("4k", "true", "/tmp", capture_output=True).returncode == 0


needs_small_tmpfs = pytest.mark.skipif(not mounts_small_tmpfs(), reason="needs unshare and user namespaces to mount "
                                                                        "a small tmpfs")


def save_edited_checkpoint(ckpt, path):
    """A checkpoint a test edited (e.g. into an older format), with its checksum made to match the edit."""
    ckpt["crc32"] = checksum({k: v for k, v in ckpt.items() if k not in ("crc32", "checksum")})
    torch.save(ckpt, path)


def randomize(model, std=0.2):
    """Large random weights and biases: GPT-2's own init hides a missing transpose or a wrong scale."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model


def our_checkpoint(tmp_path, vocab_size=PADDED_VOCAB, **overrides):
    """tmp_path/run/ckpt.pt of a tiny randomized model of this project (a padded vocabulary by default), and the
    model."""
    config = GPTConfig(**{**dict(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=vocab_size, bias=False,
                                 scale_attn_by_inverse_layer_idx=True, layer_norm_epsilon=1e-3), **overrides})
    model = randomize(GPT(config)).eval()
    save_checkpoint(tmp_path / "run" / "ckpt.pt", model, {}, step=7)
    return tmp_path / "run" / "ckpt.pt", model


def random_ids():
    """Uniform random ids below SYNTH_VOCAB per split: a run's mechanics need no text."""
    rng = np.random.default_rng(0)
    return {split: rng.integers(0, SYNTH_VOCAB, size=n, dtype=np.uint16) for split, n in SYNTH_TOKENS.items()}


def random_walk_ids():
    """A random walk with steps 1..3 mod SYNTH_VOCAB per split: a model learns it, so its loss falls."""
    rng = np.random.default_rng(0)
    return {split: (np.cumsum(rng.integers(1, 4, size=n)) % SYNTH_VOCAB).astype(np.uint16)
            for split, n in SYNTH_TOKENS.items()}


def write_dataset(data_dir, name, ids, meta=True):
    """data_dir/name/{train,val}.bin of `ids` (per split) and, unless meta=False, prepare_openwebtext.py's meta.json."""
    folder = Path(data_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, split_ids in ids.items():
        split_ids.tofile(folder / f"{split}.bin")
    if meta:
        tokens = {split: len(split_ids) for split, split_ids in ids.items()}
        (folder / "meta.json").write_text(json.dumps(
            {"tokens": tokens, "dtype": "uint16", "vocab_size": SYNTH_VOCAB, "tokenizer": "gpt2"}))
    return Path(data_dir)
