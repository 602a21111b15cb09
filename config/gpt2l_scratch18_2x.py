# GPT2-large shape with 18 layers from random init, 200K steps (paper val loss 2.84)
from config._gpt2l import *  # noqa: F401,F403

out_dir = "out/gpt2l_scratch18_2x"
n_layer = 18
max_iters = 200_000
