# GPT2-medium shape with 16 layers from random init, 200K steps (paper val loss 2.83)
from config._gpt2m import *  # noqa: F401,F403

out_dir = "out/gpt2m_scratch16_2x"
n_layer = 16
max_iters = 200_000
