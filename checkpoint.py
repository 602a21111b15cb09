"""Checkpoints of this project, and Hugging Face GPT-2 checkpoints converted to and from them.

A checkpoint holds tensors and plain types only (`torch.load(..., weights_only=True)` reads it):
the model's state dict (no `_orig_mod.`/`module.` prefixes), its constructor arguments, the run's
resolved config, the step, a CRC-32 of everything it stores, and optionally optimizer state and an
inheritance manifest. train.py, inherit.py, export_hf.py and evaluate.py all read and write checkpoints through
here; train.py and the grow loop lock the run directories they write (one writer each).

A Hugging Face GPT-2 (hub id or local directory) is read into the same form by `load_model_source`;
`transformers` is not needed for that (safetensors is), only `huggingface_hub` to fetch a hub id.
"""

import errno
import fcntl
import json
import os
import shutil
import socket
import zlib
from dataclasses import asdict, fields
from pathlib import Path

import torch

from data import GPT2_TOKENIZER, temporary_path
from model import GPT, GPTConfig

MODEL_KEYS = tuple(f.name for f in fields(GPTConfig))
MODEL_DEFAULTS = asdict(GPTConfig())


def named_values(obj, prefix=""):
    """(name, value) pairs of the tensors and plain values of a nested checkpoint, in the order they are stored."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from named_values(value, f"{prefix}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from named_values(value, f"{prefix}/{i}")
    else:
        yield prefix, obj


def checksum(ckpt, tensors_only=False):
    """CRC-32 of every tensor's name, dtype, shape and bytes and of every other stored value (config, step,
    counters, optimizer hyperparameters): catches corruption that still unpickles. tensors_only: the
    checksum of checkpoints written before the values were covered."""
    crc = 0
    for name, value in named_values(ckpt):
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            crc = zlib.crc32(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode(), crc)
            crc = zlib.crc32(tensor.reshape(-1).view(torch.uint8).numpy(), crc)
        elif not tensors_only:
            crc = zlib.crc32(f"{name}={value!r};".encode(), crc)
    return f"{crc:08x}"


def checksum_fails(ckpt):
    """Whether the stored checksum disagrees with the contents: 'crc32' covers everything, the older
    'checksum' the tensors only; checkpoints written before checksums existed carry neither."""
    contents = {k: v for k, v in ckpt.items() if k not in ("crc32", "checksum")}
    if "crc32" in ckpt:
        return checksum(contents) != ckpt["crc32"]
    return "checksum" in ckpt and checksum(contents, tensors_only=True) != ckpt["checksum"]


def non_finite_tensors(state_dict):
    return [name for name, t in state_dict.items() if t.is_floating_point() and not torch.isfinite(t).all()]


def save_checkpoint(path, model, config, step, optimizer=None, elapsed=0.0, manifest=None, clipped_steps=0,
                    tokenizer=None, teacher=None):
    """Write atomically: a crash or a full disk mid-save never replaces the last good checkpoint,
    and weights that are not finite are never written.

    A checkpoint without optimizer state (e.g. a fresh Inheritune initialisation) starts
    the optimizer afresh when resumed. clipped_steps (steps whose gradient was clipped so far)
    lets a resumed run report the clip rate of the whole run. tokenizer (data.tokenizer_of) names the tokens
    the model was trained on: runs that resume, inherit, continue or distill from it must train on the same.
    teacher (distill.Teacher.identity) names a distilled run's teacher: its resumed run must distill from the same.
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
        "clipped_steps": clipped_steps,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if manifest is not None:
        ckpt["inherit_manifest"] = manifest
    if tokenizer is not None:
        ckpt["tokenizer"] = tokenizer
    if teacher is not None:
        ckpt["teacher"] = teacher
    ckpt["crc32"] = checksum(ckpt)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:  # a file object: a full disk raises OSError, not torch's opaque RuntimeError
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # a disk that fills mid-save: torch's zip writer raises RuntimeError
        tmp.unlink(missing_ok=True)
        stop = interruption(e)
        if stop is not None:  # a second Ctrl-C whose handler ran inside one of the writer's writes
            raise stop from None
        kept = "the last good checkpoint is kept" if Path(path).exists() else "no checkpoint was written"
        free = shutil.disk_usage(Path(path).parent).free / 2**20
        reason = write_failure(e, free < stored_bytes(ckpt) / 2**20)
        raise SystemExit(f"cannot write {path}: {reason} ({free:.0f} MiB free there): disk full or "
                         f"not writable; {kept}; free space and resume with --init_from=resume") from None
    except BaseException:  # e.g. a second Ctrl-C mid-save: no multi-GB temporary file left behind
        tmp.unlink(missing_ok=True)
        raise


def stored_bytes(ckpt):
    return sum(v.numel() * v.element_size() for _, v in named_values(ckpt) if isinstance(v, torch.Tensor))


def write_failure(error, short_of_space):
    """Why a save failed, in the system's words: torch's zip writer turns the OSError of a full disk into a
    RuntimeError about its internals, which names the cause only when the OSError is kept in its context or there
    is less space left than the checkpoint needs."""
    cause = error
    while cause is not None and not getattr(cause, "strerror", None):
        cause = cause.__context__
    if cause is not None:
        return cause.strerror
    return os.strerror(errno.ENOSPC) if short_of_space else str(error).strip().splitlines()[-1]


def interruption(error):
    """The SystemExit or KeyboardInterrupt that a signal handler raised inside torch's zip writer, which turns it
    into a RuntimeError (`error`), or None."""
    while error is not None and not isinstance(error, (SystemExit, KeyboardInterrupt)):
        error = error.__context__
    return error


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
    if checksum_fails(ckpt):
        raise SystemExit(f"checkpoint {path} fails its checksum: it was damaged on disk or edited; "
                         "restore it from a copy or point to another")
    if not {"crc32", "checksum"} & ckpt.keys():  # HF imports are read by load_hf_gpt2, never through here
        print(f"warning: checkpoint {path} carries no checksum (written before checkpoints had one, or edited): "
              "damage or edits to it cannot be detected; check where it came from", flush=True)
    # checkpoints written before a model option existed were made with its default
    ckpt["model_args"] = {**MODEL_DEFAULTS, **ckpt["model_args"]}
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
    except OSError as e:  # a filesystem without flock (some NFS or Lustre mounts)
        f.close()
        raise SystemExit(f"cannot lock {out_dir / 'run.lock'} ({e.strerror or e}): put out_dir on a filesystem "
                         "with file locks (a local disk, or NFS/Lustre mounted with flock)") from None
    try:  # unbuffered: on a full disk nothing is left for close() to fail on when the run ends
        f.truncate(0)
        os.write(f.fileno(), f"{os.getpid()} on {socket.gethostname()}\n".encode())
    except OSError:  # a full disk: the lock holds without the PID, which only names the holder to others
        pass
    remove_files_of_dead_writers(out_dir)
    return f


def remove_files_of_dead_writers(folder):
    """Temporary files (NAME.PID.tmp) that writers killed mid-write left behind (kill -9, power loss); a
    checkpoint's is as large as the checkpoint. The caller holds the folder's lock: no other run writes there."""
    for tmp in Path(folder).glob("*.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not process_exists(int(pid)):
            tmp.unlink(missing_ok=True)


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


# ---- Hugging Face GPT-2 ------------------------------------------------------------------------

# HF GPT-2 stores these as Conv1D weights (in_features x out_features): transposed both ways
HF_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
GPT2_VOCAB = 50257  # the GPT-2 tokenizer's vocabulary; model vocabularies may be padded beyond it
# GPT2Config's defaults for the keys read here (a hub config.json omits keys left at their default)
HF_GPT2_DEFAULTS = dict(vocab_size=GPT2_VOCAB, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                        activation_function="gelu_new", layer_norm_epsilon=1e-5, scale_attn_weights=True,
                        scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False,
                        add_cross_attention=False, tie_word_embeddings=True)
# HF options model.py computes differently: option -> the values it can take here
HF_GPT2_FIXED = dict(activation_function=("gelu_new", "gelu_pytorch_tanh"), scale_attn_weights=(True,),
                     reorder_and_upcast_attn=(False,), add_cross_attention=(False,), tie_word_embeddings=(True,))
HF_WEIGHT_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors"]


def is_checkpoint_file(spec):
    """A checkpoint of this project (a file, or a path ending in .pt), or a run directory of this
    project (load_checkpoint then names its ckpt.pt); anything else is a HF model."""
    return str(spec).endswith(".pt") or Path(spec).is_file() or (Path(spec) / "ckpt.pt").is_file()


def hf_folder(spec):
    """A local directory, or the hub id `spec` fetched into the Hugging Face cache (config and weights)."""
    if Path(spec).is_dir():
        return Path(spec)
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        raise SystemExit(f"'{spec}' is not a local directory, and fetching it from the hub needs huggingface_hub: "
                         "pip install huggingface_hub, or pass a directory with config.json and model.safetensors") from None
    try:
        return Path(snapshot_download(str(spec), allow_patterns=HF_WEIGHT_FILES))
    except Exception as e:  # offline, unknown id, gated repo: all end the same way
        raise SystemExit(f"'{spec}' is not a local directory and could not be fetched from the Hugging Face hub "
                         f"nor found in its cache {HF_HUB_CACHE} ({type(e).__name__}); download it where there is "
                         f"network (huggingface-cli download {spec} --local-dir DIR) and pass DIR") from None


def read_hf_weights(folder):
    """The state dict of a HF checkpoint folder: model.safetensors (one file or shards) or pytorch_model.bin."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return load_file(folder / "model.safetensors")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in load_file(folder / shard).items()}
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise SystemExit(f"{folder} holds no model.safetensors or pytorch_model.bin: not a Hugging Face checkpoint")


def gpt2_model_args(hf_config, where):
    """model.py's constructor arguments for a HF GPT-2 config.json; what model.py cannot compute is refused."""
    if hf_config.get("model_type") != "gpt2":
        raise SystemExit(f"{where} is a '{hf_config.get('model_type')}' model; only GPT-2 converts to model.py "
                         "(other decoders: inherit.py --format hf; to evaluate them, lm-evaluation-harness)")
    c = {**HF_GPT2_DEFAULTS, **hf_config}
    for key, allowed in HF_GPT2_FIXED.items():
        if c[key] not in allowed:
            raise SystemExit(f"{where} sets {key}={c[key]!r}, which model.py cannot compute (it needs "
                             f"{' or '.join(map(repr, allowed))}); this checkpoint cannot be imported")
    if c["n_inner"] not in (None, 4 * c["n_embd"]):
        raise SystemExit(f"{where} sets n_inner={c['n_inner']}; model.py's MLP is 4*n_embd={4 * c['n_embd']} wide")
    return dict(block_size=c["n_positions"], vocab_size=c["vocab_size"], n_layer=c["n_layer"], n_head=c["n_head"],
                n_embd=c["n_embd"], dropout=0.0, bias=c.get("bias", True),  # 'bias': written by export_hf.py
                scale_attn_by_inverse_layer_idx=c["scale_attn_by_inverse_layer_idx"],
                layer_norm_epsilon=c["layer_norm_epsilon"])


def from_hf_state_dict(hf_sd, bias=True):
    """A HF GPT-2 state dict in model.py's form: the same names (with the `transformer.` prefix that
    GPT2Model checkpoints lack), Conv1D weights transposed, attention mask buffers dropped, the
    vocabulary kept exactly as it is. bias=False drops the biases, which must then be zero."""
    sd = {}
    for k, v in hf_sd.items():
        k = k if k.startswith(("transformer.", "lm_head.")) else f"transformer.{k}"
        if k.endswith((".attn.bias", ".attn.masked_bias")):
            continue
        if not bias and k.endswith(".bias"):
            if v.any():
                raise SystemExit(f"the checkpoint says bias=False but {k} is not zero: it was edited; remove 'bias' "
                                 "from its config.json to import it with biases")
            continue
        sd[k] = (v.t() if k.endswith(HF_CONV1D) else v).contiguous()
    sd.setdefault("lm_head.weight", sd["transformer.wte.weight"])
    return sd


def load_hf_gpt2(spec):
    """A HF GPT-2 (hub id or directory) as a checkpoint of this project at step 0."""
    folder = hf_folder(spec)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise SystemExit(f"{folder} has no config.json: not a Hugging Face checkpoint")
    model_args = gpt2_model_args(json.loads(config_path.read_text()), spec)
    state = from_hf_state_dict(read_hf_weights(folder), model_args["bias"])
    ckpt = {"model": state, "model_args": model_args, "config": {}, "step": 0, "source": str(spec)}
    if model_args["vocab_size"] == GPT2_VOCAB:  # GPT-2's tokens: the hub's GPT-2s and every export_hf.py directory
        ckpt["tokenizer"] = GPT2_TOKENIZER
    check_shapes(ckpt, folder)
    return ckpt


def load_model_source(spec):
    """A checkpoint of this project, or a HF GPT-2 hub id or directory converted to one."""
    if not str(spec):
        raise SystemExit("no model given: name a checkpoint (RUN/ckpt.pt), a HF GPT-2 directory or a hub id")
    return load_checkpoint(spec) if is_checkpoint_file(spec) else load_hf_gpt2(spec)


def to_hf_gpt2(state, model_args):
    """A HF GPT2LMHeadModel config and state dict for model.py's, with the GPT-2 tokenizer's vocabulary.

    The rows past 50257 of a padded vocabulary are no token's, so they are dropped: HF's logits then
    equal ours over the real vocabulary, and no probability goes to rows no text can produce.
    bias=False is written as zero biases (HF GPT-2 always has them) and marked in config.json.
    """
    a = {**MODEL_DEFAULTS, **model_args}
    if a["attn_divisors"] and a["attn_divisors"] != GPTConfig(**{**a, "attn_divisors": []}).divisors():
        raise SystemExit(f"this model's blocks divide their attention logits by {a['attn_divisors']} (blocks kept "
                         "their reference's divisors when inherited out of place); a HF GPT-2 divides block i's by "
                         "i + 1 or by 1 and cannot express that: evaluate it with evaluate.py instead")
    if a["vocab_size"] < GPT2_VOCAB:
        raise SystemExit(f"vocab_size={a['vocab_size']} is below the GPT-2 tokenizer's {GPT2_VOCAB}: "
                         "a HF GPT-2 with that tokenizer cannot express this model")
    sd = {}
    for k, v in state.items():
        if k == "lm_head.weight":  # tied to wte: HF ties it on load
            continue
        if k == "transformer.wte.weight":
            v = v[:GPT2_VOCAB]
        sd[k] = (v.t() if k.endswith(HF_CONV1D) else v).contiguous()
        if not a["bias"] and k.endswith((".ln_1.weight", ".ln_2.weight", "ln_f.weight")):
            sd[k[:-len("weight")] + "bias"] = torch.zeros_like(v)
        if not a["bias"] and k.endswith(HF_CONV1D):
            sd[k[:-len("weight")] + "bias"] = v.new_zeros(v.size(0))  # v is (out, in) here
    config = {**HF_GPT2_DEFAULTS, "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
              "vocab_size": GPT2_VOCAB, "n_positions": a["block_size"], "n_ctx": a["block_size"],
              "n_embd": a["n_embd"], "n_layer": a["n_layer"], "n_head": a["n_head"],
              "layer_norm_epsilon": a["layer_norm_epsilon"],
              "scale_attn_by_inverse_layer_idx": a["scale_attn_by_inverse_layer_idx"],
              "resid_pdrop": a["dropout"], "embd_pdrop": a["dropout"], "attn_pdrop": a["dropout"],
              "bos_token_id": GPT2_VOCAB - 1, "eos_token_id": GPT2_VOCAB - 1, "bias": a["bias"]}
    return config, sd
