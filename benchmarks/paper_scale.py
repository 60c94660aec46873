"""Paper-scale configs on this machine: XLA's FLOPs and memory estimate per step, the measured step time
at the paper's batch, and the time the config's `train.steps` would take at that speed.

    python benchmarks/paper_scale.py [--only pfgmpp/paper_cifar10.yaml ...] [--steps 5] [--out FILE.json]

Each config runs in its own process (so one that runs out of memory does not stop the others).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(name: str, steps: int, overrides: list[str]) -> dict:
    """One config's dry-run figures and, with `steps` > 0, its median step time at the paper batch."""
    import jax
    import jax.numpy as jnp

    from sciml.runner import enable_compile_cache, load_config
    from sciml.runner.train import Trainer, dry_run
    from sciml.timing import time_calls

    enable_compile_cache()
    config = load_config(ROOT / "experiments" / name, overrides)
    out = {"config": name, "overrides": overrides, **dry_run(config)}
    if steps == 0:
        return out
    trainer = Trainer(config)
    box = [trainer.place(trainer.init_state())]
    batches = [trainer.device_batch(s) for s in range(steps + 2)]

    def step(i):
        box[0], metrics = trainer.step(jnp.asarray(i, jnp.int32), box[0], batches[i])
        return metrics["loss"]

    timing = time_calls(step, repeats=steps, warmup=1)
    out.update(
        device=str(jax.devices()[0].device_kind),
        step_ms_median=round(1e3 * timing.median_s, 2),
        train_steps=config.train.steps,
        estimated_hours=round(config.train.steps * timing.median_s / 3600, 2),
    )
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--steps", type=int, default=5, help="timed steps; 0 = the dry-run figures only")
    p.add_argument("--out", default=None)
    p.add_argument("--timeout", type=float, default=None, help="seconds per config")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="overrides for every config (e.g. stand-in data of the published dataset's shapes)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.set)))
        return 0
    names = args.only or sorted(p.relative_to(ROOT / "experiments").as_posix()
                                for p in (ROOT / "experiments").rglob("paper*.yaml"))
    rows = []
    for name in names:
        try:
            cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--set", *args.set]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            rows.append({"config": name, "error": f"timed out after {args.timeout} s"})
            print(json.dumps(rows[-1]), flush=True)
            continue
        if proc.returncode:
            lines = proc.stderr.strip().splitlines()
            rows.append({"config": name, "error": lines[-1] if lines else f"exit status {proc.returncode}"})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
        if args.out:  # after every config, so a run cut short keeps what it measured
            Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
