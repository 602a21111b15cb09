# Inheritune: first 12 of GPT2-medium's 24 blocks + embedding, then 100K steps (paper: 12 -> 2.87, 14 -> 2.84, 16 -> 2.81)
# Needs the trained reference: torchrun --nproc_per_node=8 train.py config/gpt2m_baseline24.py
from config._gpt2m import *  # noqa: F401,F403

out_dir = "out/gpt2m_inherit12"
n_layer = 12
init_from = "inherit"
inherit_from = "out/gpt2m_baseline24/ckpt.pt"
inherit_embeddings = "wte"  # the default, as the released code: wte (= tied lm_head); wpe and ln_f fresh
