# The paper's GPT2-medium reference: 24 layers, 100K steps (paper val loss 2.81)
from config._gpt2m import *  # noqa: F401,F403

out_dir = "out/gpt2m_baseline24"
n_layer = 24
data_seed = 1337  # its own batch order; the models inherited from it and their scratch controls use 1338
