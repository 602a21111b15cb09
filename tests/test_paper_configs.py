"""Every config/gpt2*.py resolves to the paper's recipe: the table below is written out from the paper and
its released GPT-2 code (see docs/differences.md, "Differences from the paper's released code"), independently
of the config files, so a config that drifts from it fails."""
import pytest

import settings
import train
from configurator import load_config
from helpers import ROOT

# per size: shape, max lr, tokens per step, the released loop's gradient factor (micro-steps per GPU)
SIZES = {
    "m": dict(n_head=16, n_embd=1024, learning_rate=3e-4, tokens_per_step=393_216, grad_scale=12.0),
    "l": dict(n_head=20, n_embd=1280, learning_rate=2e-4, tokens_per_step=131_072, grad_scale=8.0),
    "xl": dict(n_head=25, n_embd=1600, learning_rate=1.5e-4, tokens_per_step=131_072, grad_scale=8.0),
}
REFERENCES = {"m": "gpt2m_baseline24", "l": "gpt2l_baseline36", "xl": "gpt2xl_baseline48"}
# config: size, layers, steps, init ('scratch' or the parts inherited from the size's reference), data_seed
RUNS = {
    "gpt2m_baseline24": ("m", 24, 100_000, "scratch", 1337),
    "gpt2m_scratch16": ("m", 16, 100_000, "scratch", 1338),
    "gpt2m_scratch16_2x": ("m", 16, 200_000, "scratch", 1338),
    "gpt2m_inherit12": ("m", 12, 100_000, "full", 1338),
    "gpt2m_inherit14": ("m", 14, 100_000, "full", 1338),
    "gpt2m_inherit16": ("m", 16, 100_000, "full", 1338),
    "gpt2m_ablate_attn_ln": ("m", 16, 100_000, "attn_ln", 1338),
    "gpt2m_ablate_mlp_ln": ("m", 16, 100_000, "mlp_ln", 1338),
    "gpt2m_ablate_attn_mlp_noln": ("m", 16, 100_000, "attn_mlp_noln", 1338),
    "gpt2m_ablate_full": ("m", 16, 100_000, "full", 1338),
    "gpt2l_baseline36": ("l", 36, 100_000, "scratch", 1337),
    "gpt2l_scratch18": ("l", 18, 100_000, "scratch", 1338),
    "gpt2l_scratch18_2x": ("l", 18, 200_000, "scratch", 1338),
    "gpt2l_inherit18": ("l", 18, 100_000, "full", 1338),
    "gpt2xl_baseline48": ("xl", 48, 100_000, "scratch", 1337),
    "gpt2xl_scratch24": ("xl", 24, 100_000, "scratch", 1338),
    "gpt2xl_scratch24_2x": ("xl", 24, 200_000, "scratch", 1338),
    "gpt2xl_inherit24": ("xl", 24, 100_000, "full", 1338),
}
# the paper's appendix and released configs, the same for every run
COMMON = dict(dataset="openwebtext", block_size=1024, vocab_size=50304, bias=False, dropout=0.0,
              scale_attn_by_inverse_layer_idx=True, warmup_iters=2000, min_lr=1e-5, lr_decay_iters=0,
              weight_decay=0.1, decay_embeddings=False, beta1=0.9, beta2=0.95, grad_clip=1.0, seed=1337,
              eval_tokens=0, dtype="bfloat16")


def resolve(name):
    return load_config(settings.DEFAULTS, [str(ROOT / "config" / f"{name}.py")], settings.CHOICES)


def test_the_table_lists_every_paper_config():
    assert sorted(p.stem for p in (ROOT / "config").glob("gpt2*.py")) == sorted(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_paper_config_resolves_to_the_papers_recipe(name):
    size, layers, steps, init, data_seed = RUNS[name]
    cfg = resolve(name)
    expected = {**COMMON, **SIZES[size], "n_layer": layers, "max_iters": steps, "data_seed": data_seed,
                "out_dir": f"out/{name}"}
    if init == "scratch":
        expected.update(init_from="scratch")
    else:  # the paper's inheritance: blocks 0..n-1 (or their ablation parts) and wte = the tied LM head
        reference = resolve(REFERENCES[size])
        expected.update(init_from="inherit", inherit_from=f"{reference['out_dir']}/ckpt.pt", inherit_parts=init,
                        inherit_layers="", inherit_embeddings="wte")
        # what the grow loop and init_from='inherit' pick by default: not the reference's batches
        assert data_seed == settings.target_data_seed(reference, reference["seed"]) != reference["data_seed"]
    assert {k: cfg[k] for k in expected} == expected
    # micro-batches x 8 GPUs divide the global batch
    train.accumulation_steps(train.SimpleNamespace(**cfg), world_size=8)
