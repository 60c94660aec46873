"""Where a step's time goes: a `jax.profiler` trace of a benchmark entry, joined with its compiled HLO.

    python benchmarks/profile_step.py fim_mjp_original_shape               # table by kind, top ops
    python benchmarks/profile_step.py meshformer_mgn_gp_1900 --json out.json
    python benchmarks/profile_step.py fim_mjp_original_shape --options '{"xla_cpu_experimental_ynn_fusion_type": ""}'
    python benchmarks/profile_step.py fim_mjp_original_shape --ab '{"no YNNPACK":
        {"xla_cpu_experimental_ynn_fusion_type": ""}}'                       # A/B of compiler options

The entry's training step (a `config` entry of `benchmarks/*.yaml`) runs a few times untraced (its wall
time), then `--steps` times under the profiler. Each XLA:CPU thunk
(one HLO instruction of the compiled program: a fusion, a library product, a copy) is a trace event;
their durations are summed per instruction and per kind (matrix product, transpose/copy, element-wise,
reduction, gather, scatter, convolution, other; a loop's or a call's own event, which spans its body's
thunks, is left out of the sums). XLA runs independent thunks at once, so the thunk time
of a step can exceed its wall time. For matrix products the floating-point work is counted from the HLO
shapes (2 x output size x contracted size), so their achieved GFLOP/s inside the step can stand beside
`matmul_peak_2048` (`benchmarks/calibration.yaml`). Caveat: products that XLA:CPU hands to Eigen rather
than YNNPACK (`xla_cpu_experimental_ynn_fusion_type` without the dot kinds) run asynchronously, so their
events end before their work does and their thunk time reads far too low.

`--ab` compiles the same step once per variant of per-program XLA options (a JSON object: variant name
-> options, added to the task's own `compiler_options`; the task's own is variant "default") and
times them in alternating rounds in this one process, so the machine's drift hits every variant alike.
The profile times the executable a long run trains with (compiled in a child process where the runner
would, `sciml/runner/compile_child.py`); `--options` and `--ab` compile in this process, whose steps can
run slower for it (benchmarks/README.md, "Compiling in a child process"): compare variants with each
other, not with `benchmarks/run.py`.
"""

import argparse
import collections
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("matrix product", "convolution", "transpose/copy", "element-wise", "reduction", "gather", "scatter",
         "other", "control flow")
_MOVES = {"parameter", "constant", "bitcast", "reshape", "broadcast", "transpose", "copy", "slice",
          "concatenate", "pad", "dynamic-slice", "dynamic-update-slice", "iota", "get-tuple-element", "tuple"}
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(.+?)\s+([a-z][\w\-]*)\((.*)$")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s.*\{\s*$")


def _dims(shape: str) -> list[int]:
    m = re.search(r"\[([\d,]*)\]", shape)
    return [int(d) for d in m.group(1).split(",") if d] if m else []


def parse_hlo(text: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    """computation name -> {instruction name: (shape, opcode, rest of the line)} of HLO module text."""
    comps, current = {}, None
    for line in text.splitlines():
        head = _COMPUTATION.match(line)
        if head and "=" not in line.split("{")[0].split("(")[0]:
            current = comps.setdefault(head.group(1), {})
            continue
        m = _INSTRUCTION.match(line)
        if m and current is not None:
            current[m.group(1)] = (m.group(2), m.group(3), m.group(4))
    return comps


def _dot_flops(defs: dict[str, tuple[str, str, str]], shape: str, rest: str) -> float:
    """2 x output elements x contracted size of one `dot` (operand shapes looked up in `defs`)."""
    operands = re.findall(r"%([\w.\-]+)", rest.split(")")[0])
    contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", rest)
    if not operands or operands[0] not in defs or contracting is None:
        return 0.0
    lhs = _dims(defs[operands[0]][0])
    k = 1
    for d in (int(x) for x in contracting.group(1).split(",") if x):
        k *= lhs[d]
    out = 1
    for d in _dims(shape):
        out *= d
    return 2.0 * out * k


def classify(comps: dict, name: str) -> tuple[str, float] | None:
    """(kind, matrix-product FLOPs) of the top-level instruction `name`, or None if it is not found."""
    found = next(((c, defs) for c, defs in comps.items() if name in defs), None)
    if found is None:
        return None
    _, defs = found
    shape, opcode, rest = defs[name]
    body = {name: defs[name]}
    if opcode == "fusion":
        called = re.search(r"calls=%([\w.\-]+)", rest)
        body = comps.get(called.group(1), {}) if called else {}
    ops = {op for _, op, _ in body.values()}
    flops = sum(_dot_flops(body, s, r) for s, op, r in body.values() if op == "dot")
    if "convolution" in ops:
        return "convolution", flops
    if "dot" in ops:
        return "matrix product", flops
    for kind in ("scatter", "gather"):
        if kind in ops:
            return kind, 0.0
    if ops & {"reduce", "reduce-window", "sort"}:
        return "reduction", 0.0
    if ops and ops <= _MOVES:
        return ("transpose/copy" if ops & {"transpose", "copy", "concatenate", "pad", "dynamic-update-slice"}
                else "other"), 0.0
    if opcode in ("while", "conditional", "call"):
        return "control flow", 0.0  # its event spans the thunks of its body, which are counted themselves
    if opcode in ("custom-call", "all-reduce", "infeed", "outfeed"):
        return "other", 0.0
    return "element-wise", 0.0


def summarise(durations_us: dict[str, float], hlo_text: str, steps: int) -> dict:
    """Per-kind and per-instruction milliseconds a step (and products' GFLOP/s) from thunk durations."""
    comps = parse_hlo(hlo_text)
    kinds = {k: {"ms": 0.0, "gflop": 0.0, "count": 0} for k in KINDS}
    ops = []
    for name, us in durations_us.items():
        c = classify(comps, name)
        if c is None:
            continue  # runtime events that are not HLO instructions
        kind, flops = c
        ms = us / 1e3 / steps
        kinds[kind]["ms"] += ms
        kinds[kind]["gflop"] += flops / 1e9
        kinds[kind]["count"] += 1
        shape = next(defs[name][0] for defs in comps.values() if name in defs)
        ops.append({"name": name, "kind": kind, "ms": ms, "shape": shape, "gflop": flops / 1e9})
    for v in kinds.values():
        v["gflop_per_s"] = round(v["gflop"] / (v["ms"] / 1e3), 1) if v["gflop"] and v["ms"] else None
    ops.sort(key=lambda o: -o["ms"])
    thunk_ms = sum(v["ms"] for k, v in kinds.items() if k != "control flow")
    return {"thunk_ms": thunk_ms, "kinds": kinds, "ops": [o for o in ops if o["kind"] != "control flow"]}


def trace_durations(trace_dir: str) -> dict[str, float]:
    """Summed duration (microseconds) per event name of the newest trace under `trace_dir`."""
    files = sorted(Path(trace_dir).rglob("*.trace.json.gz"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f"no *.trace.json.gz under {trace_dir}: did the profiler run?")
    events = json.load(gzip.open(files[-1]))
    events = events["traceEvents"] if isinstance(events, dict) else events
    out = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            out[e["name"]] += float(e["dur"])
    return dict(out)


def _entry_step(name: str):
    """Trainer and config for the `config` entry `name` of benchmarks/*.yaml."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from run import entries

    from sciml.runner import Trainer, enable_compile_cache, load_config

    enable_compile_cache()
    entry = next((e for e in entries() if e["name"] == name), None)
    if entry is None:
        raise SystemExit(f"no benchmark entry {name!r}; see benchmarks/*.yaml")
    if "config" not in entry:
        raise SystemExit(f"entry {name!r} is a `call` entry; only training steps (`config`) can be profiled")
    config = load_config(ROOT / entry["config"], entry.get("overrides", []))
    return Trainer(config), config


def _timed(step, state, batches, first: int, count: int, ends: list | None = None):
    """Runs `count` steps; returns the state and each step's seconds (and appends its unix end time to `ends`)."""
    import jax

    times = []
    for s in range(first, first + count):
        t0 = time.perf_counter()
        state, _ = step(jax.numpy.asarray(s), state, batches[s % len(batches)])
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t0)
        if ends is not None:
            ends.append(time.time())
    return state, times


def profile(name: str, steps: int, warmup: int, options: dict | None = None) -> dict:
    """The step's wall time and its thunk time by kind and by instruction; `options`: per-program XLA
    options added to the task's own."""
    import jax

    from sciml.runner.compile_child import load_step_compiled_in_child
    from sciml.runner.compiled_step import CompiledStep

    trainer, config = _entry_step(name)
    state = trainer.place(trainer.init_state())
    from_child = None
    if options:
        trainer.step = CompiledStep(trainer.step._fn, {**trainer.task.compiler_options(), **options})
    else:  # the executable benchmarks/run.py times and a long run trains with (see its train_step)
        from_child = load_step_compiled_in_child(config, trainer, state, 0)
    batches = [trainer.device_batch(s) for s in range(4)]
    state, _ = _timed(trainer.step, state, batches, 0, warmup)
    state, wall = _timed(trainer.step, state, batches, warmup, max(steps, 3))
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            state, _ = _timed(trainer.step, state, batches, warmup + steps, steps)
        durations = trace_durations(d)
    compiled = trainer.step.lower(jax.numpy.asarray(0), state, batches[0]).compile()  # after the timing: cached
    out = summarise(durations, compiled.as_text(), steps)
    flops = (compiled.cost_analysis() or {}).get("flops")
    out.update(name=name, step_ms=1e3 * statistics.median(wall), xla_gflop=flops / 1e9 if flops else None,
               steps_traced=steps, options=options or {}, step_compiled_in_child=from_child, jax=jax.__version__)
    return out


def ab(name: str, variants: dict[str, dict], rounds: int, per_round: int, core_latency: bool = False) -> dict:
    """Median ms per variant of compiler options, compiled in this process, timed in alternating rounds; with
    `core_latency`, also by the CPUs' placement during each step (benchmarks/core_latency.py)."""
    import contextlib

    from sciml.runner.compiled_step import CompiledStep

    trainer, _ = _entry_step(name)
    batches = [trainer.device_batch(s) for s in range(per_round + 1)]
    own = dict(trainer.task.compiler_options())
    steps = {}
    for vname, opts in {"default": {}, **variants}.items():
        step = CompiledStep(trainer.step._fn, compiler_options={**own, **opts})
        state, _ = _timed(step, trainer.place(trainer.init_state()), batches, 0, 1)  # compile
        steps[vname] = [step, state, [], []]
    if core_latency:
        from core_latency import Probe, summarise  # benchmarks/, this script's folder
    with Probe() if core_latency else contextlib.nullcontext() as probe:
        for _ in range(rounds):
            for box in steps.values():
                box[1], times = _timed(box[0], box[1], batches, 1, per_round, ends=box[3])
                box[2].extend(times)
    return {v: {"median_ms": 1e3 * statistics.median(t), "min_ms": 1e3 * min(t), "calls": len(t),
                "options": {**own, **variants.get(v, {})},
                **({"core_latency": summarise(t, ends, probe.samples)} if core_latency else {})}
            for v, (_, _, t, ends) in steps.items()}


def _print_profile(p: dict, top: int) -> None:
    print(f"{p['name']}: step {p['step_ms']:,.0f} ms (untraced median); thunk time {p['thunk_ms']:,.0f} ms a step "
          f"({p['steps_traced']} traced steps; thunks overlap)")
    if p["xla_gflop"]:
        print(f"XLA counts {p['xla_gflop']:,.1f} GFLOP a step: {p['xla_gflop'] / p['step_ms'] * 1e3:,.0f} GFLOP/s "
              "over the wall time")
    print(f"{'kind':16s} {'ms/step':>9s} {'share':>6s} {'thunks':>6s} {'GFLOP':>8s} {'GFLOP/s':>8s}")
    for k, v in sorted(p["kinds"].items(), key=lambda kv: -kv[1]["ms"]):
        if v["count"]:
            rate = f"{v['gflop_per_s']:8.0f}" if v["gflop_per_s"] else " " * 8
            share = "  body" if k == "control flow" else f"{v['ms'] / p['thunk_ms']:6.1%}"
            print(f"{k:16s} {v['ms']:9.1f} {share} {v['count']:6d} {v['gflop']:8.1f} {rate}")
    print(f"top {top} thunks:")
    for o in p["ops"][:top]:
        print(f"  {o['ms']:8.2f} ms  {o['kind']:15s} {o['shape'][:40]:40s} {o['name']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("entry", help="a `config` entry of benchmarks/*.yaml")
    p.add_argument("--steps", type=int, default=2, help="traced steps (profile) or steps a round (--ab)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--options", help="JSON object: per-program XLA options to profile under")
    p.add_argument("--ab", help="JSON object: variant name -> per-program XLA options")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--core-latency", action="store_true",
                   help="with --ab: also the medians by the CPUs' placement (benchmarks/core_latency.py)")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args()
    if args.ab:
        variants = json.loads(args.ab)
        if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
            raise SystemExit('--ab takes a JSON object of objects, e.g. \'{"eigen": {"xla_cpu_...": ""}}\'')
        result = ab(args.entry, variants, args.rounds, max(args.steps, 2), args.core_latency)
        for v, r in result.items():
            by_placement = "".join(
                f"  {where} {c[f'step_ms_median_{where}'] or float('nan'):7.1f} ms ({c[f'steps_{where}']})"
                for c in [r.get("core_latency")] if c for where in ("shared", "split"))
            print(f"{v:20s} median {r['median_ms']:9.1f} ms  min {r['min_ms']:9.1f} ms  ({r['calls']} calls)"
                  + by_placement)
    else:
        result = profile(args.entry, args.steps, args.warmup, json.loads(args.options) if args.options else None)
        _print_profile(result, args.top)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
