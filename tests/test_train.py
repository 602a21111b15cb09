"""train.py end to end on CPU: learning, accumulation, DDP, eval, resume, checkpoints, errors, logs.

Most runs use a synthetic dataset of random ids below SYNTH_VOCAB with --vocab_size=SYNTH_VOCAB:
the mechanics do not need text, and a small vocabulary keeps each run well under a second.
"""
import copy
import importlib.util
import json
import math
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import settings
import train
from data import load_split, train_batches, val_windows
from model import GPT, GPTConfig
from helpers import (ROOT, SYNTH_VOCAB, digests, load_ckpt, one_line_exit, read_json, read_log, save_edited_checkpoint,
                     subprocess_env)

TINY_MODEL = dict(n_layer=2, n_head=2, n_embd=32, block_size=32)
SYNTH_RUN = dict(
    dataset="synth", vocab_size=SYNTH_VOCAB, **TINY_MODEL, device="cpu", dtype="float32",
    batch_size=4, tokens_per_step=128, max_iters=4, learning_rate=1e-2, min_lr=1e-3, warmup_iters=2,
    log_interval=1, eval_interval=2, eval_tokens=160,  # 5 validation windows: uneven over 2 ranks
)


pytestmark = pytest.mark.usefixtures("single_process", "one_thread")


def argv(out_dir, data_dir, **overrides):
    options = {**SYNTH_RUN, "out_dir": out_dir, "data_dir": data_dir, **overrides}
    return [f"--{k}={v}" for k, v in options.items()]


def run(out_dir, data_dir, **overrides):
    return train.main(argv(out_dir, data_dir, **overrides))



@pytest.fixture(scope="module")
def short_run(synth_data_dir, tmp_path_factory):
    """A finished 4-step run (evals at 0, 2, 4), shared read-only; copy it before changing it."""
    out_dir = tmp_path_factory.mktemp("short_run") / "run"
    val_loss = run(out_dir, synth_data_dir)
    return SimpleNamespace(out_dir=out_dir, data_dir=synth_data_dir, val_loss=val_loss)


def copy_run(short_run, tmp_path):
    out_dir = tmp_path / "run"
    shutil.copytree(short_run.out_dir, out_dir)
    return out_dir


# ---- learning -------------------------------------------------------------------------------

def test_loss_falls_on_builtin_corpus(builtin_data_dir, tmp_path):
    out_dir = tmp_path / "run"
    val_loss = train.main([
        f"--data_dir={builtin_data_dir}", "--dataset=builtin", f"--out_dir={out_dir}", "--device=cpu",
        "--dtype=float32", "--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=32", "--batch_size=4",
        "--tokens_per_step=128", "--max_iters=40", "--learning_rate=1e-2", "--min_lr=1e-3",
        "--warmup_iters=5", "--eval_interval=40", "--eval_tokens=1024", "--log_interval=10"])
    log = read_log(out_dir)
    initial = log[0]["val_loss"]
    assert log[0]["step"] == 0
    assert initial == pytest.approx(math.log(50304), abs=0.2)  # a uniform guess over the vocabulary
    assert val_loss < initial - 2.0, (initial, val_loss)
    train_losses = [r["train_loss"] for r in log if "train_loss" in r]
    assert len(train_losses) == 4 and train_losses[-1] < initial - 2.0


# ---- what a run computes --------------------------------------------------------------------

SEEDED_RUN = dict(tokens_per_step=256, dropout=0.1, grad_scale=1.8, lr_decay_iters=6, eval_interval=3, log_interval=2)


def computed(out_dir):
    """A run's logged and final numbers, without its timings."""
    timings = ("tokens_per_s", "mfu", "elapsed_s")
    lines = read_log(out_dir) + [read_json(Path(out_dir) / "result.json")]
    return [{k: v for k, v in line.items() if k not in timings} for line in lines]


def seeded_runs(data_dir, tmp_path):
    """A 6-step run stopped at step 4 and resumed (2 micro-batches, dropout, some steps clipped, evaluations off
    the log steps), then a 1-block student distilled from it for 2 steps: what each computed."""
    run(tmp_path / "run", data_dir, max_iters=4, **SEEDED_RUN)
    run(tmp_path / "run", data_dir, max_iters=6, init_from="resume", **SEEDED_RUN)
    run(tmp_path / "student", data_dir, n_layer=1, max_iters=2, eval_interval=2,
        distill_from=tmp_path / "run" / "ckpt.pt")
    return {name: computed(tmp_path / name) for name in ("run", "student")}


# recorded from train.py before its loop was split into named steps (CPU, fp32, one thread, torch 2.13)
SEEDED_RUNS = {
    "run": [
        {"step": 0, "tokens": 0, "val_loss": 5.5463536262512205},
        {"step": 2, "tokens": 512, "lr": 0.006666666666666667, "train_loss": 5.550678253173828,
         "grad_norm": 1.0308611392974854, "clipped": True},
        {"step": 3, "tokens": 768, "val_loss": 5.554829025268555},
        {"step": 4, "tokens": 1024, "lr": 0.008681980515339464, "train_loss": 5.530595779418945,
         "grad_norm": 0.9544024467468262, "clipped": False, "val_loss": 5.548517322540283},
        {"step": 6, "tokens": 1536, "lr": 0.0023180194846605367, "train_loss": 5.543439865112305,
         "grad_norm": 1.027267336845398, "clipped": True, "val_loss": 5.543380260467529},
        {"step": 6, "tokens": 1536, "val_loss": 5.543380260467529, "num_params": 32928,
         "clip_rate": 0.8333333333333334},
    ],
    "student": [
        {"step": 0, "tokens": 0, "val_loss": 5.54908561706543},
        {"step": 1, "tokens": 128, "lr": 0.0033333333333333335, "train_loss": 2.785855531692505,
         "grad_norm": 0.3676435947418213, "clipped": False, "data_loss": 5.548624515533447,
         "distill_kl": 0.02308673784136772},
        {"step": 2, "tokens": 256, "lr": 0.006666666666666667, "train_loss": 2.7774293422698975,
         "grad_norm": 0.39301982522010803, "clipped": False, "data_loss": 5.531673431396484,
         "distill_kl": 0.02318510226905346, "val_loss": 5.543759059906006},
        {"step": 2, "tokens": 256, "val_loss": 5.543759059906006, "num_params": 20576, "clip_rate": 0.0},
    ],
}


def test_a_seeded_run_computes_what_it_did_before(synth_data_dir, tmp_path):
    """Every logged loss, norm and learning rate equal to the last bit: changing how the loop is written must not
    change what it computes."""
    assert seeded_runs(synth_data_dir, tmp_path) == SEEDED_RUNS


# ---- batches and gradient accumulation ------------------------------------------------------

@pytest.mark.parametrize("k", [2, 4])
def test_gradient_accumulation_equals_one_big_batch(k):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY_MODEL, vocab_size=2048, bias=True))
    x, y = torch.randint(0, 2048, (2, 8, 32))
    big, accumulated = copy.deepcopy(model), copy.deepcopy(model)
    loss_big = train.forward_backward(big, [(x, y)], 1, nullcontext())
    b = 8 // k
    micro = [(x[i:i + b], y[i:i + b]) for i in range(0, 8, b)]
    loss_acc = train.forward_backward(accumulated, micro, k, nullcontext())
    torch.testing.assert_close(loss_acc, loss_big, rtol=1e-6, atol=1e-6)
    for (name, p), q in zip(big.named_parameters(), accumulated.parameters()):
        assert p.grad is not None and p.grad.abs().max() > 0, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-5, msg=name)


class RecordingDDP(torch.nn.Module):
    """Stands in for DDP: records, per forward, whether the backward that follows would sync gradients."""

    def __init__(self, module):
        super().__init__()
        self.module, self.require_backward_grad_sync, self.syncs = module, True, []

    def forward(self, *args):
        self.syncs.append(self.require_backward_grad_sync)
        return self.module(*args)


def test_ddp_syncs_gradients_on_the_last_micro_step_only(monkeypatch):
    monkeypatch.setattr(train, "DDP", RecordingDDP)
    torch.manual_seed(0)
    model = RecordingDDP(GPT(GPTConfig(**TINY_MODEL, vocab_size=64)))
    x, y = torch.randint(0, 64, (2, 3, 2, 32))
    train.forward_backward(model, list(zip(x, y)), 3, nullcontext())
    assert model.syncs == [False, False, True]


def full_batch_gradient(model, x, y):
    """The gradient of the mean loss over the whole batch, by one plain backward pass on a copy."""
    model = copy.deepcopy(model)
    _, loss = model(x, y)
    loss.backward()
    return [p.grad for p in model.parameters()]


@pytest.mark.parametrize("accum", [1, 2])
@pytest.mark.parametrize("clip_over_norm", [0.5, 2.0, 0.0])  # grad_clip / raw norm; 0 disables clipping
def test_update_follows_the_clipped_gradient(accum, clip_over_norm):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY_MODEL, vocab_size=SYNTH_VOCAB, bias=True))
    x, y = torch.randint(0, SYNTH_VOCAB, (2, 4, 32))
    grads = full_batch_gradient(model, x, y)
    raw_norm = torch.cat([g.flatten() for g in grads]).norm().item()
    grad_clip = clip_over_norm * raw_norm
    shrink = min(1.0, grad_clip / raw_norm) if grad_clip > 0 else 1.0
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # plain SGD: the update is -lr x the gradient
    lr, b = 0.5, 4 // accum  # train_step's lr replaces the optimizer's
    micro = [(x[i:i + b], y[i:i + b]) for i in range(0, 4, b)]
    _, grad_norm = train.train_step(model, optimizer, micro, accum, nullcontext(), lr, grad_clip, seed=0)
    assert grad_norm.item() == pytest.approx(raw_norm, rel=1e-5)  # the norm before clipping
    for (name, p), p0, g in zip(model.named_parameters(), before, grads):
        torch.testing.assert_close((p0 - p.detach()) / lr, shrink * g, rtol=1e-4, atol=1e-6,
                                   msg=lambda detail, name=name: f"{name}: {detail}")


@pytest.mark.parametrize("grad_scale", [1.0, 8.0])
@pytest.mark.parametrize("clip_over_norm", [0.5, 2.0, 0.0])
def test_fused_adamw_applies_scale_and_clip_in_its_kernel(clip_over_norm, grad_scale):
    """On GPUs grad_scale and the clip factor ride in fused AdamW's grad_scale: the update must equal
    scaling the gradients, torch's clip_grad_norm_, then the same optimizer (CPU has the fused kernel too)."""
    torch.manual_seed(0)
    x, y = torch.randint(0, SYNTH_VOCAB, (2, 4, 32))
    models = [GPT(GPTConfig(**TINY_MODEL, vocab_size=SYNTH_VOCAB, bias=True)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-2, fused=True) for m in models]
    for m in models:
        m(x, y)[1].backward()
    for p in models[0].parameters():
        p.grad.mul_(grad_scale)
    raw_norm = torch.nn.utils.clip_grad_norm_(models[0].parameters(), math.inf).item()
    torch.nn.utils.clip_grad_norm_(models[0].parameters(), clip_over_norm * raw_norm or math.inf)
    optimizers[0].step()
    norm = train.clip_and_step(optimizers[1], clip_over_norm * raw_norm, grad_scale)
    assert norm.item() == pytest.approx(raw_norm, rel=1e-6)
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=lambda detail, name=name: f"{name}: {detail}")


def test_any_world_and_accumulation_split_sees_the_same_sequences(synth_data_dir):
    data = load_split(synth_data_dir, "synth", "train")
    cfg = SimpleNamespace(**{**settings.DEFAULTS, **SYNTH_RUN, "data_seed": 1337})

    def sequences(world_size, accum, step, **changes):
        xs = []
        for rank in range(world_size):
            d = train.Dist(rank, rank, world_size, "cpu")
            xs += [x for x, _ in train_batches(data, SimpleNamespace(**{**vars(cfg), **changes}), step, accum, d)]
        return torch.cat(xs)

    single = sequences(1, 4, step=7)
    assert single.shape == (16, 32)
    assert torch.equal(sequences(2, 2, step=7), single)
    assert torch.equal(sequences(4, 1, step=7), single)
    assert not torch.equal(sequences(1, 4, step=8), single)  # each step draws new windows
    # the batch order is data_seed's alone: the model's seed does not change it
    assert torch.equal(sequences(1, 4, step=7, seed=5), single)
    assert not torch.equal(sequences(1, 4, step=7, data_seed=1338), single)
    x, y = next(train_batches(data, cfg, 7, 4, train.Dist(0, 0, 1, "cpu")))
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one


def test_lr_schedule():
    cfg = SimpleNamespace(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, lr_decay_iters=0, max_iters=100)
    assert train.lr_at(0, cfg) == pytest.approx(1e-3 / 11)
    assert train.lr_at(10, cfg) == pytest.approx(1e-3)
    assert train.lr_at(55, cfg) == pytest.approx(5.5e-4)  # half way down the cosine
    assert train.lr_at(100, cfg) == pytest.approx(1e-4)
    lrs = [train.lr_at(s, cfg) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_lr_schedule_decays_over_lr_decay_iters_not_max_iters():
    # the cosine runs over steps 10..70 (60 steps), then lr stays at min_lr until max_iters=100
    cfg = SimpleNamespace(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, lr_decay_iters=70, max_iters=100)
    expected = {
        9: 1e-3 * 10 / 11,  # last warmup step
        10: 1e-3,  # warmup end: cosine progress 0
        25: 8.681980515339464e-4,  # progress 1/4: 1e-4 + 9e-4 * (1 + cos(pi/4)) / 2
        40: 5.5e-4,  # midpoint: half way between 1e-3 and 1e-4
        55: 2.3180194846605365e-4,  # progress 3/4: 1e-4 + 9e-4 * (1 - cos(pi/4)) / 2
        70: 1e-4,  # decay end
        85: 1e-4,  # after the decay, before max_iters
        99: 1e-4,  # the last training step
    }
    assert {step: train.lr_at(step, cfg) for step in expected} == pytest.approx(expected, rel=1e-9)


# ---- gradient scale and clipping -------------------------------------------------------------

def test_grad_scale_multiplies_the_mean_gradient_before_clipping(synth_data_dir, tmp_path):
    """The paper's loop clips (micro-steps) x the mean gradient; grad_scale reproduces it for any split."""
    common = dict(tokens_per_step=256, max_iters=6, eval_interval=6)
    plain = run(tmp_path / "plain", synth_data_dir, **common)
    run(tmp_path / "scaled", synth_data_dir, grad_scale=8.0, **common)  # micro-batch 4: accumulation 2
    run(tmp_path / "one_micro", synth_data_dir, grad_scale=8.0, batch_size=8, **common)  # accumulation 1
    plain_log, scaled_log = read_log(tmp_path / "plain"), read_log(tmp_path / "scaled")
    # step 1: the same weights and batch, so the norm before clipping is exactly 8 times larger
    assert scaled_log[1]["grad_norm"] == pytest.approx(8 * plain_log[1]["grad_norm"], rel=1e-5)
    assert read_log(tmp_path / "one_micro")[1]["grad_norm"] == pytest.approx(scaled_log[1]["grad_norm"], rel=1e-5)
    # this tiny model's mean gradient norm is ~0.5: clipped never at scale 1, always at 8
    assert not any(r.get("clipped") for r in plain_log) and all(r["clipped"] for r in scaled_log[1:])
    assert read_json(tmp_path / "plain" / "result.json")["clip_rate"] == 0.0
    assert read_json(tmp_path / "scaled" / "result.json")["clip_rate"] == 1.0
    assert read_json(tmp_path / "plain" / "result.json")["val_loss"] == plain


def test_clip_rate_counts_every_step_and_survives_resume(synth_data_dir, tmp_path):
    """Steps between log lines count too, and a resumed run reports the whole run's rate."""
    common = dict(grad_scale=1.5, max_iters=8, lr_decay_iters=8, eval_interval=4, log_interval=4)
    run(tmp_path / "every", synth_data_dir, **{**common, "log_interval": 1})
    clipped = [r["clipped"] for r in read_log(tmp_path / "every")[1:]]
    assert 0 < sum(clipped) < len(clipped), clipped  # a scale where some steps clip and some do not
    run(tmp_path / "sparse", synth_data_dir, **common)
    assert read_json(tmp_path / "sparse" / "result.json")["clip_rate"] == sum(clipped) / 8
    run(tmp_path / "half", synth_data_dir, **{**common, "max_iters": 4})
    run(tmp_path / "half", synth_data_dir, **common, init_from="resume")
    assert read_json(tmp_path / "half" / "result.json")["clip_rate"] == sum(clipped) / 8


# ---- data-parallel equals single process ----------------------------------------------------

@pytest.mark.slow
def test_ddp_two_ranks_match_single_process(synth_data_dir, tmp_path):
    # 2 micro-batches per rank, so DDP's skipped syncs (all but the last micro-step) are exercised
    common = dict(tokens_per_step=4 * 4 * 32, max_iters=3, eval_interval=3, learning_rate=1e-3)
    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(ROOT / "train.py"), *argv(ddp_dir, synth_data_dir, **common), "--backend=gloo"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "accumulation 2 x world 2" in proc.stdout
    single_val = run(single_dir, synth_data_dir, **common)  # accumulation 4 instead of 2 ranks x 2

    assert read_json(ddp_dir / "config.json")["world_size"] == 2
    assert read_json(single_dir / "config.json")["world_size"] == 1
    ddp_log, single_log = read_log(ddp_dir), read_log(single_dir)
    assert [r["step"] for r in ddp_log] == [r["step"] for r in single_log] == [0, 1, 2, 3]
    for a, b in zip(ddp_log, single_log):
        assert a.keys() == b.keys()
        for key in ("train_loss", "val_loss", "lr", "tokens"):
            if key in a:
                assert a[key] == pytest.approx(b[key], rel=0, abs=1e-5), (a["step"], key)
    # step 0: the same initial weights evaluated on 2 ranks (3 + 2 windows) and on one
    assert ddp_log[0]["val_loss"] == pytest.approx(single_log[0]["val_loss"], rel=0, abs=1e-6)
    assert read_json(ddp_dir / "result.json")["val_loss"] == pytest.approx(single_val, rel=0, abs=1e-5)

    ddp_model, single_model = (load_ckpt(run / "ckpt.pt")["model"] for run in (ddp_dir, single_dir))
    assert list(ddp_model) == list(single_model)  # no 'module.' prefix from DDP
    for name, tensor in single_model.items():
        torch.testing.assert_close(ddp_model[name], tensor, rtol=0, atol=1e-5, msg=name)
    init = GPT(GPTConfig(**load_ckpt(single_dir / "ckpt.pt")["model_args"]))  # the weights did move
    assert (init.state_dict()["transformer.h.0.attn.c_attn.weight"]
            - single_model["transformer.h.0.attn.c_attn.weight"]).abs().max() > 1e-4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_through_torchruns_c10d_rendezvous_match_single_process(synth_data_dir, tmp_path):
    """Two torchrun agents of one gloo rank each, meeting at one c10d endpoint as two nodes would (docs/multinode.md)."""
    common = dict(tokens_per_step=4 * 4 * 32, max_iters=2, eval_interval=2, learning_rate=1e-3)
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={rank}", "--nproc_per_node=1",
         "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}", "--rdzv_id=two_nodes",
         f"--rdzv_conf=is_host={rank == 0}", str(ROOT / "train.py"),
         *argv(tmp_path / "nodes", synth_data_dir, **common), "--backend=gloo"],
        cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=180)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(out[-3000:] for out in outputs)
    assert "accumulation 2 x world 2" in outputs[0] + outputs[1]
    single_val = run(tmp_path / "single", synth_data_dir, **common)

    assert read_json(tmp_path / "nodes" / "config.json")["world_size"] == 2
    nodes_log, single_log = read_log(tmp_path / "nodes"), read_log(tmp_path / "single")
    assert [r["step"] for r in nodes_log] == [r["step"] for r in single_log] == [0, 1, 2]
    for a, b in zip(nodes_log, single_log):
        for key in ("train_loss", "val_loss"):
            if key in b:
                assert a[key] == pytest.approx(b[key], rel=0, abs=1e-5), (a["step"], key)
    assert read_json(tmp_path / "nodes" / "result.json")["val_loss"] == pytest.approx(single_val, rel=0, abs=1e-5)


# ---- evaluation -----------------------------------------------------------------------------

def test_eval_is_deterministic(short_run):
    files = digests(short_run.out_dir)
    args = argv(short_run.out_dir, short_run.data_dir, init_from="resume", eval_only=True)
    first, second = train.main(args), train.main(args)
    assert first == second
    assert first == pytest.approx(short_run.val_loss, rel=1e-6)  # the run's own final evaluation
    # eval_only leaves the run's files as they were and records its measurement in eval.json
    after = digests(short_run.out_dir)
    assert {k: v for k, v in after.items() if k != "eval.json"} == {k: v for k, v in files.items() if k != "eval.json"}
    assert json.loads((short_run.out_dir / "eval.json").read_text())["val_loss"] == first


def test_eval_weights_windows_by_tokens_not_by_batch(short_run):
    """Any batching (or sharding) of the fixed windows gives the same mean: what makes ranks agree."""
    ckpt = load_ckpt(short_run.out_dir / "ckpt.pt")
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    data = load_split(short_run.data_dir, "synth", "val")
    d = train.Dist(0, 0, 1, "cpu")
    losses = []
    for batch_size in (1, 2, 4, 5):
        cfg = SimpleNamespace(**{**settings.DEFAULTS, **SYNTH_RUN, "batch_size": batch_size})
        losses.append(train.evaluate(model, data, cfg, d, nullcontext()))
    assert losses[0] == pytest.approx(short_run.val_loss, rel=1e-6)
    assert max(losses) - min(losses) < 1e-6
    assert model.training  # evaluate puts the model back in training mode
    starts = val_windows(data, cfg)
    assert list(starts) == [0, 32, 64, 96, 128]
    cfg.eval_tokens = 0  # all of val.bin: every full window, none overlapping
    assert list(val_windows(data, cfg)) == list(range(0, 2048 - 32, 32))


def test_eval_shards_windows_across_ranks(short_run, monkeypatch):
    """Each rank evaluates its own windows; the summed (loss, tokens) give the single-process mean."""
    ckpt = load_ckpt(short_run.out_dir / "ckpt.pt")
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict(ckpt["model"])
    data = load_split(short_run.data_dir, "synth", "val")
    cfg = SimpleNamespace(**{**settings.DEFAULTS, **SYNTH_RUN})
    totals = []
    monkeypatch.setattr(train.dist, "all_reduce", lambda t, *a, **k: totals.append(t.clone()))
    for rank in range(2):
        train.evaluate(model, data, cfg, train.Dist(rank, rank, 2, "cpu"), nullcontext())
    assert [t[1].item() for t in totals] == [3 * 32, 2 * 32]  # windows 0, 2, 4 and 1, 3
    summed = totals[0] + totals[1]
    assert (summed[0] / summed[1]).item() == pytest.approx(short_run.val_loss, rel=1e-6)


def test_evaluation_switches_dropout_off(short_run):
    """With dropout 0.5 the evaluator still gives one value: the loss of the weights in eval mode."""
    ckpt = load_ckpt(short_run.out_dir / "ckpt.pt")
    model = GPT(GPTConfig(**{**ckpt["model_args"], "dropout": 0.5}))
    model.load_state_dict(ckpt["model"])
    data = load_split(short_run.data_dir, "synth", "val")
    cfg = SimpleNamespace(**{**settings.DEFAULTS, **SYNTH_RUN})
    losses = [train.evaluate(model, data, cfg, train.Dist(0, 0, 1, "cpu"), nullcontext()) for _ in range(2)]
    assert losses[0] == losses[1] == pytest.approx(short_run.val_loss, rel=1e-6)  # the run evaluated with dropout 0


def test_eval_shards_windows_by_global_rank_across_nodes(short_run, monkeypatch):
    """Two nodes of two GPUs (local ranks 0, 1, 0, 1): the four ranks evaluate disjoint windows, all of them."""
    data = load_split(short_run.data_dir, "synth", "val")
    cfg = SimpleNamespace(**{**settings.DEFAULTS, **SYNTH_RUN, "eval_tokens": 0})
    seen, real_windows = [], train.windows

    def recording_windows(data, starts, *args):
        seen.append(list(starts))
        return real_windows(data, starts, *args)

    monkeypatch.setattr(train, "windows", recording_windows)
    monkeypatch.setattr(train.dist, "all_reduce", lambda *a, **k: None)
    model = GPT(GPTConfig(**load_ckpt(short_run.out_dir / "ckpt.pt")["model_args"]))
    per_rank = []
    for rank in range(4):
        seen.clear()
        train.evaluate(model, data, cfg, train.Dist(rank, rank % 2, 4, "cpu"), nullcontext())
        per_rank.append({s for batch in seen for s in batch})
    everything = set(val_windows(data, cfg).tolist())
    assert set().union(*per_rank) == everything
    assert sum(len(r) for r in per_rank) == len(everything)


# ---- resume ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_resume_continues_exactly(synth_data_dir, tmp_path, dropout):
    schedule = dict(eval_interval=3, lr_decay_iters=6, dropout=dropout)
    full_dir, half_dir = tmp_path / "full", tmp_path / "half"
    full_val = run(full_dir, synth_data_dir, max_iters=6, **schedule)
    run(half_dir, synth_data_dir, max_iters=3, **schedule)
    config_before = (half_dir / "config.json").read_text()
    # a run that died after its checkpoint leaves lines the resumed run must redo, not duplicate
    with open(half_dir / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 4, "tokens": 512, "train_loss": 99.0}) + "\n")

    # the checkpoint's model wins on resume: no model arguments are needed
    model_keys = {"vocab_size", "dropout", *TINY_MODEL}
    resume_args = [a for a in argv(half_dir, synth_data_dir, init_from="resume", max_iters=6, **schedule)
                   if a[2:].split("=")[0] not in model_keys]
    resumed_val = train.main(resume_args)

    full_log, resumed_log = read_log(full_dir), read_log(half_dir)
    steps = [r["step"] for r in resumed_log]
    assert steps == sorted(set(steps)) == list(range(7))
    strip = ("tokens_per_s", "elapsed_s")
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed_log] == \
           [{k: v for k, v in r.items() if k not in strip} for r in full_log]
    assert resumed_val == full_val
    assert read_json(half_dir / "result.json")["val_loss"] == full_val

    full_ckpt, resumed_ckpt = load_ckpt(full_dir / "ckpt.pt"), load_ckpt(half_dir / "ckpt.pt")
    assert resumed_ckpt["step"] == full_ckpt["step"] == 6
    for name, tensor in full_ckpt["model"].items():
        assert torch.equal(resumed_ckpt["model"][name], tensor), name
    for i, state in full_ckpt["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(resumed_ckpt["optimizer"]["state"][i][key], value), (i, key)
    # how the run began is kept: config.json untouched, the checkpoint still says 'scratch'
    assert (half_dir / "config.json").read_text() == config_before
    assert json.loads(config_before)["init_from"] == "scratch"
    assert resumed_ckpt["config"]["init_from"] == "scratch"
    # elapsed time carries over: the first step after resuming starts from the checkpoint's time
    assert resumed_log[4]["elapsed_s"] > resumed_log[3]["elapsed_s"]


LINEAR_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


@pytest.mark.parametrize("config_files", [[], ["config/study_cpu.py"]])
def test_only_linear_weights_decay_by_default_and_in_the_study(tmp_path, config_files):
    """The paper's groups: with train.py's default, and in the study's preset, the embeddings
    (wte = the tied LM head, wpe), layernorms and biases are not decayed."""
    overrides = {**({} if config_files else TINY_MODEL), "vocab_size": 64, "device": "cpu"}
    cfg = train.load_config(settings.DEFAULTS, [str(ROOT / f) for f in config_files] +
                            [f"--{k}={v}" for k, v in overrides.items()], settings.CHOICES)
    state = train.prepare(SimpleNamespace(**cfg), train.Dist(0, 0, 1, "cpu"), tmp_path / "ckpt.pt")
    name_of = {id(p): n for n, p in state.raw_model.named_parameters()}
    decayed = {name_of[id(p)] for group in state.optimizer.param_groups if group["weight_decay"] > 0
               for p in group["params"]}
    assert decayed == {n for n in name_of.values() if n.endswith(LINEAR_WEIGHTS)}
    assert {g["weight_decay"] for g in state.optimizer.param_groups} == {0.0, 0.1}


# ---- checkpoint contents --------------------------------------------------------------------

def test_checkpoint_contents(short_run):
    ckpt = load_ckpt(short_run.out_dir / "ckpt.pt")  # weights_only=True: tensors and plain types only
    assert {"model", "optimizer", "step", "model_args", "config", "elapsed_s"} <= ckpt.keys()
    assert ckpt["step"] == 4
    assert ckpt["model_args"] == dict(vocab_size=SYNTH_VOCAB, **TINY_MODEL, dropout=0.0, bias=False,
                                      scale_attn_by_inverse_layer_idx=False, layer_norm_epsilon=1e-5,
                                      attn_divisors=[])
    fresh = GPT(GPTConfig(**ckpt["model_args"]))
    assert list(ckpt["model"]) == list(fresh.state_dict())
    assert not [k for k in ckpt["model"] if k.startswith(("_orig_mod.", "module."))]
    fresh.load_state_dict(ckpt["model"], strict=True)
    assert fresh.lm_head.weight is fresh.transformer.wte.weight
    n_params = len(list(fresh.parameters()))
    assert len(ckpt["optimizer"]["state"]) == n_params
    assert all(float(s["step"]) == 4 for s in ckpt["optimizer"]["state"].values())
    assert ckpt["config"]["max_iters"] == 4 and ckpt["config"]["init_from"] == "scratch"
    assert not list(short_run.out_dir.glob("*.tmp"))  # atomic writes leave no temporaries


# ---- errors: one line, nothing overwritten --------------------------------------------------

def test_existing_checkpoint_is_not_overwritten_by_scratch_run(short_run, tmp_path):
    out_dir = copy_run(short_run, tmp_path)
    before = digests(out_dir)
    message = one_line_exit(train.main, argv(out_dir, short_run.data_dir))
    assert "already exists" in message and "--init_from=resume" in message
    assert digests(out_dir) == before


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_checkpoint(short_run, tmp_path, damage):
    out_dir = copy_run(short_run, tmp_path)
    ckpt = out_dir / "ckpt.pt"
    if damage == "garbage":
        ckpt.write_bytes(b"this is not a checkpoint\x00\xff" * 100)
    else:
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    message = one_line_exit(train.main, argv(out_dir, short_run.data_dir, init_from="resume", max_iters=6))
    assert str(ckpt) in message and "corrupt" in message


def test_checkpoint_of_another_kind(short_run, tmp_path):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    torch.save({"weights": torch.zeros(2)}, out_dir / "ckpt.pt")
    message = one_line_exit(train.main, argv(out_dir, short_run.data_dir, init_from="resume"))
    assert "not a checkpoint of this project" in message


def test_resume_without_checkpoint(synth_data_dir, tmp_path):
    message = one_line_exit(train.main, argv(tmp_path / "empty", synth_data_dir, init_from="resume"))
    assert "ckpt.pt not found" in message


def test_resume_past_max_iters_stops_instead_of_training_forever(short_run, tmp_path):
    out_dir = copy_run(short_run, tmp_path)
    before = digests(out_dir)
    message = one_line_exit(train.main, argv(out_dir, short_run.data_dir, init_from="resume", max_iters=2))
    assert "max_iters=2" in message and "--max_iters=4" in message
    assert digests(out_dir) == before


@pytest.mark.parametrize("tokens_per_step", [100, 0])
def test_tokens_per_step_must_divide_into_micro_batches(synth_data_dir, tmp_path, tokens_per_step):
    out_dir = tmp_path / "run"
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, tokens_per_step=tokens_per_step))
    assert f"tokens_per_step={tokens_per_step}" in message and "128" in message
    assert not out_dir.exists()


def test_missing_data_dir(tmp_path):
    out_dir = tmp_path / "run"
    message = one_line_exit(train.main, argv(out_dir, tmp_path / "no_data"))
    assert "train.bin not found" in message and "prepare_openwebtext.py" in message
    assert not out_dir.exists()


# ---- log.jsonl, config.json, result.json ----------------------------------------------------

def test_log_config_and_result_fields(short_run):
    log = read_log(short_run.out_dir)
    config = read_json(short_run.out_dir / "config.json")
    assert [r["step"] for r in log] == [0, 1, 2, 3, 4]
    assert set(log[0]) == {"step", "tokens", "val_loss", "elapsed_s"}
    for r in log[1:]:
        expected = {"step", "tokens", "lr", "train_loss", "grad_norm", "clipped", "tokens_per_s", "mfu", "elapsed_s"}
        assert set(r) == expected | ({"val_loss"} if r["step"] % 2 == 0 else set())
        assert r["clipped"] == (r["grad_norm"] > config["grad_clip"])
        assert r["tokens"] == r["step"] * 128
        assert r["mfu"] is None  # no peak FLOP/s known for a CPU
        assert r["tokens_per_s"] > 0 and math.isfinite(r["train_loss"]) and r["grad_norm"] > 0
        assert r["lr"] == pytest.approx(train.lr_at(r["step"] - 1, SimpleNamespace(**config)))
    assert all(a["elapsed_s"] <= b["elapsed_s"] for a, b in zip(log, log[1:]))

    assert set(settings.DEFAULTS) <= set(config)
    assert config["max_iters"] == 4 and config["out_dir"] == str(short_run.out_dir)
    assert re.fullmatch(r"[0-9a-f]{40}", config["git_commit"])
    assert config["num_params"] == GPT(GPTConfig(vocab_size=SYNTH_VOCAB, **TINY_MODEL, bias=False)).num_params()
    assert config["world_size"] == 1 and config["device"] == "cpu"
    assert config["seed"] == 1337 and config["data_seed"] == 1337  # a scratch run's batch order: its seed

    result = read_json(short_run.out_dir / "result.json")
    assert result["clip_rate"] == sum(r["clipped"] for r in log[1:]) / 4  # every step was logged

    assert result["val_loss"] == log[-1]["val_loss"] == short_run.val_loss
    assert result["step"] == 4 and result["tokens"] == 4 * 128
    assert result["num_params"] == config["num_params"]


def test_mfu_with_peak_override(synth_data_dir, tmp_path):
    run(tmp_path / "run", synth_data_dir, max_iters=1, eval_interval=1, peak_tflops=1.0)
    record = read_log(tmp_path / "run")[-1]
    flops = GPT(GPTConfig(vocab_size=SYNTH_VOCAB, **TINY_MODEL, bias=False)).flops_per_token()
    assert record["mfu"] == pytest.approx(record["tokens_per_s"] * flops / 1e12, rel=1e-6)


def test_resume_keeps_the_runs_training_settings(synth_data_dir, tmp_path):
    """Resuming with only out_dir continues exactly; a changed training setting is refused."""
    full = tmp_path / "full"
    train.main(argv(full, synth_data_dir, seed=5, max_iters=4))
    part = tmp_path / "part"
    train.main(argv(part, synth_data_dir, seed=5, max_iters=2))
    resumed = train.main([f"--out_dir={part}", "--init_from=resume", f"--data_dir={synth_data_dir}",
                          "--max_iters=4", "--device=cpu"])
    assert resumed == json.loads((full / "result.json").read_text())["val_loss"]
    with pytest.raises(SystemExit) as e:
        train.main([f"--out_dir={part}", "--init_from=resume", f"--data_dir={synth_data_dir}", "--seed=7",
                    "--max_iters=6", "--device=cpu"])
    assert "seed=7" in str(e.value) and "seed=5" in str(e.value) and "\n" not in str(e.value)
    # the batch order too: another data_seed would silently train on other batches from here on
    message = one_line_exit(train.main, [f"--out_dir={part}", "--init_from=resume", f"--data_dir={synth_data_dir}",
                                         "--data_seed=9", "--max_iters=6", "--device=cpu"])
    assert "data_seed=9" in message and "data_seed=5" in message


def test_too_few_eval_tokens_for_one_window_is_refused(synth_data_dir, tmp_path):
    with pytest.raises(SystemExit) as e:
        train.main(argv(tmp_path / "run", synth_data_dir, eval_tokens=8))
    assert "eval_tokens=8" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run" / "ckpt.pt").exists()


def test_resume_ignores_a_half_written_last_log_line(synth_data_dir, tmp_path):
    out = tmp_path / "run"
    train.main(argv(out, synth_data_dir, max_iters=2))
    with open(out / "log.jsonl", "a") as f:
        f.write('{"step": 3, "tok')  # the process died mid-write
    train.main(argv(out, synth_data_dir, init_from="resume", max_iters=4))
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4


@pytest.fixture
def restore_sdpa_switches():
    saved = {s: getattr(torch.backends.cuda, s.replace("enable_", "") + "_enabled")()
             for s in train.SDPA_SWITCHES.values()}
    yield
    for switch, on in saved.items():
        getattr(torch.backends.cuda, switch)(on)


def test_attention_setting_allows_only_the_named_sdpa_kernel_on_cuda(restore_sdpa_switches):
    train.select_attention("cudnn", "cuda:0")
    assert torch.backends.cuda.cudnn_sdp_enabled()
    assert not (torch.backends.cuda.flash_sdp_enabled() or torch.backends.cuda.mem_efficient_sdp_enabled()
                or torch.backends.cuda.math_sdp_enabled())
    train.select_attention("flash", "cpu")  # CPU runs keep PyTorch's choice
    assert torch.backends.cuda.cudnn_sdp_enabled() and not torch.backends.cuda.flash_sdp_enabled()


@pytest.mark.parametrize("key,value", [("attention", "fa3"), ("compile_mode", "fast")])
def test_kernel_and_compile_choices_are_checked(synth_data_dir, tmp_path, key, value):
    assert f"{key}='{value}' is not one of" in one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, **{key: value}))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own imports on torch 2.13
@pytest.mark.parametrize("mode", train.CUDA_GRAPH_MODES)
def test_cuda_graphs_with_accumulation_are_refused(synth_data_dir, tmp_path, mode):
    # on an H200, torch 2.11 raised "accessing tensor output of CUDAGraphs that has been overwritten"
    # at the second micro-batch; the run must stop before compiling instead
    out_dir = tmp_path / "run"
    message = one_line_exit(train.main, argv(out_dir, synth_data_dir, tokens_per_step=256, compile=True, compile_mode=mode))
    assert "cannot accumulate gradients over 2 micro-batches" in message and "batch_size" in message
    assert "=8" in message and not out_dir.exists()


def test_dropout_masks_differ_across_steps_and_ranks_but_not_runs():
    cfg = SimpleNamespace(seed=1337, dropout=0.1)
    seeds = {(step, rank): train.dropout_seed(cfg, step, rank) for step in range(50) for rank in range(8)}
    assert len(set(seeds.values())) == len(seeds)
    assert train.dropout_seed(cfg, 7, 3) == seeds[7, 3]
    assert train.dropout_seed(SimpleNamespace(seed=1338, dropout=0.1), 7, 3) != seeds[7, 3]
    assert train.dropout_seed(SimpleNamespace(seed=1337, dropout=0.0), 7, 3) is None  # no mask: no seeding


def test_a_checkpoint_from_before_decay_embeddings_resumes_with_its_groups(synth_data_dir, tmp_path):
    """Runs made before decay_embeddings existed decayed the embeddings: resuming one keeps that, so its
    optimizer state (grouped that way) loads, instead of failing on mismatched parameter groups."""
    out = tmp_path / "old"
    run(out, synth_data_dir, decay_embeddings=True, max_iters=2)
    ckpt = load_ckpt(out / "ckpt.pt")
    del ckpt["config"]["decay_embeddings"]
    save_edited_checkpoint(ckpt, out / "ckpt.pt")
    run(out, synth_data_dir, init_from="resume", max_iters=4)
    assert read_json(out / "result.json")["step"] == 4
    assert load_ckpt(out / "ckpt.pt")["config"]["decay_embeddings"] is True


@pytest.mark.parametrize("value", [0.0, -8.0])
def test_grad_scale_must_be_positive(synth_data_dir, tmp_path, value):
    assert "grad_scale" in one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, grad_scale=value))


def test_a_pretrained_run_resumes_with_the_command_that_started_it(synth_data_dir, tmp_path):
    """init_from='pretrained' takes the source's shape over the config's; resuming with the same config
    (plus --init_from=resume, as the stop message says) must not refuse that shape."""
    run(tmp_path / "source", synth_data_dir, max_iters=2)
    same = dict(scale_attn_by_inverse_layer_idx=True, pretrained_from=tmp_path / "source" / "ckpt.pt")
    run(tmp_path / "run", synth_data_dir, init_from="pretrained", max_iters=2, **same)
    run(tmp_path / "run", synth_data_dir, init_from="resume", max_iters=4, **same)
    assert load_ckpt(tmp_path / "run" / "ckpt.pt")["model_args"]["scale_attn_by_inverse_layer_idx"] is False
    # a model flag changed since that command is refused, as in any resumed run
    for changed, expected in (({"n_layer": 3}, "n_layer=3 (set by '--n_layer=3') but"),
                              ({"dropout": 0.1}, "dropout=0.1 (set by '--dropout=0.1') but")):
        message = one_line_exit(run, tmp_path / "run", synth_data_dir, init_from="resume", max_iters=6,
                                **{**same, **changed})
        assert expected in message, message


def test_printed_log_lines_carry_the_runs_eta(synth_data_dir, tmp_path, capsys):
    run(tmp_path / "run", synth_data_dir, max_iters=4, log_interval=1, eval_interval=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert "eta" not in lines[0]  # step 0: nothing trained yet to time
    assert all(re.search(r" eta \d+:\d\d:\d\d$", line) for line in lines[1:-1]), lines
    assert lines[-1].endswith(" eta 0:00:00")
    assert all("eta_s" not in record for record in read_log(tmp_path / "run"))  # the log's schema is unchanged


# ---- experiment tracking (Weights & Biases, offline) ----------------------------------------

WANDB_BLOCK = 32768


def wandb_records(run_dir, timeout=60):
    """The records of a finished offline wandb run, once all are written: wandb's service process may still be writing
    its .wandb file when run.finish() has returned (wandb 0.31), so this waits for the file's exit record."""
    deadline = time.time() + timeout
    while True:
        records = wandb_log_records(next(Path(run_dir).glob("run-*.wandb")).read_bytes())
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.time() > deadline:
            return records
        time.sleep(0.2)


def wandb_log_records(data):
    """The records of a .wandb file: a LevelDB-style log (a 7-byte header, then 32 KiB blocks of chunks: crc32c,
    length, type 1 full / 2 first / 3 middle / 4 last, data) of protobuf Records; a chunk still being written is
    left out."""
    from wandb.proto.wandb_internal_pb2 import Record
    assert data[:4] == b":W&B"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        if WANDB_BLOCK - pos % WANDB_BLOCK < 7:  # a block's tail too short for a chunk header is padding
            pos += WANDB_BLOCK - pos % WANDB_BLOCK
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        if pos + 7 + length > len(data):
            break
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            records.append(Record.FromString(pending))
            pending = b""
    return records


def wandb_run(run_dir):
    """An offline run's id, group, name, config and logged history (rows of the user's keys)."""
    records = wandb_records(run_dir)
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    rows = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            for r in records if r.WhichOneof("record_type") == "history"]
    history = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    config = {i.key: json.loads(i.value_json) for i in run.config.update}
    return SimpleNamespace(id=run.run_id, group=run.run_group, name=run.display_name, project=run.project,
                           config=config, history=history)


@pytest.fixture
def wandb_offline(monkeypatch, tmp_path):
    """wandb without an account or network, its own settings and caches under tmp_path."""
    for key, value in dict(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_CONSOLE="off").items():
        monkeypatch.setenv(key, value)
    for key in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(key, str(tmp_path / "wandb_home"))
    monkeypatch.delenv("WANDB_DIR", raising=False)


@pytest.mark.slow
def test_a_tracked_run_sends_every_logged_step_and_a_resume_continues_its_run(synth_data_dir, tmp_path,
                                                                              wandb_offline):
    out = tmp_path / "run"
    run(out, synth_data_dir, wandb_log=True, wandb_group="search", max_iters=4)
    first, = (out / "wandb").glob("offline-run-*")
    tracked = wandb_run(first)
    config = read_json(out / "config.json")
    assert tracked.id == config["wandb_run_id"] != "" and tracked.group == "search"
    assert tracked.name == str(out) and tracked.project == "inheritune"
    assert tracked.config["n_layer"] == 2 and tracked.config["git_commit"] == config["git_commit"]
    assert tracked.history == [{k: v for k, v in line.items() if v is not None} for line in read_log(out)]
    assert [row["step"] for row in tracked.history] == [0, 1, 2, 3, 4]

    run(out, synth_data_dir, init_from="resume", max_iters=6)  # tracking and its run id come from the checkpoint
    second, = set((out / "wandb").glob("offline-run-*")) - {first}
    resumed = wandb_run(second)
    assert resumed.id == tracked.id and resumed.group == "search"
    assert resumed.history == [{k: v for k, v in line.items() if v is not None} for line in read_log(out)[5:]]
    assert [row["step"] for row in resumed.history] == [5, 6]
    run(out, synth_data_dir, init_from="resume", max_iters=8, wandb_log=False)  # the grow loop rerun without --wandb
    assert len(list((out / "wandb").glob("offline-run-*"))) == 2


def test_an_untracked_run_sends_nothing(short_run):
    assert not (short_run.out_dir / "wandb").exists() and read_json(short_run.out_dir / "config.json")[
        "wandb_run_id"] == ""


@pytest.mark.parametrize("resumed", [False, True])
def test_tracking_without_the_wandb_package_stops_in_one_line(synth_data_dir, tmp_path, monkeypatch, resumed):
    out = tmp_path / "run"
    if resumed:  # tracked when it began; the resume takes wandb_log from its checkpoint
        run(out, synth_data_dir, max_iters=2)
        ckpt = load_ckpt(out / "ckpt.pt")
        ckpt["config"]["wandb_log"] = True
        save_edited_checkpoint(ckpt, out / "ckpt.pt")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else find_spec(name, *a))
    given = dict(init_from="resume", max_iters=4) if resumed else dict(wandb_log=True)
    message = one_line_exit(train.main, argv(out, synth_data_dir, **given))
    assert "wandb_log=True needs the wandb package" in message and "pip install wandb" in message
    assert "track nothing (--wandb_log=False)" in message
    assert load_ckpt(out / "ckpt.pt")["step"] == 2 if resumed else not out.exists()


def test_wandb_failing_to_start_stops_in_one_line(synth_data_dir, tmp_path, monkeypatch, wandb_offline):
    import wandb

    def no_login(**settings):
        raise wandb.errors.UsageError("api_key not configured (no-tty). call wandb.login(key=[your_api_key])\nmore")
    monkeypatch.setattr(wandb, "init", no_login)
    message = one_line_exit(train.main, argv(tmp_path / "run", synth_data_dir, wandb_log=True))
    assert message.startswith("wandb could not start (UsageError: api_key not configured") and "WANDB_MODE=offline" \
        in message
