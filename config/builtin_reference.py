# The reference model of the built-in grow-until-baseline job (python inherit.py --grow-until-baseline):
# K=8 blocks trained T=120 steps on the built-in corpus; about 2 minutes on 2 CPU cores.
dataset = "builtin"
n_layer = 8
n_head = 4
n_embd = 64
block_size = 64
batch_size = 16
tokens_per_step = 16 * 64
max_iters = 120
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 12
eval_interval = 40
eval_tokens = 16384
log_interval = 20
device = "cpu"
