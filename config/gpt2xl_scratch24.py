# GPT2-xl shape with 24 layers from random init, 100K steps (paper val loss 2.69)
from config._gpt2xl import *  # noqa: F401,F403

out_dir = "out/gpt2xl_scratch24"
n_layer = 24
