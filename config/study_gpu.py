# The small-scale study's reference on one H100/H200 (python study.py --preset gpu --jobs 5): the
# CPU study's data (1,024-token BPE of the built-in corpus), more depth and width: K=12, d=80,
# 5 heads of 16 (as on CPU), block 256: 1.03M parameters, 90% in blocks. T=630 steps of 16,384 tokens
# = 10.3M tokens = 10.1 tokens/parameter = 7.9 passes over the 1.30M training tokens: the corpus
# caps the model at about 1M parameters (>= 10 tokens/parameter in <= 8 passes).
# No torch.compile: each of the ~60 runs lasts seconds, less than compiling it would take.
# Not yet run on a GPU: its time and its plateau are unmeasured.
from config.study_cpu import *  # noqa: F401,F403

n_layer = 12
n_head = 5
n_embd = 80
block_size = 256
batch_size = 64
tokens_per_step = 64 * 256
max_iters = 630
warmup_iters = 20
eval_interval = 63
log_interval = 63
device = "cuda"
compile = False
