"""A persistent JAX compilation cache, on by default for the runner, benchmarks, notebooks and tests.

A second run of the same config loads its compiled train step from disk instead of compiling it
again (XLA:CPU, GPU and TPU executables all serialise). The directory is `$SCIML_COMPILE_CACHE` when
set, else `$XDG_CACHE_HOME/sciml/jax` (default `~/.cache/sciml/jax`); `SCIML_COMPILE_CACHE=off`
(or `0`, or empty) turns it off. Entries are keyed by the program, the JAX/XLA versions, the
devices and the XLA flags, so a changed flag or library never reuses a stale executable.
"""

import os
from pathlib import Path

import jax
import jax.monitoring

_OFF = {"", "0", "off", "false", "no"}
#: Programs that compile faster than this are not worth a disk round trip.
_MIN_COMPILE_S = 0.2


def compile_cache_dir() -> Path | None:
    """The cache directory this process uses, or None when the cache is turned off."""
    value = os.environ.get("SCIML_COMPILE_CACHE")
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sciml" / "jax"


def enable_compile_cache() -> Path | None:
    """Point JAX's persistent compilation cache at `compile_cache_dir()` (idempotent); returns it.

    Call it before the first compilation of the process: JAX opens the cache at its first compile
    with a directory set, so calling it later still works as long as none was set before.
    """
    path = compile_cache_dir()
    if path is None:
        return None
    if jax.config.jax_compilation_cache_dir != str(path):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # an unwritable cache location must never stop a run; it only costs compile time
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_COMPILE_S)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


class CacheHits:
    """Counts the compilations inside a `with` block that loaded from the persistent cache (`.count`)."""

    _EVENT = "/jax/compilation_cache/cache_hits"

    def __init__(self):
        self.count = 0

    def _listen(self, event: str, **kwargs) -> None:
        if event == self._EVENT:
            self.count += 1

    def __enter__(self) -> "CacheHits":
        jax.monitoring.register_event_listener(self._listen)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_listener(self._listen)
