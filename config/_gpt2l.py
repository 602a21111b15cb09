# GPT2-large (36 blocks at full depth): max lr 2e-4, ~128K tokens per step
from config._paper_gpt2 import *  # noqa: F401,F403

n_layer = 36
n_head = 20
n_embd = 1280
learning_rate = 2e-4
batch_size = 16
tokens_per_step = 131_072  # 16 x 1024 x 8 GPUs
