"""One check of the accelerator path, written as one JSON (run by benchmarks/device_check.sh).

1. the devices JAX sees; 2. the multi-device runner tests; 3. a short training of every method on all
local devices (the runner's Trainer: one jitted SPMD step over the ("data",) mesh, 20 steps, no
evaluation); 4. the original-shape benchmark entries and the matmul ceiling through benchmarks/run.py,
with each step's achieved GFLOP/s as a fraction of the measured float32 matmul rate.
On a machine without an accelerator the same script runs on the CPU (its fallback, tested in CI).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: One configuration per method for the short training (method -> config, overrides).
TRAININGS = {
    "fm": ("experiments/quickstart/flow_matching_2d.yaml", []),
    "pfgmpp": ("experiments/pfgmpp/digits_unet.yaml", []),
    "mfm": ("experiments/mfm/letters_mfm.yaml", []),
    "gde": ("experiments/gde/normal_d5.yaml", []),
    "meshformer": ("experiments/meshformer/transformer.yaml", ["task.data=synthetic", "task.n_train=2",
                                                              "task.n_test=1", "task.frames=4"]),
    "giorom": ("experiments/giorom/gns.yaml", ["task.n_train=1", "task.n_test=1", "task.n_frames=12",
                                               "task.materials=[water]"]),
    "probconserv": ("experiments/probconserv/stefan.yaml", []),
    "fim": ("experiments/fim/pretrain.yaml", ["task.num_processes=64", "task.cache=false"]),
}
ORIGINAL_SHAPES = ["fm_letters_original_shapes", "mfm_letters_original_shapes", "pfgmpp_unet16_d128",
                   "meshformer_mgn_gp_1900", "meshformer_transformer_gp_1900", "probconserv_anp_original_shape",
                   "fim_mjp_original_shape", "giorom_gns_original_shapes"]
PEAK = "matmul_peak_2048"


def short_training(config: str, overrides: list[str], steps: int) -> dict:
    import jax

    from sciml.runner import Trainer, load_config

    cfg = load_config(ROOT / config, [*overrides, f"train.steps={max(steps, 2)}"])
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    state = trainer.place(trainer.init_state())
    losses = []
    for s in range(steps):
        state, m = trainer.step(jax.numpy.asarray(s), state, trainer.device_batch(s))
        losses.append(m["loss"])
        if s == 0:
            jax.block_until_ready(m["loss"])
            t1 = time.perf_counter()
    losses = [float(x) for x in jax.device_get(losses)]
    t2 = time.perf_counter()
    return {"devices": trainer.mesh.size, "first_step_s": round(t1 - t0, 2),
            "steps_per_s": round((steps - 1) / (t2 - t1), 2), "loss_first": losses[0], "loss_last": losses[-1],
            "finite": all(map(lambda v: v == v and abs(v) != float("inf"), losses))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "device"))
    p.add_argument("--steps", type=int, default=20, help="steps of each short training")
    p.add_argument("--bench-steps", type=int, default=10)
    p.add_argument("--only", nargs="*", help="methods to train (default: all)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--skip-bench", action="store_true")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import jax

    report = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "jax": jax.__version__, "backend": jax.default_backend(),
              "devices": [str(d) for d in jax.devices()], "trainings": {}, "tests": None, "benchmarks": None}
    path = out / "device_check.json"
    save = lambda: path.write_text(json.dumps(report, indent=2))  # after every phase: a timeout keeps the rest
    if not a.skip_tests:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/runner/test_runner_parallel.py"], cwd=ROOT, capture_output=True, text=True)
        report["tests"] = {"returncode": proc.returncode, "tail": proc.stdout.strip().splitlines()[-1:],
                           "wall_s": round(time.perf_counter() - t0, 1)}
        save()
    for method, (config, overrides) in TRAININGS.items():
        if a.only and method not in a.only:
            continue
        try:
            report["trainings"][method] = short_training(config, overrides, a.steps)
        except Exception as e:  # one method failing must not hide the others
            report["trainings"][method] = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(method, report["trainings"][method], flush=True)
        save()
    if not a.skip_bench:
        bench_out = out / "bench"
        proc = subprocess.run([sys.executable, "benchmarks/run.py", "--only", PEAK, *ORIGINAL_SHAPES, "--steps",
                               str(a.bench_steps), "--warmup", "2", "--out", str(bench_out)], cwd=ROOT, text=True)
        entries = json.loads(sorted(bench_out.glob("bench-*.json"))[-1].read_text())["entries"]
        peak = next((e.get("gflop_per_s") for e in entries if e["name"] == PEAK), None)
        for e in entries:
            if peak and e.get("gflop_per_s"):
                e["fraction_of_matmul_peak"] = round(e["gflop_per_s"] / peak, 3)
        report["benchmarks"] = {"matmul_peak_gflop_per_s": peak, "entries": entries}
    save()
    print(f"wrote {path}")
    bad = [m for m, r in report["trainings"].items() if "error" in r or not r.get("finite")]
    return 1 if bad or (report["tests"] and report["tests"]["returncode"]) else 0


if __name__ == "__main__":
    sys.exit(main())
