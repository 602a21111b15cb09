"""Shared fixtures: the built-in corpus prepared once per session, the synthetic datasets, one process and one thread.
What tests share besides fixtures is in helpers.py."""
import pytest
import torch

import prepare_openwebtext
from helpers import random_ids, random_walk_ids, write_dataset


@pytest.fixture(scope="session")
def builtin_data_dir(tmp_path_factory):
    """A data_dir holding builtin/{train,val}.bin, prepared from the bundled corpus (~5 s, offline)."""
    data_dir = tmp_path_factory.mktemp("data")
    prepare_openwebtext.prepare_builtin(data_dir, num_proc=1)
    return data_dir


@pytest.fixture(scope="session")
def builtin_bpe_data_dir(builtin_data_dir):
    """builtin_data_dir with builtin_bpe1024/ beside builtin/: the corpus in its own 1,024-token BPE (~3 s)."""
    prepare_openwebtext.prepare_builtin(builtin_data_dir, num_proc=1, bpe_vocab=1024)
    return builtin_data_dir


@pytest.fixture(scope="session")
def synth_data_dir(tmp_path_factory):
    """A data_dir of two tiny datasets of helpers.SYNTH_VOCAB ids, each with its meta.json: synth/, uniform random ids
    (a run's mechanics need no text), and walk/, a random walk a model learns (its loss falls). Shared: tests that
    change a dataset write their own with helpers.write_dataset."""
    data_dir = tmp_path_factory.mktemp("synth_data")
    write_dataset(data_dir, "synth", random_ids())
    write_dataset(data_dir, "walk", random_walk_ids())
    return data_dir


@pytest.fixture
def single_process(monkeypatch):
    """In-process runs must be single-process runs whatever the environment says (e.g. under torchrun)."""
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def one_thread():
    """One thread here and in every process a test starts: tiny models gain little from two, and when
    another process holds a core, two OpenMP threads wait on each other and runs get several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)
