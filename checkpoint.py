"""Checkpoints of this project: written atomically, read with one clear line when unusable.

A checkpoint holds tensors and plain types only (`torch.load(..., weights_only=True)` reads it):
the model's state dict (no `_orig_mod.`/`module.` prefixes), its constructor arguments, the run's
resolved config, the step, and optionally optimizer state and an inheritance manifest.
train.py, inherit.py and the tools around them all read and write checkpoints through here.
"""

import os
from dataclasses import fields
from pathlib import Path

import torch

from model import GPTConfig

MODEL_KEYS = tuple(f.name for f in fields(GPTConfig))


def save_checkpoint(path, model, config, step, optimizer=None, elapsed=0.0, manifest=None, clipped_steps=0):
    """Write atomically: a crash mid-save never replaces the last good checkpoint.

    A checkpoint without optimizer state (e.g. a fresh Inheritune initialisation) starts
    the optimizer afresh when resumed. clipped_steps (steps whose gradient was clipped so far)
    lets a resumed run report the clip rate of the whole run.
    """
    ckpt = {
        "model": model.state_dict(),
        "model_args": {k: getattr(model.config, k) for k in MODEL_KEYS},
        "config": config,
        "step": step,
        "elapsed_s": elapsed,
        "clipped_steps": clipped_steps,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if manifest is not None:
        ckpt["inherit_manifest"] = manifest
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint of this project, ending with one clear line if it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"checkpoint {path} not found; check the path (a run keeps it as out_dir/ckpt.pt)")
    try:
        # mmap: ranks share the file's pages instead of each reading a full copy into RAM
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise SystemExit(f"checkpoint {path} cannot be read ({type(e).__name__}): it is corrupt or "
                         "not a checkpoint of this project; restore it or point to another") from None
    if not isinstance(ckpt, dict) or not {"model", "model_args", "step"} <= ckpt.keys():
        raise SystemExit(f"checkpoint {path} lacks model/model_args/step: not a checkpoint of this project")
    return ckpt
