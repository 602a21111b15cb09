"""Runs that survive: NaN/inf, two writers, signals, bad data, a full disk, changed shapes, small mistakes.

Each test asserts the exit, its one-line message, and that nothing good was overwritten. Tiny runs on a
synthetic dataset of random ids, as in test_train.py.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import checkpoint
import data
import grow
import guards
import inherit
import run_records
import settings
import train
from model import GPT, GPTConfig
from helpers import (ROOT, SYNTH_VOCAB, HookedFile, digests, needs_small_tmpfs, one_line_exit, random_ids, read_log,
                     run_on_small_tmpfs, subprocess_env, write_dataset)

RUN = dict(dataset="synth", vocab_size=SYNTH_VOCAB, n_layer=2, n_head=2, n_embd=32, block_size=32, device="cpu",
           dtype="float32", batch_size=4, tokens_per_step=128, max_iters=4, learning_rate=1e-2, min_lr=1e-3,
           warmup_iters=2, log_interval=1, eval_interval=2, eval_tokens=160)
MODEL_KEYS = ("vocab_size", "n_layer", "n_head", "n_embd", "block_size")

pytestmark = pytest.mark.usefixtures("single_process", "one_thread")


def argv(out_dir, data_dir, **overrides):
    return [f"--{k}={v}" for k, v in {**RUN, "out_dir": out_dir, "data_dir": data_dir, **overrides}.items()]



@pytest.fixture(scope="module")
def finished(synth_data_dir, tmp_path_factory):
    """A finished 4-step run, shared read-only: copy it before changing it."""
    out_dir = tmp_path_factory.mktemp("finished") / "run"
    train.main(argv(out_dir, synth_data_dir))
    return out_dir


def copy_of(run_dir, tmp_path):
    shutil.copytree(run_dir, tmp_path / "run")
    return tmp_path / "run"


def wait_for(condition, what, proc=None, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, f"the process ended before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---- 1. NaN and inf ------------------------------------------------------------------------

def test_non_finite_loss_stops_at_its_step_and_keeps_the_last_good_checkpoint(synth_data_dir, tmp_path):
    """learning_rate=1e3 blows up: the gradient norm is inf at step 3 (seen in the log), after the
    step-2 checkpoint; the run stops there instead of replacing it with NaN weights."""
    out_dir = tmp_path / "run"
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, learning_rate=1e3, warmup_iters=0,
                                             max_iters=10))
    assert "non-finite training loss or gradient norm at step 3" in message and "(step 2) is kept" in message
    ckpt = torch.load(out_dir / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == 2
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    assert not (out_dir / "result.json").exists()
    assert [r["step"] for r in read_log(out_dir)][-1] == 3


def test_a_checkpoint_is_never_written_from_non_finite_weights(finished, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    before = digests(out_dir)
    model = GPT(GPTConfig(vocab_size=SYNTH_VOCAB, n_layer=2, n_head=2, n_embd=32, block_size=32))
    with torch.no_grad():
        model.transformer.h[1].mlp.c_fc.weight[0, 0] = float("inf")
    message = one_line_exit(checkpoint.save_checkpoint, out_dir / "ckpt.pt", model, {}, 5)
    assert "transformer.h.1.mlp.c_fc.weight" in message and "kept" in message
    assert digests(out_dir) == before


def test_a_checkpoint_damaged_inside_its_tensors_fails_its_checksum(finished, synth_data_dir, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    path = out_dir / "ckpt.pt"
    raw = bytearray(path.read_bytes())
    wte = torch.load(path, weights_only=True)["model"]["transformer.wte.weight"]
    at = raw.find(wte.numpy().tobytes()[:256])  # the embedding's bytes, stored as they are in the file
    assert at > 0
    raw[at + 64:at + 64 + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(raw))
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert str(path) in message and "checksum" in message


def damage_beta2(ckpt):
    ckpt["optimizer"]["param_groups"][0]["betas"] = (0.9, 2.8e-39)


def damage_step(ckpt):
    ckpt["step"] += 1


def damage_config(ckpt):
    ckpt["config"]["weight_decay"] = 0.25


def damage_counter(ckpt):
    ckpt["clipped_steps"] += 3


@pytest.mark.parametrize("damage", [damage_beta2, damage_step, damage_config, damage_counter])
def test_a_checkpoint_damaged_outside_its_tensors_fails_its_checksum(finished, synth_data_dir, tmp_path, damage):
    """A flipped byte in a pickled number still unpickles: the checksum covers every stored value too."""
    out_dir = copy_of(finished, tmp_path)
    path = out_dir / "ckpt.pt"
    ckpt = torch.load(path, weights_only=True)
    damage(ckpt)
    torch.save(ckpt, path)
    before = digests(out_dir)
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert str(path) in message and "checksum" in message and digests(out_dir) == before


def test_a_checkpoint_with_the_older_tensor_checksum_still_loads(finished, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    ckpt = torch.load(out_dir / "ckpt.pt", weights_only=True)
    del ckpt["crc32"]
    ckpt["checksum"] = checkpoint.checksum(ckpt, tensors_only=True)
    torch.save(ckpt, out_dir / "ckpt.pt")
    assert checkpoint.load_checkpoint(out_dir / "ckpt.pt")["step"] == 4
    ckpt["model"]["transformer.wte.weight"][0, 0] += 1.0
    torch.save(ckpt, out_dir / "ckpt.pt")
    assert "checksum" in one_line_exit(checkpoint.load_checkpoint, out_dir / "ckpt.pt")


def test_a_checkpoint_without_any_checksum_loads_with_a_one_line_warning(finished, tmp_path, capsys):
    """Checkpoints from before checksums existed still load, but never silently: nothing can tell them from edits."""
    out_dir = copy_of(finished, tmp_path)
    checkpoint.load_checkpoint(out_dir / "ckpt.pt")
    assert "warning" not in capsys.readouterr().out
    ckpt = torch.load(out_dir / "ckpt.pt", weights_only=True)
    del ckpt["crc32"]
    torch.save(ckpt, out_dir / "ckpt.pt")
    assert checkpoint.load_checkpoint(out_dir / "ckpt.pt")["step"] == 4
    warning = capsys.readouterr().out
    assert warning.startswith(f"warning: checkpoint {out_dir / 'ckpt.pt'} carries no checksum") and \
        warning.count("\n") == 1, warning


def test_non_finite_config_values_are_refused(synth_data_dir, tmp_path):
    for value in ("1e999", "-1e999"):
        message = one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, learning_rate=value))
        assert "learning_rate" in message and "finite" in message
    config = tmp_path / "nan_lr.py"
    config.write_text("learning_rate = float('nan')\n")
    message = one_line_exit(train.main, [str(config)])
    assert "learning_rate" in message and str(config) in message
    assert not (tmp_path / "run").exists()


# ---- 2. one writer per run directory --------------------------------------------------------

@pytest.mark.slow
def test_second_run_on_a_directory_is_refused_and_sigterm_saves_the_first(synth_data_dir, tmp_path):
    """A real train.py process holds the directory; a second run is refused naming its PID. Then a real
    SIGTERM: the first run saves at the step it reached, says how to resume, and exits non-zero."""
    out_dir = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "train.py"),
           *argv(out_dir, synth_data_dir, max_iters=100000, eval_interval=100000, log_interval=1)]
    with open(tmp_path / "stdout", "w") as stdout:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(), stdout=stdout, stderr=subprocess.PIPE,
                                text=True)
    try:
        wait_for(lambda: (out_dir / "log.jsonl").is_file() and len(read_log(out_dir)) >= 3, "training", proc)
        message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume"))
        assert f"pid {proc.pid} on " in message and "in use" in message
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode not in (0, -signal.SIGTERM), err
    assert err.strip().count("\n") == 0 and "--init_from=resume" in err, err
    step = torch.load(out_dir / "ckpt.pt", weights_only=True)["step"]
    assert step >= 3 and f"at step {step}" in err
    assert read_log(out_dir)[-1]["step"] == step


@pytest.mark.parametrize("name", ["ckpt.pt", "result.json"])
def test_a_run_that_finished_while_this_one_started_is_not_overwritten(finished, synth_data_dir, tmp_path, monkeypatch,
                                                                       name):
    """Another writer finishes in out_dir between this run's first look and its lock: it looks again once locked."""
    out_dir = tmp_path / "run"
    real_lock = train.lock_run_dir

    def lock_after_another_run_finished(folder):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(finished / name, folder / name)
        return real_lock(folder)
    monkeypatch.setattr(train, "lock_run_dir", lock_after_another_run_finished)
    before = hashlib.sha256((finished / name).read_bytes()).hexdigest()
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir))
    assert f"{out_dir / name} already exists" in message and "nothing was overwritten" in message
    assert hashlib.sha256((out_dir / name).read_bytes()).hexdigest() == before
    assert not (out_dir / "log.jsonl").exists()


def test_temporary_files_are_unique_to_their_writer(tmp_path):
    assert checkpoint.temporary_path(tmp_path / "ckpt.pt") == tmp_path / f"ckpt.pt.{os.getpid()}.tmp"


# ---- 3. preemption --------------------------------------------------------------------------

def signal_at(monkeypatch, sig, call):
    """Send `sig` to this process during the `call`-th training step, as a scheduler would."""
    real, calls = train.train_step, []

    def signalling_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), sig)
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_step", signalling_step)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_run_saves_and_the_resumed_run_ends_as_an_uninterrupted_one(synth_data_dir, tmp_path, monkeypatch,
                                                                              sig):
    schedule = dict(max_iters=8, eval_interval=4, log_interval=2, lr_decay_iters=8, dropout=0.1)
    full_val = train.main(argv(tmp_path / "full", synth_data_dir, **schedule))
    out_dir = tmp_path / "run"
    handler_before = signal.getsignal(sig)
    signal_at(monkeypatch, sig, call=5)  # during the step from 4 to 5: not an eval or log step
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, **schedule))
    assert f"stopped by {sig.name} at step 5" in message and "--init_from=resume" in message
    assert torch.load(out_dir / "ckpt.pt", weights_only=True)["step"] == 5
    assert signal.getsignal(sig) == handler_before  # the run gives the handlers back
    monkeypatch.undo()
    assert train.main(argv(out_dir, synth_data_dir, init_from="resume", **schedule)) == full_val
    steps = [r["step"] for r in read_log(out_dir)]
    assert steps == sorted(set(steps)) == [r["step"] for r in read_log(tmp_path / "full")]


def ctrl_c_at_write(n):
    """A write hook: the n-th write gets a Ctrl-C, as a write() system call does when the signal lands in it; the
    handler then runs inside torch's zip writer, which turns what it raises into a RuntimeError."""
    def write(data):
        nonlocal n
        n -= 1
        if n == 0:
            os.kill(os.getpid(), signal.SIGINT)
    return write


def test_a_second_ctrl_c_during_a_save_stops_at_once_and_keeps_the_last_checkpoint(synth_data_dir, tmp_path,
                                                                                   monkeypatch):
    """The first Ctrl-C (step 2 -> 3) asks for a save at step 3; the second lands inside that save's writes."""
    saves = []

    def open_checkpoint(path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        if str(path).endswith(".tmp"):
            saves.append(path)
        return HookedFile(f, ctrl_c_at_write(3)) if len(saves) == 3 and str(path).endswith(".tmp") else f  # steps 0, 2 go through

    signal_at(monkeypatch, signal.SIGINT, call=3)
    monkeypatch.setattr(checkpoint, "open", open_checkpoint, raising=False)
    message = one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, max_iters=8, eval_interval=2))
    assert message.startswith("interrupted twice: stopped without saving") and "--init_from=resume" in message
    assert checkpoint.load_checkpoint(tmp_path / "run" / "ckpt.pt")["step"] == 2
    assert not list((tmp_path / "run").glob("*.tmp"))
    monkeypatch.undo()
    assert train.main(argv(tmp_path / "run", synth_data_dir, init_from="resume", max_iters=8, eval_interval=2)) > 0


def test_a_second_ctrl_c_while_the_first_is_being_announced_stops(monkeypatch, capsys):
    """Signals may land inside the handler's own print: the second must not be taken for a first one."""
    signals, prints = guards.StopSignals(master=True), []

    def print_and_get_ctrl_c(*args, **kwargs):
        prints.append(args)
        if len(prints) == 1:
            signals.handle(signal.SIGINT, None)

    monkeypatch.setattr(guards, "print", print_and_get_ctrl_c, raising=False)
    message = one_line_exit(signals.handle, signal.SIGINT, None)
    assert message.startswith("interrupted twice")


def test_ckpt_interval_saves_between_evaluations(synth_data_dir, tmp_path, monkeypatch):
    saved = []
    real = train.save_checkpoint
    monkeypatch.setattr(train, "save_checkpoint", lambda path, model, config, step, *a, **k: (
        saved.append(step), real(path, model, config, step, *a, **k)))
    train.main(argv(tmp_path / "run", synth_data_dir, max_iters=6, eval_interval=6, ckpt_interval=2))
    assert saved == [0, 2, 4, 6]
    assert [r["step"] for r in read_log(tmp_path / "run") if "val_loss" in r] == [0, 6]


DDP_SIGNALLER = '''
import os, signal, sys
sys.path.insert(0, {root!r})
import train
real, calls = train.train_step, []
def step(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3 and os.environ["RANK"] == "1":  # only rank 1 is told to stop
        os.kill(os.getpid(), signal.SIGTERM)
    return real(*args, **kwargs)
train.train_step = step
train.main(sys.argv[1:])
'''


@pytest.mark.slow
def test_under_ddp_a_signal_to_one_rank_stops_all_ranks_after_rank_0_saves(synth_data_dir, tmp_path):
    script = tmp_path / "signaller.py"
    script.write_text(DDP_SIGNALLER.format(root=str(ROOT)))
    out_dir = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
         *argv(out_dir, synth_data_dir, max_iters=20, eval_interval=20, log_interval=2, tokens_per_step=256),
         "--backend=gloo"], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0
    # rank 1 is signalled in step 2 -> 3; the ranks agree at the next log step, 4
    assert "stopped by a signal on another rank at step 4" in proc.stderr, proc.stderr[-3000:]
    assert torch.load(out_dir / "ckpt.pt", weights_only=True)["step"] == 4


# ---- 4. data --------------------------------------------------------------------------------

def test_out_of_range_token_id_is_refused_at_start_and_the_scan_is_cached(tmp_path, monkeypatch):
    ids = np.random.default_rng(1).integers(0, SYNTH_VOCAB, size=16384, dtype=np.uint16)
    ids[12345] = SYNTH_VOCAB + 7  # a batch might sample it hours into the run
    data_dir = write_dataset(tmp_path / "data", "synth", {**random_ids(), "train": ids})
    scans = []
    real = data.largest_token_id
    monkeypatch.setattr(data, "largest_token_id", lambda data: scans.append(len(data)) or real(data))
    message = one_line_exit(train.main, argv(tmp_path / "run", data_dir))
    assert f"token id {SYNTH_VOCAB + 7}" in message and "train.bin" in message
    assert not (tmp_path / "run").exists()
    meta = json.loads((data_dir / "synth" / "meta.json").read_text())
    assert meta["scan"]["train.bin"]["max_id"] == SYNTH_VOCAB + 7
    scans.clear()
    one_line_exit(train.main, argv(tmp_path / "run", data_dir))
    assert scans == []  # cached by size and mtime: not scanned again
    assert train.main(argv(tmp_path / "run", data_dir, vocab_size=SYNTH_VOCAB + 8, max_iters=1)) > 0
    ids.tofile(data_dir / "synth" / "train.bin")  # rewritten: the cache no longer applies
    os.utime(data_dir / "synth" / "train.bin", ns=(1, 1))
    scans.clear()
    one_line_exit(train.main, argv(tmp_path / "run2", data_dir))
    assert scans == [16384]


@pytest.mark.parametrize("how", ["in place", "replaced"])
def test_data_changed_with_its_size_and_mtime_kept_is_scanned_again(tmp_path, how):
    """cp -p or rsync -t bring other tokens with the old size and mtime: the cached scan must not apply."""
    data_dir = write_dataset(tmp_path / "data", "synth", random_ids())
    train_bin = data_dir / "synth" / "train.bin"
    assert train.main(argv(tmp_path / "run", data_dir, max_iters=1, eval_interval=1)) > 0  # scanned and cached
    ids = np.fromfile(train_bin, dtype=np.uint16)
    ids[12345] = SYNTH_VOCAB + 7
    stat = train_bin.stat()
    if how == "replaced":  # written beside it and renamed over it, as rsync does
        ids.tofile(data_dir / "synth" / "new.bin")
        os.replace(data_dir / "synth" / "new.bin", train_bin)
    else:
        ids.tofile(train_bin)
    os.utime(train_bin, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (train_bin.stat().st_size, train_bin.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    message = one_line_exit(train.main, argv(tmp_path / "run2", data_dir))
    assert f"token id {SYNTH_VOCAB + 7}" in message


def test_out_of_range_id_is_refused_without_meta_json(tmp_path):
    ids = np.full(4096, SYNTH_VOCAB, dtype=np.uint16)
    data_dir = write_dataset(tmp_path / "data", "synth", {**random_ids(), "train": ids}, meta=False)
    message = one_line_exit(train.main, argv(tmp_path / "run", data_dir))
    assert f"token id {SYNTH_VOCAB}" in message


@pytest.mark.parametrize("change,expected", [
    (dict(tokens={"train": 99, "val": 2048}), "tokens is 16384 in the file but 99 in meta.json"),
    (dict(dtype="uint32"), "dtype"),
    (dict(tokenizer="llama"), "tokenizer"),
    (dict(vocab_size=50257), "vocab_size=50257"),
])
def test_meta_json_that_does_not_describe_the_data_is_refused(tmp_path, change, expected):
    data_dir = write_dataset(tmp_path / "data", "synth", random_ids())
    meta_path = data_dir / "synth" / "meta.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), **change}))
    message = one_line_exit(train.main, argv(tmp_path / "run", data_dir))
    assert expected in message and "synth" in message


@pytest.mark.parametrize("size", [0, 4097])
def test_empty_or_odd_length_bin_is_refused_naming_the_file(tmp_path, size):
    data_dir = write_dataset(tmp_path / "data", "synth", random_ids(), meta=False)
    (data_dir / "synth" / "val.bin").write_bytes(b"\x01" * size)
    message = one_line_exit(train.main, argv(tmp_path / "run", data_dir))
    assert str(data_dir / "synth" / "val.bin") in message and f"{size} bytes" in message


def test_a_train_split_too_short_for_one_batch_is_refused_at_start(tmp_path):
    """block_size + 1 tokens hold one window, but the sampler draws offsets below len - block_size - 1: none."""
    block = RUN["block_size"]
    data_dir = write_dataset(tmp_path / "data", "synth", {**random_ids(),
                                                          "train": np.arange(block + 1, dtype=np.uint16)})
    message = one_line_exit(train.main, argv(tmp_path / "run", data_dir))
    assert f"train.bin holds {block + 1} tokens, fewer than the {block + 2} a train split needs" in message
    assert not (tmp_path / "run").exists()
    write_dataset(data_dir, "synth", {**random_ids(), "train": np.arange(block + 2, dtype=np.uint16)})
    cfg = SimpleNamespace(**RUN, data_dir=data_dir, data_seed=0)
    batch = next(data.train_batches(data.load_tokens(cfg, "train"), cfg, 0, 1, SimpleNamespace(world_size=1, rank=0,
                                                                                               device="cpu")))
    assert batch[0][0].tolist() == list(range(block))


def test_a_damaged_scan_cache_in_meta_json_is_scanned_again(tmp_path):
    data_dir = write_dataset(tmp_path / "data", "synth", random_ids())
    meta_path = data_dir / "synth" / "meta.json"
    for scan in ([1, 2], {"train.bin": 5}, {"train.bin": {"max_id": "9"}}):
        meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "scan": scan}))
        data.load_tokens(SimpleNamespace(**RUN, data_dir=data_dir), "train")
        assert json.loads(meta_path.read_text())["scan"]["train.bin"]["max_id"] == SYNTH_VOCAB - 1


# ---- 5. disk full ---------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_keeps_the_last_checkpoint_and_leaves_no_temporary_file(finished, synth_data_dir, tmp_path,
                                                                           monkeypatch):
    out_dir = copy_of(finished, tmp_path)
    ckpt_before = hashlib.sha256((out_dir / "ckpt.pt").read_bytes()).hexdigest()

    def full_disk(path):  # the temporary file lands on a device that answers every write with ENOSPC
        tmp = Path(f"{path}.{os.getpid()}.tmp")
        tmp.symlink_to("/dev/full")
        return tmp

    monkeypatch.setattr(checkpoint, "temporary_path", full_disk)
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert "No space left on device" in message and "disk full" in message and "kept" in message
    assert hashlib.sha256((out_dir / "ckpt.pt").read_bytes()).hexdigest() == ckpt_before
    assert not list(out_dir.glob("*.tmp"))


def test_a_disk_that_fills_mid_checkpoint_ends_in_one_line(finished, synth_data_dir, tmp_path, monkeypatch):
    """Simulated (monkeypatched save): when the disk fills inside torch's zip writer, it raises a RuntimeError
    while cleaning up, which hides the OSError."""
    out_dir = copy_of(finished, tmp_path)
    ckpt_before = hashlib.sha256((out_dir / "ckpt.pt").read_bytes()).hexdigest()

    def fills_up(obj, f):
        f.write(b"\0" * 4096)
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 4160 vs 4096")

    monkeypatch.setattr(checkpoint.torch, "save", fills_up)
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert "unexpected pos" in message and "disk full" in message and "kept" in message  # plenty of space: torch's
    assert hashlib.sha256((out_dir / "ckpt.pt").read_bytes()).hexdigest() == ckpt_before
    assert not list(out_dir.glob("*.tmp"))
    # less space left than the checkpoint needs: the system's words, not torch's internals
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda folder: SimpleNamespace(free=4096))
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert "ckpt.pt: No space left on device (0 MiB free there)" in message and "unexpected pos" not in message
    assert hashlib.sha256((out_dir / "ckpt.pt").read_bytes()).hexdigest() == ckpt_before


# a 64 KiB tmpfs ($1), filled up if $3 says so; then the command after $3 trains into $1/run, its stderr to $2
TRAIN_ON_A_SMALL_DISK = """[ "$3" = full ] && dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
out="$1"; err="$2"; shift 3
"$@" "--out_dir=$out/run" 2>"$err"
echo "$?" > "$err.rc"
"""


@pytest.mark.slow
@needs_small_tmpfs
@pytest.mark.parametrize("disk,expected", [
    ("full", "run/config.json (No space left on device): disk full"),  # and run.lock's PID, which must not fail again
    ("small", "run/ckpt.pt: No space left on device ("),  # at step 0: config.json and the log fit, the checkpoint does not
])
def test_a_run_on_a_disk_that_is_or_gets_full_ends_in_one_line(synth_data_dir, tmp_path, disk, expected):
    """A real file system (a 64 KiB tmpfs), not a simulated one."""
    (tmp_path / "mnt").mkdir()
    run_on_small_tmpfs("64k", TRAIN_ON_A_SMALL_DISK, tmp_path / "mnt", tmp_path / "err", disk, sys.executable,
                       str(ROOT / "train.py"), *argv(tmp_path / "unused", synth_data_dir), cwd=ROOT,
                       env=subprocess_env(),
                       check=True, timeout=120)  # the script's --out_dir, last, is the one that counts
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "err.rc").read_text().strip() == "1", err
    assert err.strip().count("\n") == 0 and expected in err and "disk full" in err, err


def no_space(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_full_disk_when_logging_or_writing_config_json_ends_in_one_line(synth_data_dir, tmp_path, monkeypatch):
    """Simulated: the append to log.jsonl, then the atomic write of config.json, fail as on a full disk."""
    real_open = open
    monkeypatch.setattr(run_records, "open", lambda path, mode="r", *a, **k: no_space() if mode == "a"
                        else real_open(path, mode, *a, **k), raising=False)
    message = one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir))
    assert "log.jsonl" in message and "No space left on device" in message
    monkeypatch.setattr(os, "fsync", no_space)  # config.json is the first file a fresh run writes
    message = one_line_exit(train.main, argv(tmp_path / "run2", synth_data_dir))
    assert "config.json" in message and "No space left on device" in message
    assert not list((tmp_path / "run2").glob("*.tmp"))


def test_temporary_files_of_killed_writers_are_removed_at_start(finished, synth_data_dir, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    dead = out_dir / f"ckpt.pt.{2**22 + 7}.tmp"  # above Linux's largest PID: no such process
    alive = out_dir / f"ckpt.pt.{os.getppid()}.tmp"
    dead.write_bytes(b"half a checkpoint")
    alive.write_bytes(b"being written")
    train.main(argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert not dead.exists() and alive.exists()


def test_low_free_space_is_warned_at_start(synth_data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_records.shutil, "disk_usage", lambda path: SimpleNamespace(total=1, used=1, free=1024))
    train.main(argv(tmp_path / "run", synth_data_dir, max_iters=1, eval_interval=1))
    out = capsys.readouterr().out
    assert "warning: 0.000977 MiB free" in out and "~0 MiB" not in out  # a tiny model's checkpoint: its size too


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc")
def test_resumed_run_does_not_keep_the_replaced_checkpoint_mapped(finished, synth_data_dir, tmp_path, monkeypatch):
    out_dir = copy_of(finished, tmp_path)
    mapped = []
    real = train.save_checkpoint

    def save_and_look(path, *args, **kwargs):
        real(path, *args, **kwargs)
        mapped.append(str(path) in Path("/proc/self/maps").read_text())

    monkeypatch.setattr(train, "save_checkpoint", save_and_look)
    train.main(argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert mapped == [False]


# ---- 6. shapes on resume --------------------------------------------------------------------

@pytest.mark.parametrize("key,value", [("n_embd", 64), ("n_layer", 3), ("vocab_size", 512)])
def test_model_shape_flag_differing_from_the_checkpoint_is_refused(finished, synth_data_dir, tmp_path, key, value):
    out_dir = copy_of(finished, tmp_path)
    before = digests(out_dir)
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6,
                                             **{key: value}))
    assert f"{key}={value}" in message and f"--{key}" in message
    assert digests(out_dir) == before


@pytest.mark.parametrize("key,value", [("learning_rate", 6e-4), ("n_layer", 12), ("dataset", "builtin"),
                                       ("warmup_iters", 100), ("min_lr", 6e-5)])
def test_a_changed_flag_equal_to_the_default_is_refused_on_resume(finished, synth_data_dir, tmp_path, key, value):
    """What the user passed decides, not whether the value happens to be train.py's default."""
    assert settings.DEFAULTS[key] == value != RUN.get(key, "synth")
    out_dir = copy_of(finished, tmp_path)
    before = digests(out_dir)
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6, **{key: value}))
    assert f"{key}={value!r}" in message and digests(out_dir) == before
    # values that mean "unset" (the dataset's vocabulary, the run's own batch order) still take the run's
    train.main(argv(out_dir, synth_data_dir, init_from="resume", max_iters=6, vocab_size=0, data_seed=-1))
    assert [r["step"] for r in read_log(out_dir)][-1] == 6


def test_checkpoint_of_another_shape_copied_in_is_refused(finished, synth_data_dir, tmp_path):
    other = tmp_path / "other"
    train.main(argv(other, synth_data_dir, n_embd=64, max_iters=2))
    out_dir = copy_of(finished, tmp_path)
    shutil.copy(other / "ckpt.pt", out_dir / "ckpt.pt")
    resume = [a for a in argv(out_dir, synth_data_dir, init_from="resume", max_iters=6) if "n_embd" not in a]
    message = one_line_exit(train.main, resume)
    assert "config.json" in message and "n_embd=32" in message and "n_embd=64" in message


def test_model_args_that_disagree_with_the_weights_stop_with_one_line(finished, synth_data_dir, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    ckpt = torch.load(out_dir / "ckpt.pt", weights_only=True)
    ckpt["model_args"]["n_embd"] = 64
    ckpt.pop("crc32")
    torch.save(ckpt, out_dir / "ckpt.pt")
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6,
                                             n_embd=64))
    assert "does not match its model_args" in message


@pytest.mark.parametrize("text", ["", "[1, 2]", "{\"n_layer\": 2"])
def test_a_damaged_config_json_is_written_again_on_resume(finished, synth_data_dir, tmp_path, text, capsys):
    out_dir = copy_of(finished, tmp_path)
    (out_dir / "config.json").write_text(text)
    train.main(argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert "config.json is damaged" in capsys.readouterr().out
    assert json.loads((out_dir / "config.json").read_text())["n_layer"] == 2


@pytest.mark.parametrize("meta", ["[1, 2]", '{"tokens": 5}', '{"vocab_size": "1024"}', '{"vocab_size": 0}',
                                  '{"vocab_size": -64}'])
def test_a_meta_json_of_another_shape_stops_with_one_line(tmp_path, meta):
    data_dir = write_dataset(tmp_path / "data", "synth", random_ids())
    (data_dir / "synth" / "meta.json").write_text(meta)
    message = one_line_exit(train.main, argv(tmp_path / "run", data_dir, vocab_size=0))
    assert "meta.json" in message and "prepare the dataset again" in message


# ---- 7. small ones --------------------------------------------------------------------------

def test_resuming_a_finished_run_does_not_log_its_final_step_twice(finished, synth_data_dir, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    (out_dir / "result.json").unlink()  # as if killed between the last checkpoint and result.json
    train.main(argv(out_dir, synth_data_dir, init_from="resume"))
    assert [r["step"] for r in read_log(out_dir)] == [0, 1, 2, 3, 4]
    assert json.loads((out_dir / "result.json").read_text())["step"] == 4


def test_resume_replaces_the_log_whole_or_not_at_all(finished, synth_data_dir, tmp_path, monkeypatch):
    """Resuming drops the log lines after the checkpoint by writing a new log and renaming it over the old
    one: a kill or a full disk at that moment keeps the run's history."""
    out_dir = copy_of(finished, tmp_path)
    log = out_dir / "log.jsonl"
    with open(log, "a") as f:
        f.write(json.dumps({"step": 5, "tokens": 640, "train_loss": 9.0}) + "\n")  # logged after the checkpoint
    before, inode = log.read_text(), log.stat().st_ino
    real_fsync = os.fsync

    def full_disk_once(fd):
        monkeypatch.setattr(os, "fsync", real_fsync)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk_once)  # the first file synced is the new log
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert "log.jsonl" in message and "No space left on device" in message
    assert log.read_text() == before and not list(out_dir.glob("*.tmp"))
    train.main(argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert [r["step"] for r in read_log(out_dir)] == [0, 1, 2, 3, 4, 5, 6] and log.stat().st_ino != inode


def test_eval_only_without_resume_does_not_score_a_fresh_model_over_a_trained_run(finished, synth_data_dir, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    before = digests(out_dir)
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, eval_only=True))
    assert "evaluate it with --init_from=resume" in message and digests(out_dir) == before


@pytest.mark.parametrize("overrides,expected", [
    (dict(n_head=3), "n_embd=32 is not divisible by n_head=3"),
    (dict(learning_rate=-1e-3), "learning_rate=-0.001 must not be negative"),
    (dict(dropout=1.0), "dropout=1.0 must be in [0, 1)"),
    (dict(dropout=-0.1), "dropout=-0.1 must be in [0, 1)"),
    (dict(ckpt_interval=-1), "ckpt_interval=-1 must not be negative"),
    (dict(seed=-1), "seed=-1 must not be negative"),
    (dict(data_seed=-2), "data_seed=-2 must be -1 (the default order) or a seed >= 0"),
    (dict(init_from="inherit", inherit_from="ref/ckpt.pt", attn_divisors=[1, 1]),
     "attn_divisors=[1, 1] with init_from='inherit': inherited blocks keep their reference's divisors"),
])
def test_impossible_settings_stop_with_one_line(synth_data_dir, tmp_path, overrides, expected):
    assert expected in one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, **overrides))
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu(synth_data_dir, tmp_path):
    assert "no CUDA GPU" in one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, device="cuda"))


@pytest.mark.parametrize("text,expected", [("n_layer = = 4\n", "line 1"), ("n_layer = undefined_name\n", "NameError")])
def test_config_file_that_does_not_run(tmp_path, text, expected):
    config = tmp_path / "broken.py"
    config.write_text(text)
    message = one_line_exit(train.main, [str(config)])
    assert str(config) in message and expected in message


@pytest.mark.parametrize("run_dir,overrides,expected", [
    ("run", dict(device="tpu"), "device='tpu' is not one of 'auto', 'cpu', 'cuda', 'cuda:N'"),
    ("run", dict(device="gpu"), "device='gpu' is not one of"), ("", {}, "out_dir is empty")])
def test_a_device_or_out_dir_no_run_can_use_stops_with_one_line(synth_data_dir, tmp_path, run_dir, overrides, expected,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert expected in one_line_exit(train.main, argv(run_dir, synth_data_dir, **overrides))
    assert list(tmp_path.iterdir()) == []


def test_an_out_dir_that_is_a_file_stops_with_one_line(synth_data_dir, tmp_path):
    (tmp_path / "run").write_text("notes")
    for overrides in ({}, dict(eval_only=True)):
        message = one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, **overrides))
        assert f"out_dir={tmp_path / 'run'} is a file" in message
    assert (tmp_path / "run").read_text() == "notes"


def test_a_wandb_that_is_installed_but_does_not_import_stops_in_one_line(synth_data_dir, tmp_path, monkeypatch):
    (tmp_path / "site" / "wandb").mkdir(parents=True)
    (tmp_path / "site" / "wandb" / "__init__.py").write_text("raise ImportError('protobuf 3 is too old for wandb')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    message = one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, wandb_log=True))
    assert "installed but cannot be imported (ImportError: protobuf 3 is too old for wandb)" in message
    assert not (tmp_path / "run").exists()


def test_ctrl_c_during_start_up_ends_in_one_line(finished, synth_data_dir, tmp_path, monkeypatch):
    out_dir = copy_of(finished, tmp_path)
    before = digests(out_dir)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load_tokens", interrupted)
    assert "interrupted" in one_line_exit(train.main, argv(out_dir, synth_data_dir, init_from="resume", max_iters=6))
    assert digests(out_dir) == before


def test_evaluation_needs_neither_the_writers_lock_nor_a_batch_that_splits(finished, synth_data_dir, tmp_path):
    """The grow loop's baseline: another loop may hold the reference, and its world size need not divide
    the training batch (batch_size 3 does not divide 128 tokens of 32-token rows)."""
    out_dir = copy_of(finished, tmp_path)
    with checkpoint.lock_run_dir(out_dir):
        val_loss = train.main(argv(out_dir, synth_data_dir, init_from="resume", eval_only=True, batch_size=3))
    assert json.loads((out_dir / "eval.json").read_text())["val_loss"] == val_loss > 0


@pytest.mark.parametrize("args,expected", [(["--tolerance", "nan"], "--tolerance nan"),
                                           (["--out", "FILE"], "is a file"),
                                           (["--seed", "-3"], "--seed -3 --data-seed -1: seeds are >= 0"),
                                           (["--data-seed", "-2"], "--seed 1337 --data-seed -2: seeds are >= 0")])
def test_grow_arguments_no_loop_can_use_stop_at_once(tmp_path, capsys, args, expected):
    (tmp_path / "ckpt.pt").write_bytes(b"a reference's checkpoint")
    args = [str(tmp_path / "ckpt.pt") if a == "FILE" else a for a in args]
    with pytest.raises(SystemExit):  # refused before anything is read, trained or written
        inherit.main(["--grow-until-baseline", "--reference-run", str(tmp_path / "missing"),
                      "--out", str(tmp_path / "grow"), *args])
    assert expected in capsys.readouterr().err and not (tmp_path / "grow").exists()


@pytest.mark.parametrize("seeds", [["--seed", "-1"], ["--data-seed", "-5"]])
def test_a_single_inheritance_with_a_negative_seed_writes_nothing(finished, tmp_path, capsys, seeds):
    with pytest.raises(SystemExit):
        inherit.main(["--reference", str(finished / "ckpt.pt"), "--n-layer", "1", "--out",
                      str(tmp_path / "t" / "ckpt.pt"), *seeds])
    assert "seeds are >= 0" in capsys.readouterr().err and not (tmp_path / "t").exists()


def test_wandb_outside_the_grow_loop_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):  # a single inheritance trains nothing to track
        inherit.main(["--reference", "ref.pt", "--n-layer", "2", "--out", str(tmp_path / "ckpt.pt"), "--wandb"])
    assert "--wandb tracks the grow loop's training runs" in capsys.readouterr().err


def test_a_launcher_that_is_not_installed_stops_with_one_line(tmp_path):
    launcher = inherit.grow_launcher(inherit.parse_args(["--grow-until-baseline", "--launcher",
                                                         "no-such-launcher-i19 --nnodes=2"]))
    assert "no-such-launcher-i19" in one_line_exit(grow.launch, launcher, {"out_dir": str(tmp_path)})


def test_inherit_reference_given_a_directory(finished, tmp_path):
    message = one_line_exit(inherit.main, ["--reference", str(finished), "--n-layer", "1",
                                           "--out", str(tmp_path / "out" / "ckpt.pt")])
    assert "is a directory" in message and str(finished / "ckpt.pt") in message


# ---- the grow loop's rounds -----------------------------------------------------------------

SLOW_LAUNCHER = '''
import sys, time
sys.path.insert(0, {root!r})
import train
real = train.train_step
def slow_step(*args, **kwargs):
    time.sleep(0.5)
    return real(*args, **kwargs)
train.train_step = slow_step
train.main(sys.argv[2:])  # argv[1] is train.py's path
'''


def grow_setup(finished, tmp_path):
    """A grow folder over a copy of the finished 2-layer run, with a baseline no round reaches."""
    ref = tmp_path / "ref"
    shutil.copytree(finished, ref)
    out = tmp_path / "grow"
    out.mkdir()
    (out / "baseline.json").write_text(json.dumps({"val_loss": -1.0}))
    return ["--grow-until-baseline", "--reference-run", str(ref), "--out", str(out), "--start-n", "1"], out


def lock_is_free(run_dir):
    try:
        checkpoint.lock_run_dir(run_dir).close()
        return True
    except SystemExit:
        return False


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_round_dies_with_its_grow_loop_and_saves_first(finished, tmp_path):
    args, out = grow_setup(finished, tmp_path)
    launcher = tmp_path / "slow.py"
    launcher.write_text(SLOW_LAUNCHER.format(root=str(ROOT)))
    cmd = [sys.executable, str(ROOT / "inherit.py"), *args, "--launcher", f"{sys.executable} {launcher}"]
    with open(tmp_path / "grow.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
    round_dir = out / "n01"
    try:
        wait_for(lambda: (round_dir / "log.jsonl").is_file() and (round_dir / "log.jsonl").read_text(),
                 "round n=1 to start", proc)
        child = int((round_dir / "run.lock").read_text().split()[0])  # "PID on HOST"
        proc.kill()  # SIGKILL: the grow loop cannot pass anything on
        proc.wait()
        wait_for(lambda: lock_is_free(round_dir), "the round to end", timeout=60)
    finally:
        proc.kill()
    assert child != proc.pid
    log = (tmp_path / "grow.log").read_text()
    assert "stopped by SIGTERM at step 1" in log, log[-3000:]
    assert torch.load(round_dir / "ckpt.pt", weights_only=True)["step"] == 1


@pytest.mark.slow
def test_rerun_refuses_while_a_round_still_runs(finished, tmp_path, capfd):
    args, out = grow_setup(finished, tmp_path)
    with checkpoint.lock_run_dir(out / "n01"):  # as if the last grow loop's round were still training
        message = one_line_exit(inherit.main, args)
    assert "training in" in message and str(out / "n01") in message
    assert f"in use by another run (pid {os.getpid()} on " in capfd.readouterr().err
    with checkpoint.lock_run_dir(out):  # another grow loop on the same folder
        message = one_line_exit(inherit.main, args)
    assert f"in use by another run (pid {os.getpid()} on " in message
