# The reference of the built-in grow-until-baseline job (python inherit.py --grow-until-baseline): the
# small-scale study's model and recipe (config/study_cpu.py: the built-in corpus in its own 1,024-token BPE,
# blocks 84% of the parameters, the paper's recipe) at a quarter of its T, so that the reference, the grow
# rounds and the scratch control fit about 3 minutes on 2 CPU cores. What still differs from the study:
# T = 400 steps (1.6M tokens = 3.5 tokens per parameter, 1.3 passes) instead of 1,600, so the reference is
# further from its plateau; one seed.
from config.study_cpu import *  # noqa: F401,F403

out_dir = "out/builtin_reference"
max_iters = 400
warmup_iters = 10
eval_interval = 200  # evaluations at 0, T/2 and T in each of the job's 3 runs (the final losses do not depend on it)
log_interval = 50
