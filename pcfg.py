"""A synthetic corpus with nested structure: documents sampled from a probabilistic context-free grammar.

The grammar has the shape of the "cfg3" family of Allen-Zhu & Li ("Physics of Language Models: Part 1",
2023): a root, then LEVELS levels of SYMBOLS_PER_LEVEL nonterminals each, every nonterminal with
RULES_PER_SYMBOL rules that each expand to 2 or 3 symbols of the next level, and the last level's symbols
are terminals. Predicting the next terminal well needs the parse of what came before, a structure that
spans the whole document (~100 terminals), unlike the local statistics of n-grams; a deeper transformer
can track more of it. Rules are drawn once from GRAMMAR_SEED; documents from a corpus seed.

Every terminal is a short word, so the compact byte-level BPE of prepare_openwebtext.py --dataset pcfg
turns each one into exactly one token. `python pcfg.py` prints the grammar.
"""
import random

LEVELS = 4  # nonterminal levels below the root: documents are ~2.5^5 ~ 100 terminals long
SYMBOLS_PER_LEVEL = 3
RULES_PER_SYMBOL = 3
RULE_LENGTHS = (2, 3)
TERMINALS = ("a", "b", "c")
GRAMMAR_SEED = 31
CORPUS_SEED = 2357
DOCUMENTS = 200_000  # ~20M terminals: more than the longest pilot run reads, so no document repeats


def make_grammar(seed=GRAMMAR_SEED):
    """{symbol: [rule, ...]}, each rule a tuple of next-level symbols; terminals are TERMINALS.

    Symbols are named by level ('S' the root, 'N<level>_<i>' below it). Every symbol of a level is reachable:
    each one appears in some rule of the level above (rules are redrawn until they cover the next level).
    """
    rng = random.Random(seed)
    levels = [["S"]] + [[f"N{lv}_{i}" for i in range(SYMBOLS_PER_LEVEL)] for lv in range(1, LEVELS + 1)]
    levels.append(list(TERMINALS))
    grammar = {}
    for upper, lower in zip(levels, levels[1:]):
        while True:
            rules = {s: list(dict.fromkeys(tuple(rng.choice(lower) for _ in range(rng.choice(RULE_LENGTHS)))
                                           for _ in range(RULES_PER_SYMBOL)))
                     for s in upper}
            if {x for rs in rules.values() for r in rs for x in r} == set(lower):
                break
        grammar.update(rules)
    return grammar


def sample(grammar, rng, symbol="S"):
    """One string of terminals derived from `symbol`, each rule of a symbol equally likely."""
    if symbol not in grammar:
        return [symbol]
    return [t for s in rng.choice(grammar[symbol]) for t in sample(grammar, rng, s)]


def documents(n=None, seed=CORPUS_SEED, grammar_seed=GRAMMAR_SEED):
    """n distinct documents (a repeated one is drawn again), each the terminals of one derivation, every one
    after a space (so the first is the same token as the rest). Deterministic for given seeds; distinct, so no
    document can be in both a train and a val split."""
    grammar, rng, n = make_grammar(grammar_seed), random.Random(seed), n or DOCUMENTS
    seen = {}
    while len(seen) < n:
        seen.setdefault("".join(" " + t for t in sample(grammar, rng)), None)
    return list(seen)


def describe(grammar):
    return "\n".join(f"{s} -> " + " | ".join(" ".join(r) for r in rules) for s, rules in grammar.items())


if __name__ == "__main__":
    print(describe(make_grammar()))
