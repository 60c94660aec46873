import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("core_latency", REPO / "benchmarks" / "core_latency.py")
core_latency = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core_latency)

needs_two_cpus_and_cc = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 or shutil.which(os.environ.get("CC", "cc")) is None,
    reason="the probe pins threads to two CPUs and is built with a C compiler")


def test_each_step_is_labelled_by_the_samples_taken_while_it_ran():
    samples = [(10.05, 55.0), (10.15, 60.0), (10.25, 330.0), (10.35, 340.0), (10.45, 52.0)]
    ends, durations = [10.2, 10.4, 10.5, 11.0], [0.2, 0.2, 0.1, 0.3]
    assert core_latency.label_steps(ends, durations, samples) == ["shared", "split", "shared", None]


def test_preempted_samples_do_not_make_a_step_split():
    samples = [(1.1, 55.0), (1.2, 2500.0), (1.3, 3000.0)]  # a descheduled thread, not a placement
    assert core_latency.label_steps([1.35], [0.3], samples) == ["shared"]
    summary = core_latency.summarise([0.3], [1.35], samples)
    assert summary["samples_dropped_preempted"] == 2 and summary["split_fraction"] == 0.0
    assert summary["step_ms_median_shared"] == 300.0 and summary["step_ms_median_split"] is None


@needs_two_cpus_and_cc
def test_probe_samples_round_trips_between_two_cpus_while_the_block_runs():
    t0 = time.time()
    with core_latency.Probe(period_ms=20) as probe:
        time.sleep(0.5)
    times = [t for t, _ in probe.samples]
    assert len(times) >= 10 and times == sorted(times) and t0 <= times[0] and times[-1] <= time.time()
    assert all(0 < ns < 1e6 for _, ns in probe.samples)


@pytest.mark.slow
@needs_two_cpus_and_cc
def test_benchmark_reports_step_times_by_the_cpus_placement(tmp_path):
    out = subprocess.run([sys.executable, "benchmarks/run.py", "--only", "fm_demo_independent", "--steps", "100",
                          "--warmup", "1", "--core-latency", "--out", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (entry,) = json.loads(next(tmp_path.glob("bench-*.json")).read_text())["entries"]
    placement = entry["core_latency"]
    assert placement["samples"] > 0 and placement["median_ns"] > 0
    assert 0 < placement["steps_shared"] + placement["steps_split"] <= 100  # 5 ms steps, a sample every 100 ms
