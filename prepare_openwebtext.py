"""Tokenize a corpus with GPT-2 BPE into nanoGPT-style data/<name>/{train,val}.bin + meta.json.

    python prepare_openwebtext.py                          # built-in KJV corpus, no network
    python prepare_openwebtext.py --bpe-vocab 1024         # built-in corpus, own 1,024-token BPE -> data/builtin_bpe1024
    python prepare_openwebtext.py --dataset openwebtext    # the paper's corpus, from the HF hub
    python prepare_openwebtext.py --dataset openwebtext --subset-fraction 0.001  # low-data setting
    python prepare_openwebtext.py --text-files a.txt b.jsonl c.parquet --name mine
    python prepare_openwebtext.py --dataset pcfg           # synthetic grammar corpus (pcfg.py) -> data/pcfg

Each document is encode_ordinary(text) + [EOT]; the .bin files are flat uint16 token streams.
With --bpe-vocab, a byte-level BPE (Hugging Face `tokenizers`) is trained on the training split
only and saved beside the .bin files as tokenizer.json; meta.json names it and its vocab size.
"""
import argparse
import functools
import hashlib
import json
import lzma
import math
import os
import pathlib
import re
import shutil
import socket
import sys

import numpy as np
from tqdm import tqdm

import pcfg
from data import DTYPE, GPT2_TOKENIZER, read_json_object, tokenizer_present, write_json_atomically
from tokenizer import EOT, VOCAB_SIZE, gpt2_encoding

# `datasets` is imported inside the functions that need it: it takes ~2 s to import and
# the scripts that import this one for prepare_dataset() (study.py, pilot.py) do not need it.

HERE = pathlib.Path(__file__).resolve().parent
BUILTIN_CORPUS = HERE / "corpus" / "kjv.txt.xz"
BUILTIN_DOC_SEPARATOR = "\n\n"  # see corpus/README.md: chapters never contain a blank line
OPENWEBTEXT_HUB_ID = "Skylion007/openwebtext"
# datasets>=4 refuses to run the repo's original loading script (openwebtext.py); the hub's
# automatic parquet conversion of the same data loads without it.
OPENWEBTEXT_REVISION = "refs/convert/parquet"
OPENWEBTEXT_DOCUMENTS = 8_013_769
SEED = 2357
BUILTIN_VAL_FRACTION = 0.05  # ~60 chapters, ~50K tokens
OPENWEBTEXT_VAL_FRACTION = 0.0005  # nanoGPT's test_size: ~4K documents
TEXT_FILES_VAL_FRACTION = 0.05
PCFG_VAL_FRACTION = 0.005  # 1,000 documents, ~94K tokens
PCFG_BPE_VOCAB = 512  # at most: its ~100-terminal documents use 3 words, so the BPE stops at ~260 tokens
DOCS_PER_WRITE = 8192  # documents per shard written at once; bounds RAM while writing
SPLITS = ("train", "val")
TEXT_FILE_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet")
BPE_FILE = "tokenizer.json"
BPE_EOT = "<|endoftext|>"  # the compact BPE's only special token, appended to every document
DEFAULT_NUM_PROC = min(8, os.cpu_count() or 1)


def check_fraction(flag, value, allow_one):
    upper_ok = value <= 1 if allow_one else value < 1
    if not (value > 0 and upper_ok):
        bound = "(0, 1]" if allow_one else "(0, 1)"
        raise SystemExit(f"error: {flag} must be in {bound}, got {value}")


# ---- sources: each returns a datasets.Dataset with a "text" column ---------------------------

def builtin_documents():
    """The built-in corpus's documents (one per Bible chapter)."""
    text = lzma.decompress(BUILTIN_CORPUS.read_bytes()).decode("utf-8")
    return text.rstrip("\n").split(BUILTIN_DOC_SEPARATOR)


def load_builtin():
    import datasets
    return datasets.Dataset.from_dict({"text": builtin_documents()})


def load_pcfg():
    import datasets
    return datasets.Dataset.from_dict({"text": pcfg.documents()})


def hub_offline(timeout=3.0):
    """True when HF_HUB_OFFLINE is set or huggingface.co does not answer within `timeout` seconds. Then
    HF_HUB_OFFLINE=1 holds for this process, so datasets and huggingface_hub (imported after this) look in
    their caches only and fail at once, instead of retrying the network for minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return True
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False  # the hub is reached through the proxy: a direct connection says nothing
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return False
    except OSError:
        os.environ["HF_HUB_OFFLINE"] = "1"
        for name in ("datasets.config", "huggingface_hub.constants"):  # read the variable when imported
            if name in sys.modules:
                sys.modules[name].HF_HUB_OFFLINE = True
        return True


def load_openwebtext(num_proc, allow_partial=False):
    offline = hub_offline()
    import datasets
    try:
        dataset = datasets.load_dataset(OPENWEBTEXT_HUB_ID, revision=OPENWEBTEXT_REVISION,
                                        split="train", num_proc=num_proc)
    except Exception as e:
        if not offline and not isinstance(e, ConnectionError):
            raise
        reason = "the Hugging Face hub is offline (no network, or HF_HUB_OFFLINE) and it is not in the " \
                 f"datasets cache ({type(e).__name__})" if offline else str(e)
        raise SystemExit(f"error: {OPENWEBTEXT_HUB_ID}: {reason}: check the network, or use the offline "
                         "built-in corpus (`python prepare_openwebtext.py`)") from None
    if len(dataset) != OPENWEBTEXT_DOCUMENTS:
        # the hub's parquet conversion of very large datasets can stop early ("partial-train")
        found = f"loaded {len(dataset):,} of OpenWebText's {OPENWEBTEXT_DOCUMENTS:,} documents"
        if not allow_partial:
            raise SystemExit(f"error: {found} (the hub's parquet conversion may be partial): pass "
                             "--allow-partial to prepare them anyway, or give the full corpus with --text-files")
        print(f"warning: {found}; preparing them (--allow-partial)")
    return dataset


def check_text_files(paths):
    for path in paths:
        if path.is_dir():
            raise SystemExit(f"error: {path} is a directory: pass the files in it (e.g. {path / '*.jsonl'})")
        if not path.is_file():
            raise SystemExit(f"error: {path} not found: pass existing .txt, .jsonl, .json or .parquet files")
        if path.suffix not in TEXT_FILE_SUFFIXES:
            raise SystemExit(f"error: {path} is not a .txt, .jsonl, .json or .parquet file: convert it to one")
        if path.suffix != ".txt" and path.stat().st_size == 0:  # an empty .txt is an empty document
            raise SystemExit(f"error: {path} is empty: it holds no documents; leave it out")
    refuse_duplicate_files(paths)


def refuse_duplicate_files(paths):
    """Each file once: one given twice, or two copies of one, would prepare its documents twice, and validation
    documents would be trained on too. Contents are compared among files of the same (non-zero) size only."""
    seen, sizes, digests = {}, [p.stat().st_size for p in paths], {}
    for path, size in zip(paths, sizes):
        if path.resolve() in seen:
            raise SystemExit(f"error: {path} is given twice (also as {seen[path.resolve()]}): pass each file once")
        seen[path.resolve()] = path
        if size and sizes.count(size) > 1:
            digest = sha256_file(path)
            if digest in digests:
                raise SystemExit(f"error: {path} holds the same bytes as {digests[digest]}: its documents would be "
                                 "prepared twice (and validation ones trained on); pass one of them")
            digests[digest] = path


def read_txt(path):
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = e.object.count(b"\n", 0, e.start) + 1
        raise SystemExit(f"error: {path} line {line} is not UTF-8 text: convert the file to UTF-8 "
                         "(e.g. iconv -f latin1 -t utf-8)") from None


def record_problem(record):
    """What keeps a JSON record from being a document: it must be an object with a string "text"."""
    if not isinstance(record, dict):
        return f"is a JSON {type(record).__name__}, not an object"
    if not isinstance(record.get("text"), str):
        return "has no 'text' field" if "text" not in record else \
            f"has a 'text' of {json.dumps(record['text'])[:40]}, not a string"
    return None


def json_problem(path):
    """Where and why a .jsonl/.json file does not give documents ('line 3 is not JSON (...)'), or None. Its records
    are its lines, or the items of the one JSON array it holds (where datasets also takes strings as documents)."""
    with open(path, "rb") as f:
        if f.read(64).lstrip().startswith(b"["):
            f.seek(0)
            try:
                items = json.loads(f.read())
            except ValueError as e:  # UnicodeDecodeError too
                return f"is not UTF-8 JSON ({e})"
            return next((f"item {i} {problem}" for i, item in enumerate(items, 1)
                         if not isinstance(item, str) and (problem := record_problem(item))), None)
        f.seek(0)
        records = 0
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                problem = record_problem(json.loads(line.decode("utf-8")))
            except UnicodeDecodeError:
                problem = "is not UTF-8 text"
            except ValueError as e:
                problem = f"is not JSON ({e.msg})"
            if problem:
                return f"line {number} {problem}"
            records += 1
    return None if records else "holds no JSON records"


def parquet_problem(path):
    """Why a .parquet file does not give documents (no 'text' column of strings), or None."""
    import pyarrow.parquet as pq
    try:
        column = pq.read_table(path, columns=["text"]).column("text")
    except Exception as e:  # pyarrow raises several types for files that are not parquet or lack the column
        return f"cannot be read as parquet with a 'text' column ({str(e).splitlines()[0]})"
    return text_column_problem(column)


def text_column_problem(column):
    """What keeps an arrow column from being documents (not strings, a null, invalid UTF-8), or None. pyarrow
    keeps invalid UTF-8 until a row is read, so the column is validated in full."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return f"has a 'text' column of {column.type}, not strings"
    if column.null_count:
        return f"row {pc.index(pc.is_null(column), True).as_py() + 1} has no text (null)"
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return "holds text that is not UTF-8"
    return None


def load_table_file(path):
    """The rows of a .jsonl/.json/.parquet file through datasets' builders, "text" column only. One file at a time:
    datasets would cast one file's numbers to the strings of another. When datasets cannot read the file or its
    texts are not all strings, the line (or row) and what is wrong are named."""
    import datasets
    builder = "parquet" if path.suffix == ".parquet" else "json"
    try:
        dataset = datasets.load_dataset(builder, data_files=[str(path)], split="train")
    except Exception as e:  # datasets' errors name neither the file nor the line
        dataset, error = None, e
    if dataset is not None and "text" in dataset.column_names and not text_column_problem(dataset.data.column("text")):
        dataset = dataset.select_columns(["text"])
        string = datasets.Value("string")  # not large_string (e.g. polars' parquet): files concatenate alike
        return dataset if dataset.features["text"] == string else dataset.cast_column("text", string)
    rule = "each line must be a JSON object with a string 'text' field, in UTF-8" if builder == "json" else \
        "it needs a 'text' column of UTF-8 strings"
    problem = json_problem(path) if builder == "json" else parquet_problem(path)
    found = problem or "cannot be read by datasets " + (f"({type(error).__name__})" if dataset is None else
                                                         f"('text' of {dataset.features.get('text')})")
    raise SystemExit(f"error: {path} {found}: {rule}; fix it or leave the file out")


def load_text_files(paths):
    """.txt files are one document each; .jsonl/.json/.parquet files give one document per row."""
    import datasets
    import pyarrow.compute as pc
    paths = [pathlib.Path(p) for p in paths]
    check_text_files(paths)
    parts = []
    txt = [p for p in paths if p.suffix == ".txt"]
    if txt:
        parts.append(datasets.Dataset.from_dict({"text": [read_txt(p) for p in txt]}))
    for suffixes in ((".jsonl", ".json"), (".parquet",)):  # the order one load_dataset per format gave before
        parts += [load_table_file(p) for p in paths if p.suffix in suffixes]
    dataset = datasets.concatenate_datasets(parts)
    if not pc.max(pc.utf8_length(dataset.data.column("text"))).as_py():
        raise SystemExit(f"error: {', '.join(map(str, paths))}: every document is empty, there is no text to "
                         "prepare: pass files that hold text")
    return dataset


# ---- split, subset, tokenize, write ---------------------------------------------------------

def split_train_val(dataset, val_fraction):
    """Seeded random document-level split, as nanoGPT's openwebtext/prepare.py does it."""
    if math.ceil(val_fraction * len(dataset)) >= len(dataset):  # train_test_split rounds val up
        raise SystemExit(f"error: --val-fraction {val_fraction} of {len(dataset)} document(s) leaves none "
                         "for training: pass more documents or a smaller --val-fraction")
    splits = dataset.train_test_split(test_size=val_fraction, seed=SEED, shuffle=True)
    splits["val"] = splits.pop("test")
    return splits


def keep_subset(dataset, fraction):
    """A seeded random `fraction` of the documents, kept in their original order."""
    keep = round(len(dataset) * fraction)
    if keep == 0:
        raise SystemExit(f"error: --subset-fraction {fraction} keeps none of {len(dataset)} training documents: raise it")
    rng = np.random.default_rng(SEED)
    return dataset.select(np.sort(rng.choice(len(dataset), size=keep, replace=False)))


def split_settings(val_fraction, subset_fraction):
    """meta.json's "split" record; checks the fractions before any slow loading."""
    check_fraction("--val-fraction", val_fraction, allow_one=False)
    check_fraction("--subset-fraction", subset_fraction, allow_one=True)
    return {"val_fraction": val_fraction, "seed": SEED, "subset_fraction": subset_fraction}


def train_bpe(texts, vocab_size, path):
    """A byte-level BPE of vocab_size tokens (GPT-2's pre-tokenization, BPE_EOT as id 0) saved to path.

    Byte-level: every text round-trips exactly, with no unknown token.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BPE_EOT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    pathlib.Path(path).write_text(tok.to_str(pretty=True))  # as tok.save writes it, but a full disk raises OSError
    bpe_tokenizer.cache_clear()  # a tokenizer read from this path before is another one


@functools.lru_cache(maxsize=None)
def bpe_tokenizer(path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(path))


def tokenize_batch(batch, bpe_file=""):
    """GPT-2 ids + EOT per document; with bpe_file, that tokenizer's ids + its BPE_EOT."""
    if bpe_file:
        tok = bpe_tokenizer(bpe_file)
        eot = tok.token_to_id(BPE_EOT)
        ids = [e.ids + [eot] for e in tok.encode_batch(batch["text"], add_special_tokens=False)]
    else:
        enc = gpt2_encoding()
        ids = [enc.encode_ordinary(text) + [EOT] for text in batch["text"]]
    return {"ids": ids, "len": [len(x) for x in ids]}


def tokenize(splits, num_proc, bpe_file=""):
    import datasets
    # uint16 ids keep the map's on-disk cache 4x smaller than int64 (OpenWebText: ~18 GB, not ~72 GB)
    features = datasets.Features({"ids": datasets.List(datasets.Value("uint16")), "len": datasets.Value("int64")})
    return splits.map(tokenize_batch, batched=True, remove_columns=["text"], features=features,
                      fn_kwargs={"bpe_file": str(bpe_file)}, desc="tokenizing", num_proc=num_proc)


def write_tokens(tokenized, path):
    """Write a tokenized split to `path` as a flat uint16 stream, shard by shard, and sync it; returns the token
    count. Plain writes, not a memmap: a full disk raises OSError instead of killing the process (SIGBUS)."""
    import pyarrow.compute as pc
    table = tokenized.with_format("arrow")
    n_tokens = pc.sum(table["len"]).as_py()
    shown = path.with_suffix("")  # the final name: the file is written under a temporary one
    with open(path, "wb") as f, tqdm(total=n_tokens, unit="tok", unit_scale=True, desc=f"writing {shown}") as bar:
        for batch in table.iter(batch_size=DOCS_PER_WRITE):
            ids = pc.list_flatten(batch["ids"]).to_numpy().astype(DTYPE, copy=False)
            f.write(ids.tobytes())
            bar.update(len(ids))
        f.flush()
        os.fsync(f.fileno())
    return n_tokens


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tokenizer_meta(splits, bpe_file, bpe_vocab):
    """meta.json's tokenizer fields; with bpe_vocab, first trains the BPE on the train split only, into bpe_file."""
    if not bpe_vocab:
        return {"vocab_size": VOCAB_SIZE, "eot": EOT, "tokenizer": GPT2_TOKENIZER}
    import tokenizers
    train_bpe(splits["train"]["text"], bpe_vocab, bpe_file)
    tok = bpe_tokenizer(bpe_file)
    return {"vocab_size": tok.get_vocab_size(), "eot": tok.token_to_id(BPE_EOT), "tokenizer": BPE_FILE,
            "tokenizer_trained_on": "train split", "tokenizers_version": tokenizers.__version__}


def free_mib(path):
    """Free space, in MiB, of the file system holding `path` (or its nearest existing parent)."""
    path = pathlib.Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free / 2**20


def write_dataset(splits, out_dir, source, settings, num_proc, bpe_vocab=0):
    """Tokenize a {"train", "val"} DatasetDict of texts into out_dir/{train,val}.bin + meta.json.

    Every file is written under a temporary name first and renamed once all are written, meta.json last (it marks
    a finished dataset): a full disk or a crash leaves a dataset already in out_dir as it was, and a failed write
    leaves no temporary file.
    """
    names = [f"{split}.bin" for split in SPLITS] + ([BPE_FILE] if bpe_vocab else []) + ["meta.json"]
    staged = {name: out_dir / f"{name}.tmp" for name in names}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        vocab = tokenizer_meta(splits, staged.get(BPE_FILE), bpe_vocab)
        tokenized = tokenize(splits, num_proc, staged.get(BPE_FILE, ""))
        tokens = {split: write_tokens(tokenized[split], staged[f"{split}.bin"]) for split in SPLITS}
        write_json_atomically(staged["meta.json"], {
            "source": source,
            "split": settings,
            "documents": {split: len(splits[split]) for split in SPLITS},
            "tokens": tokens,
            "dtype": np.dtype(DTYPE).name,
            **vocab,
            "sha256": {name: sha256_file(staged[name]) for name in names[:-1]},
        })
    except BaseException as e:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        if not isinstance(e, OSError):
            raise
        kept = "the dataset there is unchanged" if (out_dir / "meta.json").is_file() else "no dataset was written"
        raise SystemExit(f"error: cannot write {e.filename or out_dir}: {e.strerror or e} ({free_mib(out_dir):.3g} "
                         f"MiB free there); {kept}. Free space or choose another --data-dir") from None
    (out_dir / "meta.json").unlink(missing_ok=True)  # no meta.json while the finished files are swapped in
    for name, tmp in staged.items():
        os.replace(tmp, out_dir / name)
    print(f"wrote {out_dir}: " + ", ".join(f"{s} {tokens[s]:,} tokens" for s in SPLITS))
    return out_dir


# ---- public entry points --------------------------------------------------------------------

def builtin_source():
    return {"corpus": str(BUILTIN_CORPUS.relative_to(HERE)), "sha256": sha256_file(BUILTIN_CORPUS)}


def is_prepared(out_dir, source, settings):
    """True when meta.json records these settings and both .bin files have the recorded sizes; a damaged
    meta.json is not a prepared dataset (it is prepared again)."""
    meta = read_json_object(out_dir / "meta.json")
    if meta is None or (meta.get("source"), meta.get("split")) != (source, settings):
        return False
    if not tokenizer_present(meta, out_dir) or not isinstance(meta.get("tokens"), dict):
        return False
    itemsize = np.dtype(DTYPE).itemsize
    return all(type(meta["tokens"].get(s)) is int and (out_dir / f"{s}.bin").is_file()
               and (out_dir / f"{s}.bin").stat().st_size == meta["tokens"][s] * itemsize for s in SPLITS)


def prepare_from(dataset, out_dir, source, settings, num_proc, bpe_vocab=0):
    """Split, subsample the training documents, tokenize and write."""
    splits = split_train_val(dataset, settings["val_fraction"])
    if settings["subset_fraction"] != 1.0:
        splits["train"] = keep_subset(splits["train"], settings["subset_fraction"])
    return write_dataset(splits, out_dir, source, settings, num_proc, bpe_vocab)


def builtin_name(bpe_vocab=0):
    """The built-in corpus's folder: builtin (GPT-2 BPE) or builtin_bpe<N> (its own N-token BPE)."""
    return f"builtin_bpe{bpe_vocab}" if bpe_vocab else "builtin"


def check_bpe_vocab(bpe_vocab):
    if not 0 <= bpe_vocab <= np.iinfo(DTYPE).max + 1 or 0 < bpe_vocab < 512:
        raise SystemExit(f"error: --bpe-vocab {bpe_vocab} must be 0 (GPT-2 BPE) or in 512..65536 "
                         "(256 byte tokens plus merges, ids stored as uint16)")


def prepare_local(out_dir, source, load, num_proc, val_fraction, bpe_vocab):
    """Prepare a corpus made on this machine (no network) unless out_dir already holds it."""
    settings = split_settings(val_fraction, 1.0)
    if is_prepared(out_dir, source, settings):
        print(f"{out_dir} is already prepared")
        return out_dir
    return prepare_from(load(), out_dir, source, settings, num_proc, bpe_vocab)


def prepare_builtin(data_dir="data", num_proc=DEFAULT_NUM_PROC, bpe_vocab=0):
    """Prepare the built-in corpus into data_dir/builtin (no network); skips work if already done.

    bpe_vocab > 0 tokenizes it with its own BPE of that size instead, into data_dir/builtin_bpe<N>.
    """
    check_bpe_vocab(bpe_vocab)
    source = {**builtin_source(), **({"bpe_vocab": bpe_vocab} if bpe_vocab else {})}
    return prepare_local(pathlib.Path(data_dir) / builtin_name(bpe_vocab), source, load_builtin, num_proc,
                         BUILTIN_VAL_FRACTION, bpe_vocab)


def prepare_pcfg(data_dir="data", num_proc=DEFAULT_NUM_PROC):
    """Generate the grammar corpus of pcfg.py and prepare it, in its own BPE, into data_dir/pcfg."""
    source = {"generator": "pcfg.py", "grammar": pcfg.describe(pcfg.make_grammar()),
              "grammar_seed": pcfg.GRAMMAR_SEED, "corpus_seed": pcfg.CORPUS_SEED, "documents": pcfg.DOCUMENTS,
              "bpe_vocab": PCFG_BPE_VOCAB}
    return prepare_local(pathlib.Path(data_dir) / "pcfg", source, load_pcfg, num_proc, PCFG_VAL_FRACTION,
                         PCFG_BPE_VOCAB)


def prepare_dataset(name, data_dir="data", num_proc=DEFAULT_NUM_PROC):
    """A dataset this project makes offline, by its folder name (builtin, builtin_bpe<N>, pcfg); None for others."""
    if name == "pcfg":
        return prepare_pcfg(data_dir, num_proc)
    bpe = re.fullmatch(r"builtin(?:_bpe(\d+))?", name)
    return prepare_builtin(data_dir, num_proc, int(bpe.group(1) or 0)) if bpe else None


def prepare_openwebtext(data_dir="data", name="openwebtext", val_fraction=OPENWEBTEXT_VAL_FRACTION,
                        subset_fraction=1.0, num_proc=DEFAULT_NUM_PROC, allow_partial=False):
    """Download OpenWebText from the HF hub and prepare it into data_dir/name.

    A download with fewer documents than the corpus is refused unless allow_partial is set.
    """
    settings = split_settings(val_fraction, subset_fraction)
    source = {"hub_id": OPENWEBTEXT_HUB_ID, "revision": OPENWEBTEXT_REVISION}
    return prepare_from(load_openwebtext(num_proc, allow_partial), pathlib.Path(data_dir) / name, source,
                        settings, num_proc)


def prepare_text_files(paths, data_dir="data", name="custom", val_fraction=TEXT_FILES_VAL_FRACTION,
                       subset_fraction=1.0, num_proc=DEFAULT_NUM_PROC):
    """Prepare local .txt/.jsonl/.json/.parquet files into data_dir/name."""
    settings = split_settings(val_fraction, subset_fraction)
    source = {"text_files": [str(pathlib.Path(p).resolve()) for p in paths]}
    return prepare_from(load_text_files(paths), pathlib.Path(data_dir) / name, source, settings, num_proc)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=("builtin", "openwebtext", "pcfg"), default="builtin",
                        help="builtin: the bundled KJV corpus (default, offline); openwebtext: from the HF hub; "
                             "pcfg: documents generated from pcfg.py's grammar (offline, own BPE)")
    source.add_argument("--text-files", nargs="+", metavar="PATH",
                        help=".txt files (one document each) or .jsonl/.json/.parquet files with a 'text' column")
    parser.add_argument("--data-dir", "--out-dir", dest="data_dir", default="data",
                        help="parent folder of the dataset folder (default: data)")
    parser.add_argument("--name", help="dataset folder name (default: openwebtext, or custom for --text-files)")
    parser.add_argument("--val-fraction", type=float,
                        help=f"fraction of documents held out for val (default: {OPENWEBTEXT_VAL_FRACTION} "
                             f"for openwebtext, {TEXT_FILES_VAL_FRACTION} for text files)")
    parser.add_argument("--subset-fraction", type=float, default=1.0,
                        help="keep this seeded random fraction of the training documents (paper's low-data: 0.001)")
    parser.add_argument("--num-proc", type=int, default=DEFAULT_NUM_PROC,
                        help="processes for download and tokenization (default: %(default)s)")
    parser.add_argument("--bpe-vocab", type=int, default=0, metavar="N",
                        help="built-in corpus: train an N-token byte-level BPE on its training split and "
                             "tokenize with it into DATA_DIR/builtin_bpeN (default 0: GPT-2 BPE)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="openwebtext: prepare a download with fewer documents than the full corpus")
    args = parser.parse_args(argv)
    if args.allow_partial and (args.dataset != "openwebtext" or args.text_files):
        parser.error("--allow-partial applies to --dataset openwebtext only")
    if args.dataset in ("builtin", "pcfg") and not args.text_files and (
            args.name or args.val_fraction is not None or args.subset_fraction != 1.0):
        parser.error("--name, --val-fraction and --subset-fraction apply to --dataset openwebtext "
                     f"and --text-files; the {args.dataset} corpus has a fixed split")
    if args.bpe_vocab and (args.dataset != "builtin" or args.text_files):
        parser.error("--bpe-vocab applies to the built-in corpus only")
    if args.num_proc < 1:
        parser.error(f"--num-proc must be at least 1, got {args.num_proc}")
    return args


def main(argv=None):
    args = parse_args(argv)
    # options left out fall back to each prepare function's per-source default
    options = {"data_dir": args.data_dir, "subset_fraction": args.subset_fraction, "num_proc": args.num_proc}
    if args.name:
        options["name"] = args.name
    if args.val_fraction is not None:
        options["val_fraction"] = args.val_fraction
    try:
        if args.text_files:
            prepare_text_files(args.text_files, **options)
        elif args.dataset == "openwebtext":
            prepare_openwebtext(**options, allow_partial=args.allow_partial)
        elif args.dataset == "pcfg":
            prepare_pcfg(args.data_dir, num_proc=args.num_proc)
        else:
            prepare_builtin(args.data_dir, num_proc=args.num_proc, bpe_vocab=args.bpe_vocab)
    except KeyboardInterrupt:  # write_dataset removes its temporary files; a dataset there is kept until the swap
        raise SystemExit("interrupted (Ctrl-C): this dataset was not finished; run the same command again") from None


if __name__ == "__main__":
    main()
