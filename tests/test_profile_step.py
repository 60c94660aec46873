import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

REPO = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("profile_step", REPO / "benchmarks" / "profile_step.py")
profile_step = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(profile_step)


def _hlo(fn, *args) -> str:
    return jax.jit(fn).lower(*args).compile().as_text()


def test_matrix_product_flops_count_the_contracted_size_not_an_output_size():
    x, w = jnp.ones((96, 40)), jnp.ones((40, 24))
    hlo = _hlo(lambda x, w: jnp.tanh(x @ w), x, w)
    comps = profile_step.parse_hlo(hlo)
    dots = [(c, n) for c, defs in comps.items() for n, (_, op, _) in defs.items() if op in ("dot", "fusion")
            and profile_step.classify(comps, n)[0] == "matrix product"]
    assert dots, hlo
    flops = sum(profile_step.classify(comps, n)[1] for c, n in dots if c.startswith("main"))
    assert flops == 2 * 96 * 40 * 24


def test_a_transpose_is_a_copy_and_a_row_sum_a_reduction_not_element_wise_work():
    comps = profile_step.parse_hlo(_hlo(lambda x: (x.T * 1.0, x.sum(1)), jnp.ones((64, 32))))
    (entry,) = [defs for name, defs in comps.items() if name.startswith("main")]
    kinds = {profile_step.classify(comps, n)[0] for n, (_, op, _) in entry.items() if op not in ("parameter", "tuple")}
    assert {"transpose/copy", "reduction"} <= kinds, kinds


def test_profiled_thunks_join_the_compiled_program(tmp_path):
    """The trace's event names must be the HLO's instruction names, or every kind would read zero."""
    x, w = jnp.ones((512, 256)), jnp.ones((256, 256))
    fn = jax.jit(lambda x, w: jax.nn.relu(x @ w) @ w)
    hlo = fn.lower(x, w).compile().as_text()
    fn(x, w).block_until_ready()
    with jax.profiler.trace(str(tmp_path)):
        for _ in range(2):
            fn(x, w).block_until_ready()
    summary = profile_step.summarise(profile_step.trace_durations(str(tmp_path)), hlo, steps=2)
    products = summary["kinds"]["matrix product"]
    assert products["ms"] > 0 and products["gflop"] == pytest.approx(2 * 2 * 512 * 256 * 256 / 1e9)
    assert summary["ops"][0]["ms"] >= summary["ops"][-1]["ms"]


def test_a_loops_own_event_is_not_counted_beside_the_thunks_of_its_body(tmp_path):
    x = jnp.ones((256, 256))
    fn = jax.jit(lambda x: jax.lax.fori_loop(0, 6, lambda i, y: jnp.tanh(y @ x), x))
    hlo = fn.lower(x).compile().as_text()
    fn(x).block_until_ready()
    with jax.profiler.trace(str(tmp_path)):
        fn(x).block_until_ready()
    summary = profile_step.summarise(profile_step.trace_durations(str(tmp_path)), hlo, steps=1)
    kinds = summary["kinds"]
    assert kinds["control flow"]["count"] >= 1 and kinds["matrix product"]["ms"] > 0
    assert summary["thunk_ms"] == pytest.approx(sum(v["ms"] for k, v in kinds.items() if k != "control flow"))
    assert all(o["kind"] != "control flow" for o in summary["ops"])


def test_ab_rejects_options_that_are_not_an_object_of_objects():
    out = subprocess.run([sys.executable, "benchmarks/profile_step.py", "fm_demo_independent", "--ab", '["x"]'],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and "JSON object of objects" in out.stderr


@pytest.mark.slow
def test_cli_profiles_a_real_entry_and_ab_reports_every_variant(tmp_path):
    """The whole path: entry lookup, the runner's step, the trace after donation, the JSON; and --ab's rounds."""
    out = subprocess.run([sys.executable, "benchmarks/profile_step.py", "fm_demo_independent", "--steps", "2",
                          "--json", str(tmp_path / "p.json")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    p = json.loads((tmp_path / "p.json").read_text())
    assert p["step_ms"] > 0 and p["kinds"]["matrix product"]["gflop"] > 0
    assert p["thunk_ms"] == pytest.approx(sum(v["ms"] for k, v in p["kinds"].items() if k != "control flow"))
    # with the CPUs' placement sampled where the probe can run (two CPUs, a C compiler)
    probe = len(os.sched_getaffinity(0)) >= 2 and shutil.which(os.environ.get("CC", "cc")) is not None
    out = subprocess.run([sys.executable, "benchmarks/profile_step.py", "fm_demo_independent", "--steps", "2",
                          "--rounds", "1", "--ab", '{"no YNNPACK": {"xla_cpu_experimental_ynn_fusion_type": ""}}',
                          "--json", str(tmp_path / "ab.json")] + ["--core-latency"] * probe, cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ab = json.loads((tmp_path / "ab.json").read_text())
    assert set(ab) == {"default", "no YNNPACK"} and all(v["calls"] == 2 and v["median_ms"] > 0 for v in ab.values())
    assert ab["no YNNPACK"]["options"]["xla_cpu_experimental_ynn_fusion_type"] == ""
    if probe:
        assert all(v["core_latency"]["steps_shared"] + v["core_latency"]["steps_split"] <= 2 for v in ab.values())
