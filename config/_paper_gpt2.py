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
decay_embeddings = False  # the released code decays only nn.Linear weights: not wte (= lm_head), wpe, norms, biases
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
# grad_scale (set per size, in _gpt2m.py / _gpt2l.py / _gpt2xl.py): the released loop calls backward() on each
# micro-batch's mean loss without dividing by the micro-steps, so the gradient it clips at 1.0 is (micro-steps per
# GPU) x the mean gradient and clipping fires almost every step; AdamW is otherwise scale-invariant, so multiplying
# the mean gradient by that constant reproduces it on any number of GPUs and micro-batches.
seed = 1337  # model init of scratch runs and of the parts an inherited model does not inherit
# batch order: the references (gpt2*_baseline*.py) draw theirs with 1337; the Inheritune runs and the scratch runs
# they are compared with with 1338, the reference's + 1, which the grow loop and init_from='inherit' use by default:
# an inherited model must not replay, step by step, the batches its reference was trained on (the released
# Inheritune script seeds its batches with 5000 + rank).
data_seed = 1338
eval_interval = 1000
eval_tokens = 0  # all of val.bin (~4.4M tokens): deterministic, no +-0.04 sampling noise
log_interval = 10
dtype = "bfloat16"
compile = True
device = "cuda"
