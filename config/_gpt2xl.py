# GPT2-xl (48 blocks at full depth): max lr 1.5e-4, ~128K tokens per step
from config._paper_gpt2 import *  # noqa: F401,F403

n_layer = 48
n_head = 25
n_embd = 1600
learning_rate = 1.5e-4
batch_size = 8
tokens_per_step = 131_072  # 8 x 1024 x 8 GPUs x 2 accumulation steps
