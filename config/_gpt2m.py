# GPT2-medium (24 blocks at full depth): max lr 3e-4, ~394K tokens per step
from config._paper_gpt2 import *  # noqa: F401,F403

n_layer = 24
n_head = 16
n_embd = 1024
learning_rate = 3e-4
batch_size = 16
tokens_per_step = 393_216  # 16 x 1024 x 8 GPUs x 3 accumulation steps
# ~394K tokens per step is the released baseline config's layout (batch 4 x 12 micro-steps per GPU x 8 GPUs x 1024);
# its loop's gradient is 12 x the mean gradient (see _paper_gpt2.py). The medium runs' own script is not released:
# 12 assumes they used that layout and loop.
grad_scale = 12.0
