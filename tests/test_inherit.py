"""inherit.py: what is copied from where, the hand-off to train.py, one-line errors, the grow loop.

The presets are written out here independently of inherit.PRESETS, so a wrong preset fails.
Runs use the synthetic dataset walk/ of SYNTH_VOCAB ids (a learnable random walk mod SYNTH_VOCAB) with
--vocab_size=SYNTH_VOCAB: the mechanics need no text, and a small vocabulary keeps runs fast.
"""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import grow
import inherit
import settings
import train
from checkpoint import save_checkpoint
from data import load_split, train_batches
from model import GPT, GPTConfig
from helpers import (ROOT, SYNTH_VOCAB, digest, load_ckpt, one_line_exit, read_json, read_log,
                     save_edited_checkpoint)

K = 4  # blocks of every reference here
TINY = dict(n_head=2, n_embd=32, block_size=32)
REF_RUN = dict(  # the reference train.py run: K blocks, T=12 steps, checkpoints at 0, 4, 8, 12
    dataset="walk", vocab_size=SYNTH_VOCAB, n_layer=K, **TINY, device="cpu", dtype="float32",
    batch_size=4, tokens_per_step=128, max_iters=12, learning_rate=3e-3, min_lr=1e-3, warmup_iters=2,
    eval_interval=4, eval_tokens=512, log_interval=1,
)
T = REF_RUN["max_iters"]

# the paper's ablation, written out: module names inside transformer.h.{i}
BLOCK_PARTS = {
    "full": {"ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"},
    "attn_ln": {"ln_1", "attn.c_attn", "attn.c_proj"},
    "mlp_ln": {"ln_2", "mlp.c_fc", "mlp.c_proj"},
    "attn_mlp_noln": {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"},
}
OUTSIDE_BLOCKS = {  # lm_head is tied to wte
    "wte": {"transformer.wte.weight", "lm_head.weight"},
    "wpe": {"transformer.wpe.weight"},
    "ln_f": {"transformer.ln_f.weight", "transformer.ln_f.bias"},
}


pytestmark = pytest.mark.usefixtures("single_process", "one_thread")


# ---- helpers --------------------------------------------------------------------------------

def expected_source(name, parts, layers, embeddings):
    """The reference tensor `name` should come from (None: fresh init), from the definitions above."""
    m = re.fullmatch(r"transformer\.h\.(\d+)\.(.+)\.(weight|bias)", name)
    if m:
        i, module, kind = int(m[1]), m[2], m[3]
        assert module in BLOCK_PARTS["full"], name  # 'full' really is every block tensor
        return f"transformer.h.{layers[i]}.{module}.{kind}" if module in BLOCK_PARTS[parts] else None
    assert any(name in names for names in OUTSIDE_BLOCKS.values()), name
    return name if any(name in OUTSIDE_BLOCKS[e] for e in embeddings) else None



def run_argv(out_dir, data_dir, **overrides):
    return [f"--{k}={v}" for k, v in {**REF_RUN, "out_dir": out_dir, "data_dir": data_dir, **overrides}.items()]


def evaluate(model, data_dir):
    """The val loss train.py would log for `model` (same windows, same evaluator)."""
    cfg = SimpleNamespace(**{**settings.DEFAULTS, **REF_RUN})
    data = load_split(data_dir, "walk", "val")
    return train.evaluate(model, data, cfg, train.Dist(0, 0, 1, "cpu"), nullcontext())


# ---- fixtures -------------------------------------------------------------------------------

REF_ARGS = dict(vocab_size=SYNTH_VOCAB, n_layer=K, **TINY, dropout=0.0, bias=True,
                scale_attn_by_inverse_layer_idx=True)


@pytest.fixture(scope="module")
def ref():
    """An in-memory reference whose every tensor (LayerNorms and biases too) differs from any init."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**REF_ARGS))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.eval()
    return SimpleNamespace(model=model, state={k: v.clone() for k, v in model.state_dict().items()},
                           args=dict(REF_ARGS))


@pytest.fixture(scope="module")
def ref_run(synth_data_dir, tmp_path_factory):
    """A finished K-block train.py run: the reference of the checkpoint, CLI and grow tests."""
    out_dir = tmp_path_factory.mktemp("ref") / "run"
    val_loss = train.main(run_argv(out_dir, synth_data_dir))
    return SimpleNamespace(dir=out_dir, ckpt=out_dir / "ckpt.pt", val_loss=val_loss, data_dir=synth_data_dir)


# ---- what is inherited from where -----------------------------------------------------------

CASES = [  # n, parts, layers, embeddings, seed
    *[(2, parts, "", "wte,wpe,ln_f", 1337) for parts in BLOCK_PARTS],
    (3, "full", "", "wte", 1337),  # the paper's released code: wpe and ln_f fresh
    (2, "full", "0,2", "wte,wpe,ln_f", 1337),  # target block 1 <- reference block 2
    (3, "attn_ln", "3,0,1", "wpe,ln_f", 7),  # reordered blocks, untied wte fresh, another seed
    (1, "mlp_ln", "2", "", 1337),  # nothing outside the blocks
]


@pytest.mark.parametrize("n,parts,layers,embeddings,seed", CASES)
def test_inherited_tensors_come_from_the_reference_and_the_rest_is_scratch_init(
        ref, n, parts, layers, embeddings, seed):
    model, manifest = inherit.inherit(ref.state, ref.args, n, parts=parts, layers=layers,
                                      embeddings=embeddings, seed=seed)
    torch.manual_seed(seed)
    scratch = GPT(GPTConfig(**{**ref.args, "n_layer": n})).state_dict()
    layer_map = [int(i) for i in layers.split(",")] if layers else list(range(n))
    embedding_names = [e for e in embeddings.split(",") if e]
    state = model.state_dict()

    assert model.config.n_layer == n and len(model.transformer.h) == n
    assert list(manifest) == list(state) == list(scratch)
    # scale_attn_by_inverse_layer_idx: each block keeps the divisor it was trained with, r + 1
    assert model.config.divisors() == [r + 1 for r in layer_map]
    assert model.config.attn_divisors == ([] if layer_map == list(range(n)) else [r + 1 for r in layer_map])
    inherited = 0
    for name, tensor in state.items():
        src = expected_source(name, parts, layer_map, embedding_names)
        counterpart = ref.state[src or expected_source(name, "full", layer_map, ["wte", "wpe", "ln_f"])]
        assert not torch.equal(counterpart, scratch[name]), name  # so equality below tells them apart
        if src is None:
            assert manifest[name] == "init", name
            assert torch.equal(tensor, scratch[name]), name
        else:
            inherited += 1
            assert manifest[name] == src, name
            assert torch.equal(tensor, ref.state[src]), name
    assert model.lm_head.weight is model.transformer.wte.weight  # still tied
    assert 0 < inherited < len(state) or (parts, embeddings) == ("full", "wte,wpe,ln_f")


def test_manifest_summary_names_blocks_and_parts(ref):
    model, manifest = inherit.inherit(ref.state, ref.args, 2, parts="attn_ln", layers="0,2", embeddings="wte")
    summary = inherit.manifest_summary(manifest, model.config)
    assert "\n" not in summary
    assert "0<-0 1<-2" in summary
    assert "block parts: attn.c_attn, attn.c_proj, ln_1 |" in summary
    assert "outside blocks: lm_head, transformer.wte |" in summary
    assert "attention logit divisors kept from the reference: 1 3 |" in summary
    n_tensors = len(ref.model.state_dict()) - 2 * 6 * 2  # the reference's 4 blocks less 2
    assert f"inherited {sum(v != 'init' for v in manifest.values())} of {n_tensors} tensors" in summary
    in_place, manifest = inherit.inherit(ref.state, ref.args, 2, layers="0,1")
    assert "divisors" not in inherit.manifest_summary(manifest, in_place.config)


@pytest.mark.parametrize("layers", ["", "0,1,2,3"])
def test_all_k_blocks_reproduce_the_reference_exactly(ref, layers):
    model, manifest = inherit.inherit(ref.state, ref.args, K, layers=layers, embeddings="wte,wpe,ln_f")
    assert "init" not in manifest.values()
    x = torch.randint(0, SYNTH_VOCAB, (3, REF_ARGS["block_size"]), generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], ref.model(x)[0])
        # the comparison can fail: fresh wpe/ln_f, or the blocks in another order, change the logits
        fresh_embeddings, _ = inherit.inherit(ref.state, ref.args, K)  # the default: wpe and ln_f fresh
        permuted, _ = inherit.inherit(ref.state, ref.args, K, layers="0,1,3,2", embeddings="wte,wpe,ln_f")
        for other in (fresh_embeddings.eval(), permuted.eval()):
            assert (other(x)[0] - ref.model(x)[0]).abs().max() > 1e-3


def test_a_moved_block_computes_what_it_did_in_the_reference(ref):
    """Under scale_attn_by_inverse_layer_idx reference block 3 divides its logits by 4; moved to position 1
    it must still divide by 4, not 2. Sharpened queries make the attention depend strongly on the divisor."""
    C = REF_ARGS["n_embd"]
    sharp = {k: v.clone() for k, v in ref.state.items()}
    for i in range(K):
        sharp[f"transformer.h.{i}.attn.c_attn.weight"][:C] *= 8  # the query rows
    reference = GPT(GPTConfig(**REF_ARGS)).eval()
    reference.load_state_dict(sharp)
    model, _ = inherit.inherit(sharp, ref.args, 2, layers="0,3")
    plain = GPT(GPTConfig(**{**REF_ARGS, "n_layer": 2})).eval()  # position 1's divisor, 2: what a plain GPT-2 does
    plain.load_state_dict(model.state_dict())
    x = torch.randn(3, REF_ARGS["block_size"], C, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = reference.transformer.h[3](x)
        assert torch.equal(model.eval().transformer.h[1](x), expected)
        assert (plain.transformer.h[1](x) - expected).abs().max() > 0.1  # a wrong divisor would show


# ---- growth by stacking ---------------------------------------------------------------------

def assert_stacked(model, source_state, blocks):
    """Every tensor of the stacked model equals its source's: block j is source block blocks[j], the rest as is."""
    for name, tensor in model.state_dict().items():
        m = re.fullmatch(r"transformer\.h\.(\d+)\.(.+)", name)
        src = f"transformer.h.{blocks[int(m[1])]}.{m[2]}" if m else name
        assert torch.equal(tensor, source_state[src]), name


def test_stacking_repeats_the_blocks_in_g_stack_order_over_one_and_two_rounds(ref):
    """One round 4 -> 8 blocks, and two rounds 2 -> 4 -> 8 (the study's K/4 -> K/2 -> K): block j is source block
    j mod n, everything outside the blocks copied, and each copy keeps its block's trained divisor (block i: i + 1)."""
    one, manifest = inherit.stack(ref.state, ref.args, 8)
    assert_stacked(one, ref.state, [0, 1, 2, 3, 0, 1, 2, 3])
    assert one.config.divisors() == [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]
    assert "init" not in manifest.values() and manifest["transformer.h.6.mlp.c_fc.weight"] == \
        "transformer.h.2.mlp.c_fc.weight"
    assert manifest["selection"] == {"policy": "gstack", "blocks": [0, 1, 2, 3, 0, 1, 2, 3], "scores": None,
                                     "reference_layers": 4}
    small, _ = inherit.inherit(ref.state, ref.args, 2, embeddings="wte,wpe,ln_f")  # blocks 0, 1 and all else
    middle, _ = inherit.stack(small.state_dict(), {**ref.args, "n_layer": 2}, 4)
    args4 = {**ref.args, "n_layer": 4, "attn_divisors": middle.config.attn_divisors}
    two, manifest = inherit.stack(middle.state_dict(), args4, 8)
    assert_stacked(two, ref.state, [0, 1] * 4)
    assert two.config.divisors() == [1.0, 2.0] * 4 and manifest["selection"]["blocks"] == [0, 1, 2, 3] * 2


def test_a_stacked_copy_computes_what_its_block_did(ref):
    """The copy of block 0 at position 4 divides its attention logits by 1, as block 0 was trained, not by 5."""
    C = REF_ARGS["n_embd"]
    sharp = {k: v.clone() for k, v in ref.state.items()}
    sharp["transformer.h.0.attn.c_attn.weight"][:C] *= 8  # sharpened queries: the attention depends on the divisor
    source = GPT(GPTConfig(**REF_ARGS)).eval()
    source.load_state_dict(sharp)
    model, _ = inherit.stack(sharp, ref.args, 8)
    plain = GPT(GPTConfig(**{**REF_ARGS, "n_layer": 8})).eval()  # its new position's divisor, 5
    plain.load_state_dict(model.state_dict())
    x = torch.randn(3, REF_ARGS["block_size"], C, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(model.eval().transformer.h[4](x), source.transformer.h[0](x))
        assert (plain.transformer.h[4](x) - source.transformer.h[0](x)).abs().max() > 0.1


def test_gradual_stacking_appends_copies_of_the_top_blocks():
    assert inherit.stack_layers(4, 6, "gradual") == [0, 1, 2, 3, 2, 3]
    assert inherit.stack_layers(4, 6) == [0, 1, 2, 3, 0, 1]  # G_stack: from the bottom again
    assert inherit.stack_layers(3, 8, "gradual") == inherit.stack_layers(3, 8) == [0, 1, 2, 0, 1, 2, 0, 1]
    assert inherit.stack_layers(4, 8, "gradual") == inherit.stack_layers(4, 8)  # doubling: the two agree
    assert "no growth" in one_line_exit(inherit.stack_layers, 4, 4)
    assert "unknown stacking order" in one_line_exit(inherit.stack_layers, 2, 4, "middle")


def test_cli_stacks_a_run_at_its_step_and_train_continues_it_to_max_iters(ref_run, tmp_path, capsys):
    """The stacked checkpoint sits at the source's step T with its batch order and clipped steps; trained as printed
    it goes on to --max-iters (its total steps), drawing the batches of steps T.. of the source's order."""
    out = tmp_path / "stacked" / "ckpt.pt"
    message = one_line_exit(inherit.main, ["--reference", str(ref_run.ckpt), "--stack", "8", "--out", str(out)])
    assert "give --max-iters" in message and not out.exists()
    assert "no growth" in one_line_exit(inherit.main, ["--reference", str(ref_run.ckpt), "--stack", "4",
                                                       "--max-iters", "16", "--out", str(out)])
    capsys.readouterr()
    inherit.main(["--reference", str(ref_run.ckpt), "--stack", "8", "--max-iters", "16", "--out", str(out)])
    source, ckpt = load_ckpt(ref_run.ckpt), load_ckpt(out)
    assert ckpt["step"] == T and "optimizer" not in ckpt and ckpt["clipped_steps"] == source["clipped_steps"]
    assert ckpt["model_args"]["n_layer"] == 8 and ckpt["inherit_manifest"]["selection"]["blocks"] == [0, 1, 2, 3] * 2
    assert {k: ckpt["config"][k] for k in ("init_from", "inherit_from", "inherit_layers", "max_iters")} == {
        "init_from": "stack", "inherit_from": str(ref_run.ckpt), "inherit_layers": "0,1,2,3,0,1,2,3", "max_iters": 16}
    command = shlex.split(capsys.readouterr().out.strip().splitlines()[-1].split(": ", 1)[1])
    assert command[:2] == ["python", "train.py"] and "--max_iters=16" in command
    train.main(command[2:])
    config, result = read_json(out.parent / "config.json"), read_json(out.parent / "result.json")
    assert result["step"] == 16 and [r["step"] for r in read_log(out.parent)][0] == T  # T + 4 steps in all
    assert config["data_seed"] == source["config"]["data_seed"] and config["init_from"] == "stack"
    assert config["attn_divisors"] == [] and not config["scale_attn_by_inverse_layer_idx"]  # every divisor 1
    clipped_here = sum(r["clipped"] for r in read_log(out.parent) if "clipped" in r)  # logged every step
    assert source["clipped_steps"] > 0 and result["clip_rate"] * 16 == source["clipped_steps"] + clipped_here


# ---- which blocks: selection policies -------------------------------------------------------

def reference_with(ref, edit):
    """The reference checkpoint (as load_model_source gives it) after edit(state) changed some tensors."""
    state = {k: v.clone() for k, v in ref.state.items()}
    with torch.no_grad():
        edit(state)
    return {"model": state, "model_args": {**GPTConfig(**REF_ARGS).__dict__}, "config": {}}


def make_identity(state, i):
    """Block i adds nothing to the residual stream: its output equals its input."""
    for proj in ("attn.c_proj", "mlp.c_proj"):
        state[f"transformer.h.{i}.{proj}.weight"].zero_()
        state[f"transformer.h.{i}.{proj}.bias"].zero_()


def test_spread_takes_evenly_spaced_blocks_from_the_first_to_the_last():
    assert inherit.spread_layers(K, K) == list(range(K))  # n = K: the first n
    assert [inherit.spread_layers(n, 4) for n in (1, 2, 3)] == [[0], [0, 3], [0, 2, 3]]
    assert inherit.spread_layers(6, 12) == [0, 2, 4, 7, 9, 11]
    assert inherit.choose_layers({"model_args": REF_ARGS}, 2, "spread") == ("0,3", {
        "policy": "spread", "blocks": [0, 3], "scores": None, "reference_layers": K})


def test_influence_never_chooses_an_identity_block(ref, synth_data_dir, capsys):
    reference = reference_with(ref, lambda state: make_identity(state, 2))
    for n in range(1, K):
        layers, record = inherit.choose_layers(reference, n, "influence", data_dir=synth_data_dir, dataset="walk")
        assert 2 not in record["blocks"] and len(record["blocks"]) == n
        assert record["blocks"] == sorted(record["blocks"]) and layers == ",".join(map(str, record["blocks"]))
    scores = record["scores"]
    assert abs(scores[2]) < 1e-9 and min(scores[i] for i in (0, 1, 3)) > 1e-3
    assert f"blocks chosen by influence: [0, 1, 3] of {K} | influence per block: " in capsys.readouterr().out


def attend_to_the_first_token(state, i):
    """Block i's heads put (almost) all attention on the first token; blocks before it are made the identity,
    so its input is the embeddings, where only position 0 has a large component 0."""
    C = REF_ARGS["n_embd"]
    for j in range(i):
        make_identity(state, j)
    state["transformer.wte.weight"][:, 0] = 0
    state["transformer.wpe.weight"][:, 0] = 0
    state["transformer.wpe.weight"][0, 0] = 5
    state[f"transformer.h.{i}.ln_1.weight"].fill_(1)
    state[f"transformer.h.{i}.ln_1.bias"].zero_()
    w, b = state[f"transformer.h.{i}.attn.c_attn.weight"], state[f"transformer.h.{i}.attn.c_attn.bias"]
    w[:2 * C].zero_()
    b[:2 * C].zero_()
    b[:C] = 3  # every query the same: (3, ..., 3)
    w[C:2 * C, 0] = 1  # every key: component 0 of the normalised input, large at position 0 only


def test_rank_drops_first_a_block_whose_heads_attend_to_the_first_token(ref, synth_data_dir):
    reference = reference_with(ref, lambda state: attend_to_the_first_token(state, 2))
    layers, record = inherit.choose_layers(reference, K - 1, "rank", data_dir=synth_data_dir, dataset="walk")
    assert layers == "0,1,3" and record["policy"] == "rank"
    scores = record["scores"]  # mean attention rank over heads, from analyze.py
    assert scores[2] == 1.0 and min(scores[i] for i in (0, 1, 3)) > 2
    plain = inherit.choose_layers(reference_with(ref, lambda state: None), K - 1, "rank", data_dir=synth_data_dir,
                                  dataset="walk")[1]
    assert plain["blocks"] != [0, 1, 3]  # the reference alone would drop another block: the edit decided it


def test_selection_is_printed_and_recorded_in_the_checkpoints_manifest(ref, synth_data_dir, tmp_path, capsys):
    save_checkpoint(tmp_path / "ref" / "ckpt.pt", ref.model, {}, step=0)
    out = tmp_path / "inh" / "ckpt.pt"
    inherit.main(["--reference", str(tmp_path / "ref" / "ckpt.pt"), "--n-layer", "2", "--select", "influence",
                  "--data-dir", str(synth_data_dir), "--dataset", "walk", "--out", str(out)])
    ckpt = load_ckpt(out)
    selection = ckpt["inherit_manifest"]["selection"]
    expected = inherit.choose_layers(load_ckpt(tmp_path / "ref" / "ckpt.pt"), 2, "influence", data_dir=synth_data_dir,
                                     dataset="walk")[1]
    assert selection == expected and len(selection["scores"]) == K
    assert ckpt["config"]["inherit_select"] == "influence"
    blocks = selection["blocks"]
    assert ckpt["inherit_manifest"]["transformer.h.1.mlp.c_fc.weight"] == f"transformer.h.{blocks[1]}.mlp.c_fc.weight"
    assert f"blocks chosen by influence: {blocks} of {K}" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs,expected", [
    (dict(select="best"), "unknown select 'best'"),
    (dict(select="rank", layers="0,1"), "both layers '0,1' and select 'rank'"),
    (dict(select="influence", n_layer=K + 1), f"n_layer={K + 1} but the reference has {K} blocks"),
])
def test_selection_errors_are_one_line(kwargs, expected):
    kwargs = {"n_layer": 2, **kwargs}
    assert expected in one_line_exit(inherit.choose_layers, {"model_args": REF_ARGS}, **kwargs)


# ---- one-line errors ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,expected", [
    (dict(n_layer=0), "n_layer=0"),
    (dict(n_layer=-1), "n_layer=-1"),
    (dict(n_layer=K + 1), f"n_layer={K + 1} but the reference has {K} blocks"),
    (dict(n_layer=2, parts="attn"), "unknown parts 'attn'"),
    (dict(n_layer=2, layers="0,x"), "not a comma list"),
    (dict(n_layer=2, layers="0,"), "not a comma list"),
    (dict(n_layer=2, layers="0"), "must name 2 distinct blocks in 0..3"),
    (dict(n_layer=2, layers="0,1,2"), "must name 2 distinct blocks"),
    (dict(n_layer=2, layers="1,1"), "must name 2 distinct blocks"),
    (dict(n_layer=2, layers="0,4"), "must name 2 distinct blocks in 0..3"),
    (dict(n_layer=2, layers="-1,0"), "must name 2 distinct blocks in 0..3"),
    (dict(n_layer=2, embeddings="wte,lm_head"), "unknown embedding part(s) ['lm_head']"),
])
def test_bad_arguments_stop_with_one_line(ref, kwargs, expected):
    assert expected in one_line_exit(inherit.inherit, ref.state, ref.args, **kwargs)


def test_moved_blocks_are_allowed_without_scale_attn_by_inverse_layer_idx(ref):
    args = {**ref.args, "scale_attn_by_inverse_layer_idx": False}
    model, manifest = inherit.inherit(ref.state, args, 2, layers="0,2")
    assert torch.equal(model.state_dict()["transformer.h.1.mlp.c_fc.weight"], ref.state["transformer.h.2.mlp.c_fc.weight"])
    assert model.config.attn_divisors == []  # every block divides by 1, as it did in the reference


def test_missing_or_corrupt_reference_checkpoint(tmp_path):
    missing = tmp_path / "nothing" / "ckpt.pt"
    message = one_line_exit(inherit.inherit_from_checkpoint, missing, 2)
    assert str(missing) in message and "not found" in message
    message = one_line_exit(inherit.main, ["--reference", str(missing), "--n-layer", "2",
                                           "--out", str(tmp_path / "out" / "ckpt.pt")])
    assert str(missing) in message and "not found" in message
    corrupt = tmp_path / "corrupt" / "ckpt.pt"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"PK\x03\x04 not a checkpoint" * 50)
    message = one_line_exit(inherit.inherit_from_checkpoint, corrupt, 2)
    assert str(corrupt) in message and "corrupt" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("n_layer", ["0", "-1", "5"])
def test_cli_n_layer_out_of_range(ref_run, tmp_path, n_layer):
    out = tmp_path / "out" / "ckpt.pt"
    message = one_line_exit(inherit.main, ["--reference", str(ref_run.ckpt), "--n-layer", n_layer,
                                           "--out", str(out)])
    assert f"n_layer={n_layer} but the reference has {K} blocks" in message
    assert not out.exists()


def test_train_inherit_without_inherit_from(ref_run, tmp_path):
    args = run_argv(tmp_path / "run", ref_run.data_dir, init_from="inherit", n_layer=2)
    message = one_line_exit(train.main, args)
    assert "inherit_from" in message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key,value", [("n_embd", 64), ("n_head", 4), ("block_size", 16)])
def test_train_inherit_with_a_config_that_disagrees_with_the_reference(ref_run, tmp_path, key, value):
    out_dir = tmp_path / "run"
    args = run_argv(out_dir, ref_run.data_dir, init_from="inherit", inherit_from=ref_run.ckpt,
                    n_layer=2, **{key: value})
    message = one_line_exit(train.main, args)
    assert f"{key}={value}" in message and str(ref_run.ckpt) in message and f"--{key}={REF_RUN[key]}" in message
    assert not out_dir.exists()


# ---- the CLI checkpoint and the hand-off to train.py ----------------------------------------

def test_cli_checkpoint_is_the_inherited_model_and_train_continues_it(ref_run, tmp_path):
    out = tmp_path / "inh" / "ckpt.pt"
    inherit.main(["--reference", str(ref_run.ckpt), "--n-layer", "2", "--parts", "attn_ln",
                  "--embeddings", "wte", "--out", str(out)])
    ckpt = load_ckpt(out)  # weights_only: tensors and plain types only
    ref_ckpt = load_ckpt(ref_run.ckpt)
    expected, manifest = inherit.inherit(ref_ckpt["model"], ref_ckpt["model_args"], 2, parts="attn_ln",
                                         embeddings="wte")
    assert ckpt["step"] == 0 and "optimizer" not in ckpt
    assert ckpt["inherit_manifest"] == {**manifest, "selection": {"blocks": [0, 1], "policy": "first", "scores": None,
                                                                  "reference_layers": ref_ckpt["model_args"]["n_layer"]}}
    assert ckpt["model_args"] == {**ref_ckpt["model_args"], "n_layer": 2}
    assert list(ckpt["model"]) == list(expected.state_dict())
    for name, tensor in expected.state_dict().items():
        assert torch.equal(ckpt["model"][name], tensor), name
    config = ckpt["config"]
    assert config["data_seed"] == ref_ckpt["config"]["data_seed"] + 1  # not the reference's batch order
    assert config["init_from"] == "inherit" and config["inherit_from"] == str(ref_run.ckpt)
    assert config["inherit_parts"] == "attn_ln" and config["inherit_embeddings"] == "wte"
    assert config["n_layer"] == 2 and config["out_dir"] == str(out.parent)

    # never overwritten
    before = digest(out)
    message = one_line_exit(inherit.main, ["--reference", str(ref_run.ckpt), "--n-layer", "3",
                                           "--out", str(out)])
    assert "already exists" in message and digest(out) == before

    # the hand-off changes nothing: train.py sees the inherited model's loss at step 0 ...
    common = dict(max_iters=3, eval_interval=3)
    resume = dict(init_from="resume", n_layer=2, **common)  # another n_layer than the checkpoint's is refused
    step0 = train.main(run_argv(out.parent, ref_run.data_dir, eval_only=True, **resume))
    assert step0 == evaluate(expected, ref_run.data_dir)
    # ... and trains it exactly as a run that inherits by itself (init_from='inherit')
    final = train.main(run_argv(out.parent, ref_run.data_dir, **resume))
    direct_dir = tmp_path / "direct"
    direct = train.main(run_argv(direct_dir, ref_run.data_dir, init_from="inherit", inherit_from=ref_run.ckpt,
                                 n_layer=2, inherit_parts="attn_ln", inherit_embeddings="wte", **common))
    assert final == direct
    timing = ("elapsed_s", "tokens_per_s")
    resumed = {r["step"]: {k: v for k, v in r.items() if k not in timing} for r in read_log(out.parent)}
    inherited = {r["step"]: {k: v for k, v in r.items() if k not in timing} for r in read_log(direct_dir)}
    assert resumed.keys() == inherited.keys() == {0, 1, 2, 3}  # the step-0 evaluation is logged too
    assert inherited[0]["val_loss"] == step0
    for step, record in resumed.items():
        assert record == inherited[step], step
    trained = load_ckpt(out)
    assert trained["step"] == 3 and trained["inherit_manifest"] == ckpt["inherit_manifest"]  # the manifest stays
    assert trained["config"]["init_from"] == "inherit"  # how the run began survives the resume


def test_moved_blocks_keep_their_divisors_through_training_and_resume(ref, synth_data_dir, tmp_path):
    save_checkpoint(tmp_path / "ref" / "ckpt.pt", ref.model, {}, step=0)
    shape = dict(n_layer=2, bias=True, scale_attn_by_inverse_layer_idx=True, eval_interval=2)
    out = tmp_path / "run"
    train.main(run_argv(out, synth_data_dir, init_from="inherit", inherit_from=tmp_path / "ref" / "ckpt.pt",
                        inherit_select="spread", max_iters=2, **shape))
    assert load_ckpt(out / "ckpt.pt")["model_args"]["attn_divisors"] == [1.0, 4.0]  # blocks 0 and 3
    assert load_ckpt(out / "ckpt.pt")["inherit_manifest"]["selection"]["blocks"] == [0, 3]
    assert read_json(out / "config.json")["attn_divisors"] == [1.0, 4.0]
    train.main(run_argv(out, synth_data_dir, init_from="resume", max_iters=3, **shape))
    ckpt = load_ckpt(out / "ckpt.pt")
    assert ckpt["step"] == 3 and ckpt["model_args"]["attn_divisors"] == [1.0, 4.0]


def test_checkpoints_from_before_attn_divisors_resume_with_the_default(synth_data_dir, tmp_path):
    out = tmp_path / "old"
    train.main(run_argv(out, synth_data_dir, n_layer=1, max_iters=1, eval_interval=1))
    ckpt = load_ckpt(out / "ckpt.pt")
    del ckpt["model_args"]["attn_divisors"], ckpt["config"]["attn_divisors"]
    save_edited_checkpoint(ckpt, out / "ckpt.pt")
    config = read_json(out / "config.json")
    del config["attn_divisors"]
    (out / "config.json").write_text(json.dumps(config))
    train.main(run_argv(out, synth_data_dir, n_layer=1, init_from="resume", max_iters=2, eval_interval=1))
    assert load_ckpt(out / "ckpt.pt")["step"] == 2


def test_the_grow_loop_tracks_its_runs_in_one_group_and_no_run_takes_another_runs_tracking(ref_run, tmp_path,
                                                                                           capsys):
    """--wandb sends every launch to the search's group (study.py hands its own); a reference's tracking settings
    (its wandb run id above all) reach neither the rounds' recipe nor an inherited checkpoint."""
    def command(*flags, **overrides):
        args = inherit.parse_args(["--grow-until-baseline", "--out", str(tmp_path / "grow"), *flags])
        return grow.train_command(inherit.grow_launcher(args), overrides)
    assert {"--wandb_log=True", f"--wandb_group={tmp_path / 'grow'}", "--wandb_project=inheritune"} <= set(
        command("--wandb", out_dir="r", max_iters=5))
    # rerun without --wandb, a tracked round resumes untracked (it would take wandb_log from its checkpoint)
    assert not any("wandb" in a for a in command(out_dir="r"))
    assert [a for a in command(out_dir="r", init_from="resume") if "wandb" in a] == ["--wandb_log=False"]
    assert {"--wandb_group=out/study_cpu", "--wandb_project=p"} <= set(
        command("--wandb", "--wandb-group", "out/study_cpu", "--wandb-project", "p"))

    tracked = {"wandb_log": True, "wandb_project": "p", "wandb_run_name": "ref", "wandb_group": "g",
               "wandb_run_id": "abcd1234"}
    assert grow.reference_overrides({"n_layer": K, **tracked}) == {"n_layer": K}
    assert settings.changed_settings({"learning_rate": 1.0, **tracked}) == ["--learning_rate=1.0"]  # cards, hand-offs
    ckpt = load_ckpt(ref_run.ckpt)
    ckpt["config"].update(tracked)
    save_edited_checkpoint(ckpt, tmp_path / "tracked_ref.pt")
    inherit.main(["--reference", str(tmp_path / "tracked_ref.pt"), "--n-layer", "2", "--out", str(tmp_path / "t" /
                                                                                                  "ckpt.pt")])
    assert not set(tracked) & set(load_ckpt(tmp_path / "t" / "ckpt.pt")["config"])
    assert "wandb" not in capsys.readouterr().out.strip().splitlines()[-1]


def test_cli_prints_a_train_command_that_runs_as_printed(ref_run, tmp_path, capsys):
    out = tmp_path / "inh" / "ckpt.pt"
    inherit.main(["--reference", str(ref_run.ckpt), "--n-layer", "2", "--out", str(out)])
    command = shlex.split(capsys.readouterr().out.strip().splitlines()[-1].split(": ", 1)[1])
    assert command[:2] == ["python", "train.py"] and "--n_layer=2" not in command
    # a config file with another shape is refused, naming the file it came from
    tiny = str(ROOT / "config" / "tiny_cpu.py")
    message = one_line_exit(train.main, [tiny, "--init_from=resume", f"--out_dir={out.parent}"])
    assert f"(set by {tiny})" in message and f"from {tiny} or start a new out_dir" in message
    message = one_line_exit(train.main, command[2:] + ["--n_head=4"])
    assert "n_head=4 (set by '--n_head=4')" in message and "drop '--n_head=4'" in message
    train.main(command[2:])  # as printed: trains with the reference's settings to the reference's T
    config, result = read_json(out.parent / "config.json"), read_json(out.parent / "result.json")
    assert result["step"] == T and config["n_layer"] == 2 and config["init_from"] == "inherit"
    assert {k: config[k] for k in ("dataset", "learning_rate", "tokens_per_step")} == {
        k: REF_RUN[k] for k in ("dataset", "learning_rate", "tokens_per_step")}


def test_cli_out_must_be_a_ckpt_pt(ref_run, tmp_path):
    """train.py resumes OUT_DIR/ckpt.pt: another file name would be trained from somewhere else."""
    out = tmp_path / "inh16"
    message = one_line_exit(inherit.main, ["--reference", str(ref_run.ckpt), "--n-layer", "2",
                                           "--out", str(out)])
    assert "ckpt.pt" in message
    assert not out.exists()


@pytest.mark.parametrize("parts,layers,embeddings", [("full", "", "wte,wpe,ln_f"), ("mlp_ln", "3,1", "wte"),
                                                     ("full", "", None)])  # None: left unset, the paper's wte
def test_train_inherit_starts_from_inherit_inherit(ref_run, tmp_path, parts, layers, embeddings):
    out_dir = tmp_path / "run"
    chosen = {} if embeddings is None else {"inherit_embeddings": embeddings}
    val_loss = train.main(run_argv(out_dir, ref_run.data_dir, init_from="inherit", inherit_from=ref_run.ckpt,
                                   n_layer=2, inherit_parts=parts, inherit_layers=layers, **chosen,
                                   max_iters=0, seed=5))
    ref_ckpt = load_ckpt(ref_run.ckpt)
    expected, manifest = inherit.inherit(ref_ckpt["model"], ref_ckpt["model_args"], 2, parts, layers,
                                         embeddings or "wte", seed=5)
    ckpt = load_ckpt(out_dir / "ckpt.pt")  # saved at step 0
    selection = ckpt["inherit_manifest"].pop("selection")  # the policy and its blocks, beside the tensors' sources
    assert ckpt["step"] == 0 and ckpt["inherit_manifest"] == manifest
    assert selection["blocks"] == ([int(i) for i in layers.split(",")] if layers else [0, 1])
    outside = {n for n, src in manifest.items() if src != "init" and not n.startswith("transformer.h.")}
    assert outside == {n for e in (embeddings or "wte").split(",") for n in OUTSIDE_BLOCKS[e] if n in manifest}
    for name, tensor in expected.state_dict().items():
        assert torch.equal(ckpt["model"][name], tensor), name
    assert read_log(out_dir)[0] == {**read_log(out_dir)[0], "step": 0, "val_loss": val_loss}
    assert val_loss == evaluate(expected, ref_run.data_dir)
    assert val_loss != ref_run.val_loss  # not the reference itself
    config = read_json(out_dir / "config.json")
    assert (config["init_from"], config["inherit_parts"], config["inherit_layers"]) == ("inherit", parts, layers)
    # data_seed left at -1: not the reference's batch order (its seed, 1337) but the next one
    assert config["seed"] == 5 and config["data_seed"] == read_json(ref_run.dir / "config.json")["data_seed"] + 1


# ---- grow until baseline --------------------------------------------------------------------

def grow_argv(ref_run, out):
    # wpe and ln_f inherited too (an option): with them fresh, at this tiny scale no deeper round beats
    # round 1, and test_grow_stops_at_the_first_round_matching_the_baseline needs one that does
    return ["--grow-until-baseline", "--reference-run", str(ref_run.dir), "--out", str(out),
            "--start-n", "1", "--step-n", "1", "--embeddings", "wte,wpe,ln_f"]


def set_baseline(out, val_loss):
    out.mkdir(parents=True, exist_ok=True)
    (out / "baseline.json").write_text(json.dumps({"val_loss": val_loss}))


def table(results):
    return [(r["n"], r["val_loss"], r["tokens"], r["params"]) for r in results["rounds"]], results["stopped_at"]


@pytest.fixture(scope="module")
def grown(ref_run, tmp_path_factory):
    """An uninterrupted grow loop with n = 1, 2, 3 and a baseline no round reaches (-1)."""
    out = tmp_path_factory.mktemp("grow") / "plain"
    set_baseline(out, -1.0)
    inherit.main(grow_argv(ref_run, out))
    return out


def test_a_default_grow_loop_starts_at_half_depth_and_adds_two_blocks(tmp_path, monkeypatch):
    """The paper's loop: n = K/2, K/2 + 2, ... below K (rounds stubbed: none matches the baseline)."""
    ref_dir = tmp_path / "ref"
    save_checkpoint(ref_dir / "ckpt.pt", GPT(GPTConfig(vocab_size=64, n_layer=12, n_head=1, n_embd=8, block_size=8)),
                    {"seed": 1, "max_iters": 0}, step=0)
    visited = []

    def fake_round(launcher, overrides, out_dir, config_files=()):
        visited.append(overrides["n_layer"])
        return {"num_params": 0, "val_loss": 9.0, "tokens": 0, "elapsed_s": 0.0, "clip_rate": 0.0}

    monkeypatch.setattr(grow, "run_training", fake_round)
    monkeypatch.setattr(grow, "measure_baseline", lambda *args: 1.0)
    inherit.main(["--grow-until-baseline", "--reference-run", str(ref_dir), "--out", str(tmp_path / "grow")])
    assert visited == [6, 8, 10]


@pytest.mark.slow
def test_train_py_starts_without_the_data_preparation_or_its_tokenizers():
    """train.py imports inherit.py, and so the grow loop, which has the built-in corpus prepared in a process of its
    own: starting a run loads neither prepare_openwebtext.py nor tiktoken."""
    modules = ("prepare_openwebtext", "tokenizer", "tiktoken")
    script = f"import sys, train; print([m for m in {modules} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_a_grow_loop_with_a_selection_policy_hands_it_to_every_round(tmp_path, monkeypatch, capsys):
    """--select reaches each round's train.py settings and the results; a search of another policy is not
    mixed with it (rounds stubbed)."""
    ref_dir = tmp_path / "ref"
    save_checkpoint(ref_dir / "ckpt.pt", GPT(GPTConfig(vocab_size=64, n_layer=8, n_head=1, n_embd=8, block_size=8)),
                    {"seed": 1, "max_iters": 0}, step=0)
    rounds = []

    def fake_round(launcher, overrides, out_dir, config_files=()):
        rounds.append(overrides)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return {"num_params": 0, "val_loss": 9.0, "tokens": 0, "elapsed_s": 0.0, "clip_rate": 0.0}

    monkeypatch.setattr(grow, "run_training", fake_round)
    monkeypatch.setattr(grow, "measure_baseline", lambda *args: 1.0)
    out = tmp_path / "grow"
    inherit.main(["--grow-until-baseline", "--reference-run", str(ref_dir), "--out", str(out), "--select", "spread"])
    assert [(r["n_layer"], r["inherit_select"], r["inherit_layers"]) for r in rounds] == [
        (4, "spread", ""), (6, "spread", "")]
    assert read_json(out / "results.json")["inherited"] == "blocks (full, spread), wte"
    message = one_line_exit(inherit.main, ["--grow-until-baseline", "--reference-run", str(ref_dir),
                                           "--out", str(out), "--select", "rank"])
    assert "inherit_select" in message


@pytest.mark.slow
def test_baseline_is_the_reference_val_loss_and_is_cached(ref_run, tmp_path):
    """Measured by train.py through the rounds' launcher (a process of its own), then cached."""
    path = tmp_path / "baseline.json"
    ref_config = load_ckpt(ref_run.ckpt)["config"]
    launcher = grow.Launcher()
    assert grow.measure_baseline(launcher, ref_run.dir, ref_config, path) == ref_run.val_loss
    assert read_json(path)["val_loss"] == ref_run.val_loss and read_json(path)["world_size"] == 1
    path.write_text('{"val_loss": 1.5}')
    assert grow.measure_baseline(launcher, ref_run.dir, ref_config, path) == 1.5


def test_a_reference_evaluation_made_with_other_settings_is_not_taken_as_the_baseline(tmp_path, monkeypatch):
    """eval_only takes no lock: another evaluation of the reference (here over 64 tokens) may write its eval.json
    between the grow loop's evaluation and its reading of the file."""
    ref_config = {"eval_tokens": 0, "dataset": "synth", "max_iters": 4}

    def evaluated_meanwhile_by_another(args, settings):
        assert (settings["eval_tokens"], settings["dataset"], settings["eval_only"]) == (0, "synth", True)
        (tmp_path / "eval.json").write_text(json.dumps({"step": 4, "val_loss": 1.5, "eval_tokens": 64,
                                                        "dataset": "synth", "world_size": 1}))
        return True
    monkeypatch.setattr(grow, "launch", evaluated_meanwhile_by_another)
    message = one_line_exit(grow.measure_baseline, grow.Launcher(), tmp_path, ref_config, tmp_path / "baseline.json")
    assert f"{tmp_path / 'eval.json'} was made with {{'eval_tokens': 64, 'dataset': 'synth'}}, not the " \
           f"reference's {{'eval_tokens': 0, 'dataset': 'synth'}}" in message
    assert not (tmp_path / "baseline.json").exists()


@pytest.mark.slow
def test_grow_rounds_and_results(grown, ref_run, synth_data_dir):
    results = read_json(grown / "results.json")
    assert results["K"] == K and results["T"] == T and results["stopped_at"] is None
    assert results["baseline_val_loss"] == -1.0 and results["reference"] == str(ref_run.dir)
    assert [r["n"] for r in results["rounds"]] == [1, 2, 3]
    md_rows = (grown / "results.md").read_text().splitlines()[2:]
    assert len(md_rows) == 3
    for r, row in zip(results["rounds"], md_rows):
        run_dir = grown / f"n{r['n']:02d}"
        assert r["run_dir"] == str(run_dir)
        result = read_json(run_dir / "result.json")
        assert r["val_loss"] == result["val_loss"] and r["tokens"] == result["tokens"] == T * 128
        assert r["baseline"] == -1.0 and r["gap"] == r["val_loss"] + 1.0
        model_args = {**load_ckpt(ref_run.ckpt)["model_args"], "n_layer": r["n"]}
        assert r["params"] == GPT(GPTConfig(**model_args)).num_params()
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == str(r["n"]) and cells[2] == f"{r['val_loss']:.4f}" and cells[3] == "-1.0000"
        assert cells[4] == f"{r['gap']:+.4f}" and cells[5] == f"{T * 128:,}"
        config = read_json(run_dir / "config.json")  # each round: the reference's recipe, inherited
        assert config["init_from"] == "inherit" and config["inherit_from"] == str(ref_run.ckpt)
        assert config["n_layer"] == r["n"] and config["max_iters"] == T
        for key in ("learning_rate", "min_lr", "warmup_iters", "tokens_per_step", "eval_tokens", "dataset"):
            assert config[key] == REF_RUN[key], key
        assert config["seed"] == settings.DEFAULTS["seed"] and config["data_dir"] == str(synth_data_dir)
        assert config["inherit_embeddings"] == "wte,wpe,ln_f"
        assert cells[8] == "blocks (full), wte,wpe,ln_f" and cells[7] == f"{r['clip_rate']:.2f}"
        assert r["clip_rate"] == result["clip_rate"]
    # round 1 began as inherit.inherit's model (seed: the reference's)
    ref_ckpt = load_ckpt(ref_run.ckpt)
    model, _ = inherit.inherit(ref_ckpt["model"], ref_ckpt["model_args"], 1, embeddings="wte,wpe,ln_f",
                               seed=settings.DEFAULTS["seed"])
    assert read_log(grown / "n01")[0]["val_loss"] == evaluate(model, synth_data_dir)


@pytest.mark.slow
def test_grow_rounds_do_not_replay_the_references_batches(grown, ref_run, synth_data_dir):
    """Same model seed as the reference, but another batch order (data_seed), both recorded in config.json."""
    ref_config = read_json(ref_run.dir / "config.json")
    assert ref_config["seed"] == ref_config["data_seed"] == settings.DEFAULTS["seed"]  # a scratch run: its seed
    data = load_split(synth_data_dir, "walk", "train")
    d = train.Dist(0, 0, 1, "cpu")

    def batch(config, step):
        return torch.cat([x for x, _ in train_batches(data, SimpleNamespace(**config), step, 1, d)])

    assert read_json(grown / "results.json")["data_seed"] == ref_config["data_seed"] + 1
    for n in (1, 2, 3):
        config = read_json(grown / f"n{n:02d}" / "config.json")
        assert config["seed"] == ref_config["seed"] and config["data_seed"] == ref_config["data_seed"] + 1
        for step in range(T):
            assert not torch.equal(batch(config, step), batch(ref_config, step)), (n, step)


@pytest.mark.slow
def test_grow_with_the_papers_gradient_scale_clips_almost_every_step(synth_data_dir, tmp_path, capsys):
    """The paper's defaults: a reference trained with grad_scale=8 hands it to its rounds, which inherit
    the blocks and wte only, and print and record a clip rate near 1."""
    ref_dir = tmp_path / "ref"
    train.main(run_argv(ref_dir, synth_data_dir, max_iters=6, grad_scale=8.0))
    out = tmp_path / "grow"
    set_baseline(out, -1.0)
    capsys.readouterr()
    inherit.main(["--grow-until-baseline", "--reference-run", str(ref_dir), "--out", str(out), "--start-n", "3"])
    printed = capsys.readouterr().out
    results = read_json(out / "results.json")
    [round3] = results["rounds"]
    config = read_json(out / "n03" / "config.json")
    assert config["grad_scale"] == 8.0 and config["inherit_embeddings"] == "wte"
    assert results["inherited"] == "blocks (full), wte"
    assert round3["clip_rate"] == read_json(out / "n03" / "result.json")["clip_rate"] >= 0.8
    assert f"clip rate {round3['clip_rate']:.2f}" in printed


@pytest.mark.slow
def test_grow_stops_at_the_first_round_matching_the_baseline(grown, ref_run, tmp_path, capsys):
    losses = {r["n"]: r["val_loss"] for r in read_json(grown / "results.json")["rounds"]}
    # a baseline that round 1 misses and a later round r meets: the loop must go on, then stop at r
    later_better = [n for n in (2, 3) if losses[n] < min(losses[m] for m in range(1, n))]
    assert later_better, f"no round beats round 1 at this recipe, so no baseline can stop later: {losses}"
    r = later_better[0]
    between = (losses[r] + min(losses[m] for m in range(1, r))) / 2
    cases = [(between, r), (losses[r], r), (1e9, 1), (-1.0, None)]  # equal counts as matched
    for i, (baseline, stop) in enumerate(cases):
        out = tmp_path / f"grow{i}"
        shutil.copytree(grown, out)  # finished rounds are reused, not retrained
        set_baseline(out, baseline)
        capsys.readouterr()
        inherit.main(grow_argv(ref_run, out))
        printed = capsys.readouterr().out
        assert "running:" not in printed and "resuming:" not in printed
        results = read_json(out / "results.json")
        assert results["stopped_at"] == stop
        ran = list(range(1, (stop or K - 1) + 1))
        assert [row["n"] for row in results["rounds"]] == ran
        assert [row["gap"] for row in results["rounds"]] == [losses[n] - baseline for n in ran]
        assert len((out / "results.md").read_text().splitlines()) == 2 + len(ran)
        if stop is None:
            assert f"needs all {K} layers" in printed
        else:
            assert f"n={stop} of {K} layers matches the {K}-layer reference after the same {T} steps" in printed


@pytest.mark.slow
def test_grow_scratch_control_trains_the_last_depth_from_scratch_on_the_rounds_batches(grown, ref_run, tmp_path,
                                                                                        capsys, monkeypatch):
    monkeypatch.setattr(grow, "cores", lambda: 2)  # a control starts beside the first round: unused, n=1 is not last
    out = tmp_path / "grow"
    shutil.copytree(grown, out)  # the rounds are reused; only the controls train
    capsys.readouterr()
    inherit.main(grow_argv(ref_run, out) + ["--scratch-control"])
    printed = capsys.readouterr().out
    results = read_json(out / "results.json")
    last = results["rounds"][-1]
    control = out / f"scratch{last['n']:02d}"
    assert results["scratch_control"] == {"n": last["n"], "val_loss": read_json(control / "result.json")["val_loss"],
                                          "run_dir": str(control)}
    round_config, config = read_json(out / f"n{last['n']:02d}" / "config.json"), read_json(control / "config.json")
    assert config["init_from"] == "scratch" and config["n_layer"] == last["n"]
    same = ("data_seed", "seed", "max_iters", "learning_rate", "tokens_per_step", "grad_scale")
    assert {k: config[k] for k in same} == {k: round_config[k] for k in same}
    assert f"Inheritune at n={last['n']}: {last['val_loss']:.4f}" in printed
    assert f"{last['val_loss'] - results['scratch_control']['val_loss']:+.4f} from inheriting" in printed
    assert (out / "scratch01" / "result.json").exists()


@pytest.mark.slow
def test_on_two_cpu_cores_the_control_trains_beside_the_first_round_on_a_core_each(ref_run, tmp_path, capsys,
                                                                                    monkeypatch):
    """A search that stops at its first round, as the built-in job's does, takes its scratch control from the run
    trained beside that round: both started before either ended, each told to use one of the two cores, the control's
    output in its train.log."""
    events, real = [], grow.run_child

    def recorded(cmd, output=None, env=None):
        run = Path(next(a for a in cmd if a.startswith("--out_dir=")).split("=", 1)[1]).name
        events.append(("start", run, (env or {}).get("OMP_NUM_THREADS")))
        ok = real(cmd, output, env)
        events.append(("end", run, None))
        return ok
    monkeypatch.setattr(grow, "run_child", recorded)
    monkeypatch.setattr(grow, "cores", lambda: 2)
    out = tmp_path / "grow"
    set_baseline(out, 100.0)  # the first round matches
    inherit.main(grow_argv(ref_run, out) + ["--scratch-control"])
    printed = capsys.readouterr().out
    results = read_json(out / "results.json")
    assert results["stopped_at"] == 1 and results["scratch_control"]["n"] == 1
    assert sorted(events[:2]) == [("start", "n01", "1"), ("start", "scratch01", "1")]
    assert sorted(events[2:]) == [("end", "n01", None), ("end", "scratch01", None)]
    assert "scratch control at n=1 trains beside the first round, each on 1 of 2 cores" in printed
    assert "running:" in (out / "scratch01" / "train.log").read_text()
    assert not [line for line in printed.splitlines() if line.startswith("running:") and "scratch01" in line]
    round_config, config = read_json(out / "n01" / "config.json"), read_json(out / "scratch01" / "config.json")
    assert config["init_from"] == "scratch" and config["n_layer"] == 1
    same = ("data_seed", "seed", "max_iters", "learning_rate", "tokens_per_step", "grad_scale")
    assert {k: config[k] for k in same} == {k: round_config[k] for k in same}


def test_a_search_from_an_earlier_version_resumes_despite_a_setting_train_no_longer_has(tmp_path):
    recipe = {"n_layer": 4, "init_from": "inherit", "learning_rate": 1e-3}
    (tmp_path / "search.json").write_text(json.dumps({**recipe, "inherit_allow_moved": False}))
    grow.check_same_search(tmp_path, recipe)  # no exit: the old key changes nothing a round computes
    assert "learning_rate" in one_line_exit(grow.check_same_search, tmp_path, {**recipe, "learning_rate": 2e-3})


def test_grow_refuses_an_unfinished_reference(synth_data_dir, tmp_path):
    ref_dir = tmp_path / "ref"
    train.main(run_argv(ref_dir, synth_data_dir, max_iters=4))
    # as if it died at step 4 of max_iters=12 (or is still training): not the reference of T steps
    ckpt = load_ckpt(ref_dir / "ckpt.pt")
    ckpt["config"]["max_iters"] = T
    save_edited_checkpoint(ckpt, ref_dir / "ckpt.pt")
    (ref_dir / "result.json").unlink()
    out = tmp_path / "grow"
    set_baseline(out, -1.0)
    message = one_line_exit(inherit.main, ["--grow-until-baseline", "--reference-run", str(ref_dir),
                                           "--out", str(out)])
    assert "unfinished" in message and str(ref_dir) in message
    assert not (out / "n02").exists()


PAUSER = '''
import os, signal, sys
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[1]).parent))
import train
save = train.save_checkpoint
def pausing_save(path, model, config, step, *args, **kwargs):
    save(path, model, config, step, *args, **kwargs)
    if step > 0 and config["n_layer"] == 2 and Path({marker!r}).exists():
        Path({marker!r} + ".paused").write_text(str(step))
        os.kill(os.getpid(), signal.SIGSTOP)  # the test SIGKILLs the whole grow loop now
train.save_checkpoint = pausing_save
train.main(sys.argv[2:])
'''


@pytest.mark.slow
def test_grow_interrupted_and_rerun_equals_an_uninterrupted_grow(grown, ref_run, tmp_path):
    """Kill the grow loop (SIGKILL, whole process group) in round n=2 right after its step-4
    checkpoint, then rerun the same command: round 1 is skipped, round 2 resumes exactly."""
    marker = str(tmp_path / "pause")
    launcher = tmp_path / "launcher.py"
    launcher.write_text(PAUSER.format(marker=marker))
    out = tmp_path / "grow"
    set_baseline(out, -1.0)
    cmd = [sys.executable, str(ROOT / "inherit.py"), *grow_argv(ref_run, out),
           "--launcher", f"{shlex.quote(sys.executable)} {shlex.quote(str(launcher))}"]
    Path(marker).write_text("")
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        looked = 0  # no deadline: a slow machine only waits longer; a grow loop that ends without pausing fails
        while not Path(marker + ".paused").exists():
            assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            if (out / "results.json").exists():
                json.loads((out / "results.json").read_text())  # valid whenever one looks
                looked += 1
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert looked > 0
    assert load_ckpt(out / "n02" / "ckpt.pt")["step"] == 4
    assert not (out / "n02" / "result.json").exists() and not (out / "n03").exists()
    assert [r["n"] for r in read_json(out / "results.json")["rounds"]] == [1]
    finished = {p: (p.stat().st_mtime_ns, digest(p)) for p in (out / "n01").iterdir()}

    os.unlink(marker)
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert re.search(r"resuming: .*--n_layer=2 .*--init_from=resume", rerun.stdout)
    assert "--n_layer=1 " not in rerun.stdout  # round 1 was not run again
    assert {p: (p.stat().st_mtime_ns, digest(p)) for p in (out / "n01").iterdir()} == finished

    plain_rows, plain_stop = table(read_json(grown / "results.json"))
    rows, stop = table(read_json(out / "results.json"))
    assert stop == plain_stop is None
    assert [row[0] for row in rows] == [row[0] for row in plain_rows] == [1, 2, 3]
    for row, plain in zip(rows, plain_rows):
        assert row[1] == pytest.approx(plain[1], rel=0, abs=1e-6), row[0]
        assert row[2:] == plain[2:]
    steps = [r["step"] for r in read_log(out / "n02")]
    assert steps == sorted(set(steps)) == list(range(T + 1))  # the killed steps redone, not duplicated


@pytest.mark.slow
def test_grow_refuses_to_mix_rounds_of_another_recipe(grown, ref_run, tmp_path):
    """Rerunning into a grow folder reuses its rounds, so other settings must not slip in."""
    out = tmp_path / "grow"
    shutil.copytree(grown, out)
    before = read_json(out / "results.json")
    message = one_line_exit(inherit.main, grow_argv(ref_run, out) + ["--parts", "mlp_ln"])
    assert "inherit_parts" in message and "--out" in message
    assert read_json(out / "results.json") == before


def _finished_stubbed_grow(tmp_path, monkeypatch):
    """A grow loop run to its end over an 8-block reference, its rounds n=4 and 6 stubbed by their result.json
    (val loss 9.0 against a baseline of 1.0); returns its --out and its command."""
    ref_dir, out = tmp_path / "ref", tmp_path / "grow"
    save_checkpoint(ref_dir / "ckpt.pt", GPT(GPTConfig(vocab_size=64, n_layer=8, n_head=1, n_embd=8, block_size=8)),
                    {"seed": 1, "max_iters": 0}, step=0)
    argv = ["--grow-until-baseline", "--reference-run", str(ref_dir), "--out", str(out)]
    monkeypatch.setattr(grow, "launch", lambda *args: True)  # a round "trains" by having its result.json
    for n in (4, 6):
        (out / f"n{n:02d}").mkdir(parents=True)
        (out / f"n{n:02d}" / "result.json").write_text(json.dumps(
            {"step": 0, "num_params": 0, "val_loss": 9.0, "tokens": 0, "elapsed_s": 0.0, "clip_rate": 0.0}))
    (out / "baseline.json").write_text('{"val_loss": 1.0}')
    inherit.main(argv)
    return out, argv


@pytest.mark.parametrize("name, words", [("search.json", "restore it, or choose another --out"),
                                         ("baseline.json", "the reference is evaluated again"),
                                         ("n04/result.json", "evaluated again from its checkpoint")])
@pytest.mark.parametrize("damage", ["", "{", "[1, 2]"])
def test_a_damaged_file_of_the_grow_loop_ends_in_one_line(tmp_path, monkeypatch, name, words, damage):
    """Empty, half-written or not an object: one line naming the file and what to do (rounds stubbed)."""
    out, argv = _finished_stubbed_grow(tmp_path, monkeypatch)
    (out / name).write_text(damage)
    message = one_line_exit(inherit.main, argv)
    assert message.startswith(f"{out / name} is damaged") and words in message


@pytest.mark.parametrize("name, words", [("baseline.json", "the reference is evaluated again"),
                                         ("n04/result.json", "evaluated again from its checkpoint")])
@pytest.mark.parametrize("value, shown", [("true", "True"), ("NaN", "nan"), ("[9.0]", "[9.0]"), ('"9"', "'9'")])
def test_a_grow_loop_file_whose_loss_is_not_a_finite_number_ends_in_one_line(tmp_path, monkeypatch, name, words,
                                                                              value, shown):
    """true is not 1.0, NaN not a loss, a list not a number: refused naming the file, and results.json is kept."""
    out, argv = _finished_stubbed_grow(tmp_path, monkeypatch)
    before = (out / "results.json").read_text()
    record = json.dumps({**json.loads((out / name).read_text()), "val_loss": "LOSS"})
    (out / name).write_text(record.replace('"LOSS"', value))
    message = one_line_exit(inherit.main, argv)
    assert message.startswith(f"{out / name} is damaged (val_loss is {shown}, not a finite number)") and \
        words in message, message
    assert (out / "results.json").read_text() == before
