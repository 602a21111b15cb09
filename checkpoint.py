"""Checkpoints of this project: written atomically, checksummed, read with one clear line when unusable.

A checkpoint holds tensors and plain types only (`torch.load(..., weights_only=True)` reads it):
the model's state dict (no `_orig_mod.`/`module.` prefixes), its constructor arguments, the run's
resolved config, the step, a CRC-32 of its tensors, and optionally optimizer state and an inheritance
manifest. train.py, inherit.py and the tools around them all read and write checkpoints through here,
and lock the run directories they write (one writer each).
"""

import fcntl
import os
import shutil
import socket
import zlib
from dataclasses import fields
from pathlib import Path

import torch

from model import GPT, GPTConfig
from prepare_openwebtext import temporary_path

MODEL_KEYS = tuple(f.name for f in fields(GPTConfig))


def named_tensors(obj, prefix=""):
    """(name, tensor) pairs of a nested checkpoint, in the order they are stored."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from named_tensors(value, f"{prefix}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from named_tensors(value, f"{prefix}/{i}")


def tensor_checksum(ckpt):
    """CRC-32 of every tensor's name, dtype, shape and bytes: catches corruption that still unpickles."""
    crc = 0
    for name, tensor in named_tensors(ckpt):
        tensor = tensor.detach().cpu().contiguous()
        crc = zlib.crc32(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode(), crc)
        crc = zlib.crc32(tensor.reshape(-1).view(torch.uint8).numpy(), crc)
    return f"{crc:08x}"


def non_finite_tensors(state_dict):
    return [name for name, t in state_dict.items() if t.is_floating_point() and not torch.isfinite(t).all()]


def save_checkpoint(path, model, config, step, optimizer=None, elapsed=0.0, manifest=None):
    """Write atomically: a crash or a full disk mid-save never replaces the last good checkpoint,
    and weights that are not finite are never written.

    A checkpoint without optimizer state (e.g. a fresh Inheritune initialisation) starts
    the optimizer afresh when resumed.
    """
    state = model.state_dict()
    bad = non_finite_tensors(state)
    if bad:
        raise SystemExit(f"not writing {path}: {len(bad)} weight tensors hold NaN or inf (first: {bad[0]}); "
                         "the last good checkpoint is kept")
    ckpt = {
        "model": state,
        "model_args": {k: getattr(model.config, k) for k in MODEL_KEYS},
        "config": config,
        "step": step,
        "elapsed_s": elapsed,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if manifest is not None:
        ckpt["inherit_manifest"] = manifest
    ckpt["checksum"] = tensor_checksum(ckpt)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:  # a file object: a full disk raises OSError, not torch's opaque RuntimeError
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        kept = "the last good checkpoint is kept" if Path(path).exists() else "no checkpoint was written"
        free = shutil.disk_usage(Path(path).parent).free / 2**20
        raise SystemExit(f"cannot write {path}: {e.strerror or e} ({free:.0f} MiB free there): disk full or "
                         f"not writable; {kept}; free space and resume with --init_from=resume") from None


def load_checkpoint(path, map_location="cpu", mmap=True):
    """Load a checkpoint of this project, ending with one clear line if it cannot be used."""
    path = Path(path)
    if path.is_dir():
        raise SystemExit(f"checkpoint {path} is a directory; give the checkpoint file, e.g. {path / 'ckpt.pt'}")
    if not path.is_file():
        raise SystemExit(f"checkpoint {path} not found; check the path (a run keeps it as out_dir/ckpt.pt)")
    try:
        # mmap: ranks share the file's pages instead of each reading a full copy into RAM
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise SystemExit(f"checkpoint {path} cannot be read ({type(e).__name__}): it is corrupt or "
                         "not a checkpoint of this project; restore it or point to another") from None
    if not isinstance(ckpt, dict) or not {"model", "model_args", "step"} <= ckpt.keys():
        raise SystemExit(f"checkpoint {path} lacks model/model_args/step: not a checkpoint of this project")
    # checkpoints written before checksums existed carry none
    if "checksum" in ckpt and tensor_checksum({k: v for k, v in ckpt.items() if k != "checksum"}) != ckpt["checksum"]:
        raise SystemExit(f"checkpoint {path} fails its checksum: its tensors were damaged on disk; "
                         "restore it from a copy or point to another")
    check_shapes(ckpt, path)
    return ckpt


def check_shapes(ckpt, path):
    """The weights must be those of the model that model_args describe."""
    try:
        with torch.device("meta"):
            expected = GPT(GPTConfig(**ckpt["model_args"])).state_dict()
    except (TypeError, ValueError, AssertionError) as e:
        raise SystemExit(f"checkpoint {path} has unusable model_args ({e}): not a checkpoint of this project") from None
    got = ckpt["model"]
    for name in expected.keys() | got.keys():
        if name not in got or name not in expected or got[name].shape != expected[name].shape:
            raise SystemExit(f"checkpoint {path}: tensor {name} does not match its model_args "
                             f"{ckpt['model_args']}; the file was edited or mixed from two runs")


def lock_run_dir(out_dir):
    """One writer per run directory: an OS lock on out_dir/run.lock, held until the returned file is
    closed or the process dies (however it dies: the OS releases it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    f = open(out_dir / "run.lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise SystemExit(f"{out_dir} is in use by another run (pid {holder}): wait for it to end or stop it, "
                         "or choose another out_dir") from None
    f.truncate(0)
    f.write(f"{os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    return f
