# The small-scale study's reference on CPU (python study.py): the built-in corpus in its own
# 1,024-token BPE, so the blocks hold 84% of the parameters (d=64, K=8: 0.47M parameters with wpe).
# T=1,600 steps of 4,096 tokens = 6.55M tokens = 14.0 tokens/parameter = 5.0 passes over the
# 1.30M training tokens; chosen by the pilot in results/pilot.md (its last 20% of steps: -2.0%).
dataset = "builtin_bpe1024"
vocab_size = 0  # the dataset's: 1,024
n_layer = 8
n_head = 4
n_embd = 64
block_size = 128
batch_size = 32
tokens_per_step = 32 * 128
max_iters = 1600
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 40
eval_interval = 160  # 80% of T is an evaluation step (the plateau check)
eval_tokens = 0  # all 62K validation tokens, deterministic
log_interval = 50
device = "cpu"
