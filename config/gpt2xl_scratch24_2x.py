# GPT2-xl shape with 24 layers from random init, 200K steps (paper val loss 2.62)
from config._gpt2xl import *  # noqa: F401,F403

out_dir = "out/gpt2xl_scratch24_2x"
n_layer = 24
max_iters = 200_000
