"""Compile a long CPU run's training step in a child process, so the run's own heap stays clean.

With `sciml.malloc`'s single glibc arena, a step compiled in the training process runs slower than the
same executable loaded from the compilation cache: the compiler leaves the arena's free lists long, and
the allocations of every later step walk them (the PFGM++ U-Net step on 2 cores: 463-561 against
357-360 ms; benchmarks/README.md, "Compiling in a child process"). So before a long run on the CPU
backend, the runner has `python -m sciml.runner.compile_child` build the same step and compile it into
the persistent cache (`sciml.runner.compile_cache`), and loads it from there. Nothing computed changes:
both processes compile the same program, and a failed child only costs time (the run compiles the step
itself, with a warning). It removes the main cause of the slow steps, not every one: 2 of 9 processes set
up this way still ran the U-Net step slowly (benchmarks/README.md).

`SCIML_COMPILE_IN_CHILD`: `auto` (default) on the CPU backend, in one process, with the compilation
cache and the malloc tuning on, for runs whose remaining steps come to at least `MIN_RUN_FLOP` (XLA's
count for the step times the steps to go: a few minutes on 2 cores, against the child's few seconds);
`1` whenever the cache is on; `0` never. A task class defined in `__main__` (a notebook's own task)
cannot be rebuilt by the child, so it never uses one.
"""

import importlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import yaml

from sciml import malloc
from sciml.runner.compile_cache import CacheHits, compile_cache_dir, enable_compile_cache
from sciml.runner.config import ConfigError, RunConfig, load_config

#: 3e13 floating-point operations: about five minutes at the ~100 GFLOP/s our steps reach on 2 cores.
MIN_RUN_FLOP = 3e13
_ON, _OFF = {"1", "on", "true", "yes"}, {"0", "off", "false", "no"}


def _setting() -> str:
    value = os.environ.get("SCIML_COMPILE_IN_CHILD", "auto").strip().lower()
    if value not in _ON | _OFF | {"auto"}:
        raise ConfigError(f"SCIML_COMPILE_IN_CHILD={value!r}: use auto, 1 or 0")
    return "on" if value in _ON else "off" if value in _OFF else "auto"


def load_step_compiled_in_child(config: RunConfig, trainer, state, start: int) -> bool | None:
    """Compile `trainer.step` in a child process and load it here; None when not wanted (see module doc).

    Returns whether the step came from the child (False: this process compiled it, after a warning).
    """
    setting = _setting()
    if (setting == "off" or compile_cache_dir() is None or jax.process_count() > 1
            or type(config.task).__module__ == "__main__"):
        return None  # the child hands the step over through the cache; it cannot join a multi-host run
    if setting == "auto" and (jax.default_backend() != "cpu" or not malloc.TUNED):
        return None
    lowered = trainer.step.lower(jnp.asarray(start, jnp.int32), state, trainer.device_batch(start))
    if setting == "auto":
        flops = (lowered.cost_analysis() or {}).get("flops", 0.0)
        if flops * (config.train.steps - start) < MIN_RUN_FLOP:
            return None
    if not _compile_in_child(config):
        return False
    with CacheHits() as hits:  # the training loop's first call reuses this executable
        lowered.compile()
    if not hits.count:
        warnings.warn("the training step compiled in a child process was not in the compilation cache, so this "
                      "process compiled it again (a cache that rejects writes, or a step that is not a "
                      "deterministic function of its config)", RuntimeWarning, stacklevel=2)
    return hits.count > 0


def _compile_in_child(config: RunConfig) -> bool:
    """Run `python -m sciml.runner.compile_child` on `config`; True when it succeeded."""
    fd, name = tempfile.mkstemp(prefix="sciml_compile_", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)
    # The child imports the task's module (which registers it) from this process's import path.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    try:
        proc = subprocess.run([sys.executable, "-m", "sciml.runner.compile_child", name, type(config.task).__module__],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    finally:
        Path(name).unlink(missing_ok=True)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        warnings.warn(f"compiling the training step in a child process failed (exit {proc.returncode}); this "
                      f"process compiles it instead:\n{tail}", RuntimeWarning, stacklevel=3)
    return proc.returncode == 0


def compile_step(config: RunConfig) -> None:
    """Compile `config`'s training step into the persistent cache, as the runner's first step calls it."""
    from sciml.runner.train import Trainer  # train imports this module

    if enable_compile_cache() is None:
        raise RuntimeError("the compilation cache is off (SCIML_COMPILE_CACHE); there is nowhere to put the step")
    trainer = Trainer(config)
    state = trainer.place(trainer.init_state())
    trainer.step.lower(jnp.asarray(0, jnp.int32), state, trainer.device_batch(0)).compile()


if __name__ == "__main__":
    importlib.import_module(sys.argv[2])
    compile_step(load_config(sys.argv[1]))
