# Inheritune: first 24 of GPT2-xl's 48 blocks + embedding, then 100K steps (paper val loss 2.64)
# Needs the trained reference: torchrun --nproc_per_node=8 train.py config/gpt2xl_baseline48.py
from config._gpt2xl import *  # noqa: F401,F403

out_dir = "out/gpt2xl_inherit24"
n_layer = 24
init_from = "inherit"
inherit_from = "out/gpt2xl_baseline48/ckpt.pt"
inherit_embeddings = "wte"  # the default, as the released code: wte (= tied lm_head); wpe and ln_f fresh
