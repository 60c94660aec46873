"""The `sciml` command: run, sweep, eval, list."""

import argparse
import importlib
import json
import sys
from pathlib import Path

from .config import ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sciml", description="Run sciml experiments.")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import a module that registers more tasks (repeatable)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train (or resume) one experiment")
    r.add_argument("config", help="experiment YAML")
    r.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    r.add_argument("--runs-dir", default="runs")
    r.add_argument("--distributed", action="store_true",
                   help="join a multi-process job (SLURM/TPU/Open MPI detected automatically)")
    r.add_argument("--coordinator", help="HOST:PORT of process 0 (explicit multi-process)")
    r.add_argument("--num-processes", type=int)
    r.add_argument("--process-id", type=int)
    r.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("sweep", help="run every point of the config's sweep: grid")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("eval", help="evaluate a finished or checkpointed run again")
    e.add_argument("run_dir")

    sub.add_parser("list", help="list registered tasks and experiment configs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for module in args.imports:
        importlib.import_module(module)
    try:
        return _dispatch(args)
    except (ConfigError, FileNotFoundError, KeyError, ValueError, FloatingPointError) as e:
        print(f"sciml {args.command}: error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "run":
        from .devices import cluster_detected, initialize_distributed

        explicit = args.coordinator is not None or args.num_processes is not None or args.process_id is not None
        if args.distributed or explicit or cluster_detected():
            initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        from .train import run

        r = run(args.config, args.overrides, runs_dir=args.runs_dir, progress=not args.no_progress)
        import jax

        if jax.process_index() == 0:
            print(f"run directory: {r.dir}")
            print(f"final metrics ({r.dir / 'final.json'}):")
            print(json.dumps(r.final, indent=2))
            figures = sorted(str(p) for p in r.dir.glob("*.png"))
            if figures:
                print("figures:\n  " + "\n  ".join(figures))
        return 0
    if args.command == "sweep":
        from .sweep import sweep

        rows = sweep(args.config, args.overrides, runs_dir=args.runs_dir, progress=not args.no_progress)
        failed = [r["point"] for r in rows if r["status"] == "failed"]
        print(f"{len(rows)} points: {len(rows) - len(failed)} finished, {len(failed)} failed {failed or ''}")
        return 1 if failed else 0
    if args.command == "eval":
        from .train import load

        r = load(args.run_dir)
        out = r.evaluate()
        (r.dir / "eval.json").write_text(json.dumps(out, indent=2))
        print(json.dumps(out, indent=2))
        return 0
    if args.command == "list":
        from .task import registered_tasks

        print("tasks:")
        for name, cls in registered_tasks().items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"  {name:<16} {doc}")
        root = Path("experiments")
        if root.is_dir():
            print("experiments:")
            for p in sorted(root.rglob("*.yaml")):
                print(f"  {p}")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
