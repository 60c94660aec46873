"""Whether two CPUs share a cache right now, sampled beside a benchmark.

On a 2-vCPU cloud machine the hypervisor decides which physical cores run the two vCPUs, and the choice
changes while a program runs. On the AMD EPYC machine of benchmarks/README.md a cache line went back and forth
between the two vCPUs in about 50-65 ns most of the time and in about 330 ns for stretches of seconds to
minutes: the latencies of two cores that share an L3 cache and of two cores on different chiplets. A two-thread
XLA step of many small operations, whose threads hand data to each other all the time, ran up to twice as slow
in the second placement (the mesh transformer's "slow mode", 83 against 157 ms).

`cross_core_latency.c` measures it: every `period_ms` two threads pinned to two CPUs pass a counter back and
forth `round_trips` times, then sleep. `Probe` builds it with the C compiler (`cc`) and runs it in the
background; `label_steps` then says, for each timed step, in which placement it ran. Samples above
`PREEMPTED_NS` are dropped: they are a thread descheduled mid-sample, not a placement.

    python benchmarks/core_latency.py --seconds 30        # the placement over the next 30 s
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).with_name("cross_core_latency.c")
BINARY = Path(__file__).resolve().parents[1] / "build" / "cross_core_latency"
#: Round trips above this many ns: the two CPUs do not share a cache (50-65 ns when they did, about 330 ns
#: when they did not, on the machine above).
SPLIT_NS = 200.0
#: Round trips above this many ns: a thread was descheduled during the sample; the sample is dropped.
PREEMPTED_NS = 1000.0


def build() -> Path | None:
    """The probe's binary, compiled on first use (or when its source changed); None without a C compiler."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return None
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    partial = BINARY.with_name(f"{BINARY.name}.{os.getpid()}")  # then renamed: two processes may build at once
    subprocess.run([cc, "-O2", "-pthread", str(SOURCE), "-o", str(partial)], check=True)
    os.replace(partial, BINARY)
    return BINARY


class Probe:
    """Samples cross-CPU round trips in a child process while the block runs; `samples` afterwards holds
    (unix time, ns per round trip) pairs. Raises if there is no C compiler or fewer than two CPUs."""

    def __init__(self, cpus: tuple[int, int] | None = None, period_ms: float = 100.0, round_trips: int = 2000,
                 max_seconds: float = 3600.0):
        allowed = sorted(os.sched_getaffinity(0))
        if cpus is None:
            if len(allowed) < 2:
                raise RuntimeError(f"the cross-core probe needs two CPUs; this process may use {allowed}")
            cpus = (allowed[0], allowed[1])
        binary = build()
        if binary is None:
            raise RuntimeError("the cross-core probe needs a C compiler (`cc`, or $CC) to build "
                               f"{SOURCE.name}")
        self.command = [str(binary), str(max_seconds), str(period_ms), str(round_trips), *map(str, cpus)]
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> "Probe":
        self._out = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(self.command, stdout=self._out, stderr=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc) -> None:
        self._proc.terminate()
        _, err = self._proc.communicate()
        if self._proc.returncode not in (0, -15):
            raise RuntimeError(f"the cross-core probe failed ({self._proc.returncode}): {err.strip()}")
        self._out.seek(0)
        self.samples = [(float(t), float(ns)) for t, ns in (line.split() for line in self._out if line.strip())]
        self._out.close()


def label_steps(ends: list[float], durations: list[float], samples: list[tuple[float, float]]) -> list[str | None]:
    """For each step (its unix end time and its duration, in seconds): "shared" or "split" by the median of the
    unpreempted samples taken while it ran, or None where none was taken."""
    kept = [(t, ns) for t, ns in samples if ns <= PREEMPTED_NS]
    labels = []
    for end, dur in zip(ends, durations, strict=True):
        during = [ns for t, ns in kept if end - dur <= t <= end]
        labels.append(None if not during else "split" if statistics.median(during) > SPLIT_NS else "shared")
    return labels


def summarise(times_s: list[float], ends: list[float], samples: list[tuple[float, float]]) -> dict:
    """The median step time in each placement, and the samples' median and split fraction."""
    labels = label_steps(ends, times_s, samples)
    kept = [ns for _, ns in samples if ns <= PREEMPTED_NS]
    out = {"samples": len(samples), "samples_dropped_preempted": len(samples) - len(kept),
           "median_ns": round(statistics.median(kept), 1) if kept else None,
           "split_fraction": round(sum(ns > SPLIT_NS for ns in kept) / len(kept), 3) if kept else None}
    for placement in ("shared", "split"):
        mine = [t for t, label in zip(times_s, labels) if label == placement]
        out[f"steps_{placement}"] = len(mine)
        out[f"step_ms_median_{placement}"] = round(1e3 * statistics.median(mine), 3) if mine else None
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--period-ms", type=float, default=100.0)
    args = p.parse_args()
    with Probe(period_ms=args.period_ms) as probe:
        time.sleep(args.seconds)
    kept = [ns for _, ns in probe.samples if ns <= PREEMPTED_NS]
    if not kept:
        raise SystemExit(f"no usable sample in {args.seconds} s ({len(probe.samples)} dropped as preempted)")
    per_second = max(int(1e3 / args.period_ms), 1)
    print("ns per round trip, median of each second:",
          " ".join(f"{statistics.median(kept[i:i + per_second]):.0f}" for i in range(0, len(kept), per_second)))
    print(f"{len(kept)} samples ({len(probe.samples) - len(kept)} dropped as preempted), median "
          f"{statistics.median(kept):.0f} ns; above {SPLIT_NS:.0f} ns (no shared cache): "
          f"{sum(ns > SPLIT_NS for ns in kept) / len(kept):.0%}")


if __name__ == "__main__":
    main()
