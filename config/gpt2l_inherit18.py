# Inheritune: first 18 of GPT2-large's 36 blocks + embedding, then 100K steps (paper val loss 2.80)
# Needs the trained reference: torchrun --nproc_per_node=8 train.py config/gpt2l_baseline36.py
from config._gpt2l import *  # noqa: F401,F403

out_dir = "out/gpt2l_inherit18"
n_layer = 18
init_from = "inherit"
inherit_from = "out/gpt2l_baseline36/ckpt.pt"
inherit_embeddings = "wte"  # the default, as the released code: wte (= tied lm_head); wpe and ln_f fresh
