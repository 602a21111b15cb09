# The paper's GPT2-xl reference: 48 layers, 100K steps (paper val loss 2.65)
from config._gpt2xl import *  # noqa: F401,F403

out_dir = "out/gpt2xl_baseline48"
n_layer = 48
data_seed = 1337  # its own batch order; the models inherited from it and their scratch controls use 1338
