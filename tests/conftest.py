"""Shared fixtures: the repo root on sys.path and the built-in corpus prepared once per session."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def one_line_exit(fn, *args, **kwargs):
    """fn(*args, **kwargs) must stop with a SystemExit whose message is one line: no traceback, no bare code."""
    with pytest.raises(SystemExit) as excinfo:
        fn(*args, **kwargs)
    message = str(excinfo.value.code)
    assert message and not message.isdigit() and "\n" not in message, message
    return message


class HookedFile:
    """A file whose every write() first calls hook(data): how a test makes a write fail, or a signal land inside
    one, as the system would."""

    def __init__(self, file, hook):
        self.file, self.hook = file, hook

    def write(self, data):
        self.hook(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def run_on_small_tmpfs(size, script, mount_point, *args, **kwargs):
    """The shell `script` run with a tmpfs of `size` mounted at mount_point ($1; `args` are $2...), in a user and mount
    namespace of its own: a real file system that fills up, without root. kwargs go to subprocess.run."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs "$1" || exit 1\n{script}', "sh",
                           mount_point, *args], **kwargs)


def mounts_small_tmpfs():
    """Whether this machine lets a process mount a tmpfs of its own (unshare, user namespaces)."""
    return bool(shutil.which("unshare")) and run_on_small_tmpfs("4k", "true", "/tmp", capture_output=True).returncode == 0


needs_small_tmpfs = pytest.mark.skipif(not mounts_small_tmpfs(), reason="needs unshare and user namespaces to mount "
                                                                        "a small tmpfs")


@pytest.fixture(scope="session")
def builtin_data_dir(tmp_path_factory):
    """A data_dir holding builtin/{train,val}.bin, prepared from the bundled corpus (~5 s, offline)."""
    import prepare_openwebtext

    data_dir = tmp_path_factory.mktemp("data")
    prepare_openwebtext.prepare_builtin(data_dir, num_proc=1)
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
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def builtin_bpe_data_dir(builtin_data_dir):
    """builtin_data_dir with builtin_bpe1024/ beside builtin/: the corpus in its own 1,024-token BPE (~3 s)."""
    import prepare_openwebtext

    prepare_openwebtext.prepare_builtin(builtin_data_dir, num_proc=1, bpe_vocab=1024)
    return builtin_data_dir


def save_edited_checkpoint(ckpt, path):
    """A checkpoint a test edited (e.g. into an older format), with its checksum made to match the edit."""
    import torch
    from checkpoint import checksum
    ckpt["crc32"] = checksum({k: v for k, v in ckpt.items() if k not in ("crc32", "checksum")})
    torch.save(ckpt, path)
