"""The grammar corpus (pcfg.py): deterministic for its seeds, prepared offline with one token per terminal, and
no document in both splits."""
import numpy as np

import pcfg
import prepare_openwebtext
from data import read_meta


def test_documents_are_a_function_of_the_seeds():
    assert pcfg.make_grammar() == pcfg.make_grammar()
    assert pcfg.documents(300) == pcfg.documents(300)
    assert pcfg.documents(300, seed=1) != pcfg.documents(300)
    assert pcfg.documents(300, grammar_seed=7) != pcfg.documents(300)


def test_the_grammar_uses_every_symbol_and_documents_hold_only_its_terminals():
    grammar = pcfg.make_grammar()
    used = {x for rules in grammar.values() for r in rules for x in r}
    assert used == (set(grammar) - {"S"}) | set(pcfg.TERMINALS)
    assert all(len(r) in pcfg.RULE_LENGTHS for rules in grammar.values() for r in rules)
    docs = pcfg.documents(300)
    assert len(set(docs)) == 300
    assert all(doc.startswith(" ") and set(doc.split()) <= set(pcfg.TERMINALS) for doc in docs)


def _documents(path, eot):
    tokens = np.fromfile(path, dtype=np.uint16)
    ends = np.flatnonzero(tokens == eot)
    return [tuple(x) for x in np.split(tokens, ends + 1)[:-1]]


def test_prepared_splits_share_no_document_and_each_terminal_is_one_token(tmp_path, monkeypatch):
    monkeypatch.setattr(pcfg, "DOCUMENTS", 2000)
    out = prepare_openwebtext.prepare_dataset("pcfg", tmp_path, num_proc=1)
    meta = read_meta(tmp_path, "pcfg")
    assert meta["documents"] == {"train": 1990, "val": 10} and meta["vocab_size"] == 256 + 1 + len(pcfg.TERMINALS)
    train, val = (_documents(out / f"{s}.bin", meta["eot"]) for s in ("train", "val"))
    assert (len(train), len(val)) == (1990, 10) and not set(train) & set(val)
    terminals = sum(len(doc.split()) for doc in pcfg.documents(2000))
    assert meta["tokens"]["train"] + meta["tokens"]["val"] == terminals + 2000  # + one EOT per document
    assert prepare_openwebtext.prepare_dataset("pcfg", tmp_path, num_proc=1) == out  # already prepared: kept
