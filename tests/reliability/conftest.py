"""Shared fixtures of the reliability tests: a toy config, one finished reference run, mounts."""

import shutil
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # reliability_tasks
import reliability_tasks  # noqa: E402,F401  (registers toy_misbehaving)

from sciml.runner import load, run  # noqa: E402

TOY = {
    "experiment": "toy",
    "name": "reg",
    "task": {"name": "toy_misbehaving"},
    "train": {"steps": 60, "log_every": 10, "checkpoint_every": 20},
    "optim": {"lr": 1e-2},
}


def params(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def same_params(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(params(a), params(b), strict=True))


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """An uninterrupted, finished toy run (checkpoints at 20, 40, 60)."""
    root = tmp_path_factory.mktemp("reference")
    run(TOY, runs_dir=root, progress=False)
    return load(root / "toy" / "reg")


@pytest.fixture
def unfinished(reference, tmp_path):
    """A copy of the reference run with final.json removed: rerunning it resumes from a checkpoint."""
    runs = tmp_path / "runs"
    shutil.copytree(reference.dir, runs / "toy" / "reg")
    (runs / "toy" / "reg" / "final.json").unlink()
    return runs


@pytest.fixture
def tmpfs(tmp_path):
    """A 4 MiB tmpfs (for a full disk and a read-only run directory); skipped where mount is not allowed."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {out.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def immutable():
    """Make a folder immutable with `chattr +i` (root ignores chmod); skipped where chattr fails."""
    made = []

    def make(path: Path):
        out = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            pytest.skip(f"cannot make {path} immutable with chattr +i: {out.stderr.strip()}")
        made.append(path)

    yield make
    for p in made:
        subprocess.run(["chattr", "-i", str(p)], capture_output=True)
