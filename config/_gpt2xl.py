# GPT2-xl (48 blocks at full depth): max lr 1.5e-4, ~128K tokens per step
from config._paper_gpt2 import *  # noqa: F401,F403

n_layer = 48
n_head = 25
n_embd = 1600
learning_rate = 1.5e-4
batch_size = 8
tokens_per_step = 131_072  # 8 x 1024 x 8 GPUs x 2 accumulation steps
# Batch: 131,072 tokens per step (the paper's ~128K), the layout of the released Inheritune script (batch 2 x 8
# micro-steps per GPU x 8 GPUs x 1024), for the reference too: the grow loop's rounds train with the reference's
# hyperparameters, so reference, targets and scratch controls all see the same batch size. The released baseline
# config uses 393,216 (batch 4 x 12 micro-steps x 8 GPUs); which one the paper's reference used is not stated. To
# train the reference that way: --tokens_per_step=393216 --grad_scale=12.
# The Inheritune script's gradient is 8 x the mean gradient (8 micro-steps per GPU, see _paper_gpt2.py).
grad_scale = 8.0
