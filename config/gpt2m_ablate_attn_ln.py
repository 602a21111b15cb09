# Ablation: 16 of GPT2-medium's 24 blocks, inheriting only parts 'attn_ln' of each block, 100K steps
# (paper val loss for attention + its layernorm: 2.84). Needs out/gpt2m_baseline24/ckpt.pt.
from config._gpt2m import *  # noqa: F401,F403

out_dir = "out/gpt2m_ablate_attn_ln"
n_layer = 16
init_from = "inherit"
inherit_from = "out/gpt2m_baseline24/ckpt.pt"
inherit_parts = "attn_ln"
inherit_embeddings = "wte"  # the default, as the released code: wte (= tied lm_head); wpe and ln_f fresh
