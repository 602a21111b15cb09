# The small-scale study's reference on CPU (python study.py): the built-in corpus in its own
# 1,024-token BPE, so the blocks hold 84% of the parameters (d=64, K=8: 0.47M parameters with wpe).
# The paper's recipe (config/_paper_gpt2.py) in every key but these four, each scaled to this corpus:
# - size: K=8, d=64, 4 heads, block 128 (the corpus caps a model at ~1M parameters for >= 10 tokens
#   per parameter within 8 passes; 3 seeds x ~12 runs must fit 3 hours on 2 cores);
# - lr: 3e-3 -> 3e-4 cosine (a 0.5M-parameter model takes a 10x larger lr than GPT2-medium's 3e-4);
# - batch: 4,096 tokens per step (the paper's ~128-394K would be 1-3 steps per pass here);
# - steps: T=1,600 (6.55M tokens = 14.0 tokens/parameter = 5.0 passes over the 1.30M training
#   tokens; results/pilot_study_cpu.md), warmup 40 (2.5% of T; the paper's 2K of 100K is 2%).
# Beside the recipe: float32 on CPU (the paper trains in bf16 autocast on GPUs; study_gpu.py does).
# Gradient regime: the paper's runs clip nearly every step (their loop's gradient is 8-12x the mean
# gradient, see _paper_gpt2.py). 32 was set with a margin before measuring; the study's references logged
# mean-gradient norms of 0.35-0.82 (clip rate 1.000), so 8 would clip every step too. While every step
# clips, the update is the same whatever the factor: the gradient is normalised to norm 1.
dataset = "builtin_bpe1024"
vocab_size = 0  # the dataset's: 1,024
n_layer = 8
n_head = 4
n_embd = 64
block_size = 128
bias = False
dropout = 0.0
scale_attn_by_inverse_layer_idx = True
batch_size = 32
tokens_per_step = 32 * 128
max_iters = 1600
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 40
lr_decay_iters = 0  # = max_iters: the cosine ends at T, as the paper's
weight_decay = 0.1
decay_embeddings = False
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
grad_scale = 32.0
eval_interval = 160  # 80% of T is an evaluation step (the plateau check)
eval_tokens = 0  # all 62K validation tokens, deterministic
log_interval = 50
device = "cpu"
