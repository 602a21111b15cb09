"""The GPT-2 model: causality, parity with Hugging Face, initialisation, FLOPs and optimizer groups."""
import math

import pytest
import torch

import model as model_module
from checkpoint import from_hf_state_dict
from helpers import PADDED_VOCAB
from model import GPT, GPTConfig, peak_flops

HF_VOCAB = 50257


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**overrides):
    args = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=PADDED_VOCAB, bias=True)
    args.update(overrides)
    return GPTConfig(**args)


def expected_param_names(n_layer):
    """HF GPT2LMHeadModel's parameter names (state-dict keys, without the attention mask buffers)."""
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for i in range(n_layer):
        for part in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            names += [f"transformer.h.{i}.{part}.weight", f"transformer.h.{i}.{part}.bias"]
    return names + ["transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight"]


# ---- causality ------------------------------------------------------------------------------

@pytest.mark.parametrize("scale_attn", [False, True])
def test_future_tokens_never_change_earlier_logits(scale_attn):
    torch.manual_seed(0)
    model = GPT(tiny_config(vocab_size=97, block_size=12, scale_attn_by_inverse_layer_idx=scale_attn)).eval()
    x = torch.randint(0, 97, (2, 12))
    with torch.no_grad():
        base, _ = model(x)
        for t in range(12):
            changed = x.clone()
            changed[:, t] = (changed[:, t] + 1 + torch.arange(2)) % 97
            logits, _ = model(changed)
            torch.testing.assert_close(logits[:, :t], base[:, :t], rtol=0, atol=1e-6)
            # the changed position itself must see its new token, or the check above proves nothing
            assert (logits[:, t] - base[:, t]).abs().max() > 1e-4


def test_forward_rejects_sequences_longer_than_block_size():
    model = GPT(tiny_config(vocab_size=97, block_size=8))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 9, dtype=torch.long))


# ---- parity with Hugging Face's GPT-2 -------------------------------------------------------

@pytest.mark.parametrize("scale_attn,eps", [(False, 1e-5), (True, 1e-2)])
def test_logits_match_hugging_face_gpt2(scale_attn, eps):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=32, n_positions=32, vocab_size=HF_VOCAB,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        scale_attn_by_inverse_layer_idx=scale_attn, layer_norm_epsilon=eps, attn_implementation="eager")
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():
        # GPT-2's own init (std 0.02, zero biases) makes attention nearly uniform and hides a
        # missing transpose or a wrong attention scale; large random weights and biases do not
        for p in hf.parameters():
            p.normal_(0.0, 0.2)
    hf_sd = hf.state_dict()

    ours = GPT(tiny_config(vocab_size=HF_VOCAB, scale_attn_by_inverse_layer_idx=scale_attn,
                           layer_norm_epsilon=eps)).eval()
    sd = from_hf_state_dict(hf_sd)
    assert set(sd) == set(expected_param_names(2)) == set(ours.state_dict())
    ours.load_state_dict(sd, strict=True)
    assert ours.lm_head.weight.data_ptr() == ours.transformer.wte.weight.data_ptr()  # still tied

    x = torch.randint(0, HF_VOCAB, (2, 32))
    with torch.no_grad():
        expected = hf(x).logits
        logits, _ = ours(x)
    assert logits.shape == (2, 32, HF_VOCAB)  # the exact vocabulary: no padded rows to take probability
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)

    # the scale option and epsilon must matter at this size, else the parity above would not test them
    for change in ({"scale_attn_by_inverse_layer_idx": not scale_attn}, {"layer_norm_epsilon": 1e-5 + 1e-2 - eps}):
        same = dict(vocab_size=HF_VOCAB, scale_attn_by_inverse_layer_idx=scale_attn, layer_norm_epsilon=eps)
        other = GPT(tiny_config(**{**same, **change})).eval()
        other.load_state_dict(sd)
        with torch.no_grad():
            other_logits, _ = other(x)
        assert (other_logits - logits).abs().max() > 1e-3


def test_from_hf_state_dict_transposes_conv1d_and_keeps_vocab():
    n = 8
    # hub GPT-2 files are GPT2Model state dicts: no "transformer." prefix
    hf_sd = {"wte.weight": torch.randn(5, n), "wpe.weight": torch.randn(4, n),
             "h.0.attn.c_attn.weight": torch.randn(n, 3 * n),
             "h.0.attn.bias": torch.ones(1, 1, 4, 4),
             "h.0.mlp.c_fc.weight": torch.randn(n, 4 * n)}
    sd = from_hf_state_dict(hf_sd)
    hf_sd = {f"transformer.{k}": v for k, v in hf_sd.items()}
    assert "transformer.h.0.attn.bias" not in sd
    assert torch.equal(sd["transformer.h.0.attn.c_attn.weight"], hf_sd["transformer.h.0.attn.c_attn.weight"].t())
    assert torch.equal(sd["transformer.h.0.mlp.c_fc.weight"], hf_sd["transformer.h.0.mlp.c_fc.weight"].t())
    assert torch.equal(sd["transformer.wpe.weight"], hf_sd["transformer.wpe.weight"])
    assert torch.equal(sd["transformer.wte.weight"], hf_sd["transformer.wte.weight"])  # no padding rows
    assert torch.equal(sd["lm_head.weight"], sd["transformer.wte.weight"])  # filled in when absent


# ---- initialisation and names ---------------------------------------------------------------

def test_parameter_names_are_hugging_face_gpt2_names():
    model = GPT(tiny_config(n_layer=3))
    assert list(model.state_dict()) == expected_param_names(3)
    # the tied lm_head is one parameter, listed once, under the embedding's name
    assert [n for n, _ in model.named_parameters()] == expected_param_names(3)[:-1]


def test_init_statistics():
    torch.manual_seed(0)
    n_layer, n_embd = 4, 128
    model = GPT(tiny_config(n_layer=n_layer, n_head=4, n_embd=n_embd, block_size=64))
    resid_std = 0.02 / math.sqrt(2 * n_layer)
    assert model.lm_head.weight is model.transformer.wte.weight
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert torch.all(p == 0), name
        elif ".ln_" in name or name.startswith("transformer.ln_f"):
            assert torch.all(p == 1), name
        else:
            std = resid_std if name.endswith("c_proj.weight") else 0.02
            assert p.std().item() == pytest.approx(std, rel=0.05), name
            assert abs(p.mean().item()) < 0.1 * std, name
    # small logits at init: the loss is that of a uniform guess over the vocabulary
    x = torch.randint(0, PADDED_VOCAB, (2, 64))
    with torch.no_grad():
        _, loss = model(x, torch.randint(0, PADDED_VOCAB, (2, 64)))
    assert loss.item() == pytest.approx(math.log(PADDED_VOCAB), abs=0.15)


def test_no_bias_option_removes_all_biases():
    model = GPT(tiny_config(bias=False))
    assert not [n for n, _ in model.named_parameters() if n.endswith("bias")]


# ---- FLOPs, peak FLOP/s and optimizer -------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_num_params_and_flops_per_token(bias):
    L, d, T, V = 3, 48, 40, 1000
    model = GPT(GPTConfig(n_layer=L, n_head=4, n_embd=d, block_size=T, vocab_size=V, bias=bias))
    if bias:  # per block: 2 LayerNorms (4d), c_attn, c_proj, c_fc, c_proj (12d^2 + 9d)
        n = V * d + L * (12 * d * d + 13 * d) + 2 * d
    else:
        n = V * d + L * (12 * d * d + 2 * d) + d
    assert model.num_params() == n  # the position embedding is not counted
    assert model.num_params(non_embedding=False) == n + T * d
    assert model.flops_per_token() == 6 * n + 12 * L * d * T
    assert model.flops_per_token(attention_factor=6) == 6 * n + 6 * L * d * T  # llm.c


@pytest.mark.parametrize("name, tflops", [
    ("NVIDIA H100 80GB HBM3", 989.0),
    ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.0),
    ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA GeForce RTX 4090", None),
    ("cpu", None),
])
def test_peak_flops_lookup(name, tflops):
    assert peak_flops(name) == (None if tflops is None else tflops * 1e12)


def test_peak_flops_override_wins():
    assert peak_flops("cpu", 123.0) == 123.0e12
    assert peak_flops("NVIDIA H100 80GB HBM3", 500.0) == 500.0e12
    assert peak_flops("NVIDIA H100 80GB HBM3", 0.0) == model_module.PEAK_TFLOPS["H100"] * 1e12


MATMULS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


@pytest.mark.parametrize("decay_embeddings", [False, True])
def test_weight_decay_groups(decay_embeddings):
    """The paper's code decays only nn.Linear weights; decay_embeddings adds wte (= lm_head) and wpe."""
    model = GPT(tiny_config(n_layer=2))
    opt = model.configure_optimizer(weight_decay=0.1, learning_rate=1e-3, betas=(0.9, 0.95), device_type="cpu",
                                    decay_embeddings=decay_embeddings)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    expected = [f"transformer.h.{i}.{m}.weight" for i in range(2) for m in MATMULS]
    if decay_embeddings:
        expected += ["transformer.wte.weight", "transformer.wpe.weight"]  # the tied lm_head once, as wte
    assert sorted(names[id(p)] for p in decay["params"]) == sorted(expected)
    assert sorted(model.decayed_parameter_names(decay_embeddings)) == sorted(expected)
    assert sorted(names[id(p)] for p in no_decay["params"]) == sorted(set(names.values()) - set(expected))
    # every parameter is optimised exactly once (the tied lm_head is not a second copy)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(names) and len(set(ids)) == len(ids)
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.9, 0.95)


def test_bf16_autocast_runs_every_matmul_in_bf16():
    """No fp32 matmul is left in the bf16 training step (forward and backward), so TF32 flags
    would change nothing: every mm/addmm/bmm and attention call sees bf16 operands."""
    from torch.utils._python_dispatch import TorchDispatchMode

    matmuls = ("mm", "addmm", "bmm", "baddbmm", "_scaled_dot_product")
    seen = []

    class RecordMatmuls(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name.startswith(matmuls):
                operands = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()][:3]
                seen.append((name, {a.dtype for a in operands}))  # attention's fp32 logsumexp is no operand
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=2, n_head=2, n_embd=16, bias=True,
                          scale_attn_by_inverse_layer_idx=True))
    idx = torch.randint(0, 64, (2, 16))
    with RecordMatmuls():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, loss = model(idx, idx)
        loss.backward()
    names = {name for name, _ in seen}
    assert {"mm", "addmm"} <= names and any(n.startswith("_scaled_dot_product") for n in names)
    assert all(dtypes == {torch.bfloat16} for _, dtypes in seen), [s for s in seen if s[1] != {torch.bfloat16}]
