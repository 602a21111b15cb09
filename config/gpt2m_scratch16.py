# GPT2-medium shape with 16 layers from random init, 100K steps (paper val loss 2.86)
from config._gpt2m import *  # noqa: F401,F403

out_dir = "out/gpt2m_scratch16"
n_layer = 16
