# GPT2-large shape with 18 layers from random init, 100K steps (paper val loss 2.97)
from config._gpt2l import *  # noqa: F401,F403

out_dir = "out/gpt2l_scratch18"
n_layer = 18
