# The reference model of the built-in grow-until-baseline job (python inherit.py --grow-until-baseline):
# tiny_cpu.py's model at K=8 blocks, trained T=120 steps on the built-in corpus; ~2 minutes on 2 CPU cores.
from config.tiny_cpu import *  # noqa: F401,F403

out_dir = "out/builtin_reference"
n_layer = 8
max_iters = 120
warmup_iters = 12
eval_interval = 40
eval_tokens = 16384
log_interval = 20
