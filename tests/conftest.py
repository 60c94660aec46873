"""Test configuration: CPU only, Agg backend, runtime type checks of jaxtyping annotations."""

import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent))  # tests/ helpers: notebook_util, toy_task

import jax  # noqa: E402
import pytest  # noqa: E402

from sciml.runner.compile_cache import enable_compile_cache  # noqa: E402

enable_compile_cache()  # the suite's second run loads its compiled programs from disk

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
