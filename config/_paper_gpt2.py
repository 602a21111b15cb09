# Shared settings of the paper's GPT-2 runs on OpenWebText (Inheritune appendix and released config).
# Size files (_gpt2m.py, _gpt2l.py, _gpt2xl.py) add the model and its learning rate and batch.
dataset = "openwebtext"
block_size = 1024
vocab_size = 50304
bias = False
dropout = 0.0
scale_attn_by_inverse_layer_idx = True  # the released configs train with it
max_iters = 100_000
warmup_iters = 2000
min_lr = 1e-5
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
eval_interval = 1000
eval_tokens = 0  # all of val.bin (~4.4M tokens): deterministic, no +-0.04 sampling noise
log_interval = 10
dtype = "bfloat16"
compile = True
device = "cuda"
