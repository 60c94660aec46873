"""Speed and memory benchmarks: compile time, median step time, examples/s and peak memory per entry.

Each `benchmarks/<method>.yaml` lists entries, of two kinds:
- `config` (+ `overrides`): a training step, timed exactly as the runner runs it (one jitted SPMD step on
  pre-placed batches: forward + loss + backward + optimiser update), after warm-up;
- `call: <function>` (+ `kwargs`): any other hot path (a rollout, an inference, an update). The function
  lives in `benchmarks/<method>.py`, builds its inputs and returns `(step, info)`: `step()` runs the
  work once and returns arrays to wait for; `info` gives at least `examples` (items per call) and may
  add `params` and other fields, copied into the result.
Both give the original implementation's ms/step where known (`reference_ms`). Every entry runs in its
own process, so compile time (first call minus the median call) and peak memory are its own.

    python benchmarks/run.py                  # everything, JSON to benchmarks/results/
    python benchmarks/run.py --only fm_demo --steps 50
    python benchmarks/run.py --only meshformer_transformer_gp_1900 --core-latency   # + the CPUs' placement

`--core-latency` samples, while the timed steps run, whether the two CPUs share a cache
(`benchmarks/core_latency.py`) and adds the median step time in each placement to the result.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["quickstart"]  # the demo task is the first entry


def entries() -> list[dict]:
    files = sorted(ROOT.glob("benchmarks/*.yaml"), key=lambda p: (p.stem not in ORDER, p.stem))
    out = []
    for f in files:
        for e in yaml.safe_load(f.read_text())["entries"]:
            out.append({"file": f.name, **e})
    names = [e["name"] for e in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"duplicate benchmark names: {sorted(dupes)}")
    return out


def train_step(entry: dict, warmup: int, steps: int):
    """The runner's jitted training step for a config entry, and its info."""
    import jax

    from sciml.params import count_params
    from sciml.runner import Trainer, load_config
    from sciml.runner.compile_child import load_step_compiled_in_child

    config = load_config(ROOT / entry["config"], entry.get("overrides", []))
    trainer = Trainer(config)
    state = trainer.place(trainer.init_state())
    n_params = count_params(state.model)
    batches = [trainer.device_batch(s) for s in range(warmup + steps + 1)]
    # As a run of this config would (sciml/runner/compile_child.py): a long CPU run compiles its step in a
    # child process, and the step then runs faster than one compiled here.
    t0 = time.perf_counter()
    from_child = load_step_compiled_in_child(config, trainer, state, 0)
    child_s = time.perf_counter() - t0 if from_child is not None else 0.0
    box = [state]
    # Counted after the timing (a callable), so that its compilation cannot warm the timed first call.
    flops = lambda: step_flops(trainer.step, jax.numpy.asarray(0), trainer.place(trainer.init_state()), batches[0])

    def step(s):
        box[0], m = trainer.step(jax.numpy.asarray(s), box[0], batches[s])
        return box[0], m

    return step, {"params": int(n_params), "examples": trainer.batch_size(), "flops_per_step": flops,
                  "step_compiled_in_child": from_child, "compile_in_child_s": child_s}


def step_flops(jitted, *args) -> float | None:
    """XLA's count of floating-point operations of one call (cost analysis of the compiled program)."""
    try:
        return float(jitted.lower(*args).compile().cost_analysis()["flops"])
    except Exception:  # not every backend reports costs; the timing does not depend on it
        return None


def function_step(entry: dict):
    """`call: fn` of benchmarks/<file>.py with `kwargs`: returns fn's (step, info)."""
    import importlib.util

    path = ROOT / "benchmarks" / (Path(entry["file"]).stem + ".py")
    if not path.exists():
        raise FileNotFoundError(f"entry {entry['name']!r} calls {entry['call']!r}, but {path} does not exist")
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, entry["call"]):
        raise AttributeError(f"{path.name} has no function {entry['call']!r} (entry {entry['name']!r})")
    step, info = getattr(module, entry["call"])(**entry.get("kwargs", {}))
    if "examples" not in info:
        raise ValueError(f"{entry['call']} must return info with 'examples' (items per call)")
    return lambda s: step(), info


def measure(entry: dict, steps: int, warmup: int, core_latency: bool = False) -> dict:
    """Time one entry in this process; with `core_latency`, the steps' times by the CPUs' placement too."""
    import contextlib

    import jax

    from sciml.runner import enable_compile_cache
    from sciml.timing import time_calls

    enable_compile_cache()

    if ("call" in entry) == ("config" in entry):
        raise ValueError(f"entry {entry['name']!r} needs exactly one of `config` or `call`")
    step, info = function_step(entry) if "call" in entry else train_step(entry, warmup, steps)
    ends = []  # the unix time at which each call's result was ready

    def step_then_wait(s):
        out = jax.block_until_ready(step(s))
        ends.append(time.time())
        return out

    if core_latency:
        from core_latency import Probe, summarise  # benchmarks/, this script's folder
    probe = Probe() if core_latency else contextlib.nullcontext()
    with probe:
        timing = time_calls(step_then_wait, repeats=steps, warmup=warmup)
    if core_latency:
        info["core_latency"] = summarise(list(timing.times_s), ends[-steps:], probe.samples)
    first, median, times = timing.first_s, timing.median_s, timing.times_s
    if callable(info.get("flops_per_step")):
        info["flops_per_step"] = info["flops_per_step"]()
    stats = jax.devices()[0].memory_stats() or {}
    child_s = info.pop("compile_in_child_s", 0.0)  # the step compiled before the timed first call
    extra = {k: v for k, v in info.items() if k not in ("params", "examples", "flops_per_step")}
    return {
        "name": entry["name"],
        "kind": "call" if "call" in entry else "train_step",
        "config": entry.get("config"),
        "call": entry.get("call"),
        "overrides": entry.get("overrides", []),
        "kwargs": entry.get("kwargs", {}),
        "params": info.get("params"),
        "batch_size": info["examples"],
        "compile_s": round(child_s + max(first - median, 0.0), 3),  # a cached compile under load can beat the median
        "step_ms_median": round(1e3 * median, 3),
        "step_ms_iqr": [round(1e3 * q, 3) for q in statistics.quantiles(times, n=4)[::2]] if len(times) > 3 else None,
        "examples_per_s": round(info["examples"] / median, 1),
        "flops_per_step": info.get("flops_per_step"),
        "gflop_per_s": round(info["flops_per_step"] / median / 1e9, 1) if info.get("flops_per_step") else None,
        "peak_device_bytes": stats.get("peak_bytes_in_use"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "reference_ms": entry.get("reference_ms"),
        "speedup_vs_reference": (
            round(statistics.mean(entry["reference_ms"]) / (1e3 * median), 2) if entry.get("reference_ms") else None
        ),
        "steps_timed": steps,
        **extra,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="entry names to run")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--core-latency", action="store_true",
                   help="sample the CPUs' placement during the timed steps (benchmarks/core_latency.py)")
    p.add_argument("--entry-json", help=argparse.SUPPRESS)  # internal: run one entry, print JSON
    args = p.parse_args()

    if args.entry_json:
        print("RESULT " + json.dumps(measure(json.loads(args.entry_json), args.steps, args.warmup,
                                             args.core_latency)))
        return 0

    import jax

    chosen = [e for e in entries() if not args.only or e["name"] in args.only]
    if args.only and len(chosen) != len(args.only):
        known = [e["name"] for e in entries()]
        raise SystemExit(f"unknown entries {sorted(set(args.only) - {e['name'] for e in chosen})}; known: {known}")
    results = []
    for e in chosen:
        cmd = [sys.executable, __file__, "--entry-json", json.dumps(e), "--steps", str(args.steps),
               "--warmup", str(args.warmup)] + (["--core-latency"] if args.core_latency else [])
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=os.environ)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            results.append({"name": e["name"], "error": proc.stderr.strip().splitlines()[-1:]})
            print(f"{e['name']}: FAILED {results[-1]['error']}")
            continue
        r = json.loads(line[len("RESULT "):])
        results.append(r)
        ref = f"  (original {r['reference_ms']} ms)" if r["reference_ms"] else ""
        print(f"{r['name']:<28} compile {r['compile_s']:7.2f} s   step {r['step_ms_median']:9.2f} ms   "
              f"{r['examples_per_s']:10.1f} ex/s   rss {r['peak_rss_mb']:7.0f} MB{ref}")
    report = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]},
        "entries": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
