"""One rule for wall-clock timings: the first call (compilation included), then the median of
`repeats` calls after `warmup` more, each blocked on its result. Used by tasks' `evaluate` and by
`benchmarks/run.py`, so every "ms per step" in the project means the same thing.
"""

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds of the first call and of each timed call."""

    first_s: float
    times_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def min_s(self) -> float:
        return min(self.times_s)


def time_calls(fn: Callable[[int], Any], *, repeats: int = 5, warmup: int = 1) -> Timing:
    """Time `fn(i)` for i = 0 (first call), 1..warmup (untimed), then `repeats` timed calls.

    `fn` receives the call index so a stateful caller (a training step) can feed a fresh batch each time.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    t0 = time.perf_counter()
    jax.block_until_ready(fn(0))
    first = time.perf_counter() - t0
    times = []
    for i in range(1, warmup + repeats + 1):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(i))
        if i > warmup:
            times.append(time.perf_counter() - t0)
    return Timing(first, tuple(times))


def median_seconds(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn()` over `repeats` calls after `warmup` >= 1 untimed ones (the first compiles)."""
    if warmup < 1:
        raise ValueError(f"warmup must be >= 1 (the first call compiles), got {warmup}")
    return time_calls(lambda _: fn(), repeats=repeats, warmup=warmup - 1).median_s
