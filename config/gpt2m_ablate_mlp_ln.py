# Ablation: 16 of GPT2-medium's 24 blocks, inheriting only parts 'mlp_ln' of each block, 100K steps
# (paper val loss for MLP + its layernorm: 2.85). Needs out/gpt2m_baseline24/ckpt.pt.
from config._gpt2m import *  # noqa: F401,F403

out_dir = "out/gpt2m_ablate_mlp_ln"
n_layer = 16
init_from = "inherit"
inherit_from = "out/gpt2m_baseline24/ckpt.pt"
inherit_parts = "mlp_ln"
inherit_embeddings = "wte"  # the default, as the released code: wte (= tied lm_head); wpe and ln_f fresh
