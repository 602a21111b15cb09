"""What the study trains and compares, shared by its runs (study.py) and its reports (study_report.py): the presets
and their corpora, the depths compared, the ablation's parts, each seed's batch orders, the grow loop's rounds,
stacking's stages and the selection policies beside the paper's."""

from settings import SELECT

PRESETS = {"cpu": "config/study_cpu.py", "gpu": "config/study_gpu.py", "pcfg": "config/study_pcfg.py"}
# the corpora a preset may train on, all made offline by prepare_openwebtext.prepare_dataset
CORPORA = {"builtin_bpe1024": "the built-in corpus", "pcfg": "the grammar corpus of pcfg.py"}
PARTS = ("attn_ln", "mlp_ln", "attn_mlp_noln")  # the ablation's part presets besides 'full' (= Inheritune)
# What each preset compares: how many of fixed_depths, and the ablation's parts. On this project's 2-core build
# machine a CPU run trains at 4,200 (8 blocks) to 5,900 (4 blocks) tokens/s with three side by side, not the
# 11,000-13,000 per run the pilot had estimated, so the CPU study fits 3 hours with one depth, K/2, and one
# ablation preset, attention (+ its layernorm) only; the GPU preset compares at both depths and ablates all
# three presets at round(2K/3), as the paper. So does the grammar corpus's preset, whose claims suite runs in parts
# of one seed (~1.5 h on 2 cores each: results/pilot.md).
PLANS = {"cpu": (1, PARTS[:1]), "gpu": (2, PARTS), "pcfg": (2, PARTS)}
# a damaged run file: a kept record is restored from git, a run in --out trained again
DAMAGED = "restore it (the records kept under results/ are in git), or delete its run directory and rerun the command"
STACK_ROUNDS = {"stack1": 1, "stack2": 2}  # the baselines suite's stacking rows
POLICIES = tuple(p for p in SELECT if p != "first")  # the layers suite's policies beside the paper's


def fixed_depths(K):
    """The depths every comparison uses, fixed before any run: K/2 (the paper's large runs: 18 of 36) and
    round(2K/3) (its medium runs and their ablation: 16 of 24)."""
    return K // 2, round(2 * K / 3)


def compared_depths(K, preset):
    return fixed_depths(K)[:PLANS[preset][0]]


def ablation_depth(K, preset):
    """The deepest compared depth: round(2K/3) where the plan has both (the paper ablates GPT2-medium at
    16 of its 24 blocks), else K/2."""
    return compared_depths(K, preset)[-1]


def ablation_parts(preset):
    return PLANS[preset][1]


def data_orders(seed):
    """Seed s: its reference draws batches with data_seed 2s, every model compared with it (the grow loop's
    default: the reference's + 1) with 2s + 1, so no two seeds share a batch order."""
    return {"reference": 2 * seed, "targets": 2 * seed + 1}


def grow_depths(K):
    """The rounds a grow loop with its defaults (grow.Search) may train: from K/2 by 2 below K."""
    return list(range(K // 2, K, 2))


def stack_plan(K, T, rounds):
    """Stacking's stages as (depth, last step): each round doubles the depth up to K at T / 2^(rounds - i), so the
    K-block model always trains the last T/2 steps and the smallest K / 2^rounds blocks the first T / 2^rounds;
    1 round: K/2 for T/2, then K for T/2; 2 rounds: K/4 for T/4, K/2 for T/4, K for T/2."""
    if K >> rounds < 1 or T >> rounds < 1:
        raise SystemExit(f"{rounds} rounds of stacking need K >= {2 ** rounds} blocks and T >= {2 ** rounds} steps")
    return [(K >> (rounds - i), T >> (rounds - i)) for i in range(rounds)] + [(K, T)]
