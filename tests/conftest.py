"""Shared fixtures: the repo root on sys.path and the built-in corpus prepared once per session."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def builtin_data_dir(tmp_path_factory):
    """A data_dir holding builtin/{train,val}.bin, prepared from the bundled corpus (~5 s, offline)."""
    import prepare_openwebtext

    data_dir = tmp_path_factory.mktemp("data")
    prepare_openwebtext.prepare_builtin(data_dir, num_proc=1)
    return data_dir
