# A tiny GPT-2 on the built-in corpus: trains in about a minute on 2 CPU cores.
# python train.py config/tiny_cpu.py
out_dir = "out/tiny_cpu"
dataset = "builtin"
n_layer = 4
n_head = 4
n_embd = 64
block_size = 64
batch_size = 16
tokens_per_step = 16 * 64
max_iters = 80
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 10
eval_interval = 20
eval_tokens = 8192
log_interval = 10
device = "cpu"
