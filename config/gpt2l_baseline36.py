# The paper's GPT2-large reference: 36 layers, 100K steps (paper val loss 2.85)
from config._gpt2l import *  # noqa: F401,F403

out_dir = "out/gpt2l_baseline36"
n_layer = 36
data_seed = 1337  # its own batch order; the models inherited from it and their scratch controls use 1338
