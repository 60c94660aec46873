"""The `sciml` command: run, sweep, eval, record, list."""

import argparse
import importlib
import sys
import zipfile
from pathlib import Path

import yaml

from sciml.runner.checkpoint import CheckpointError
from sciml.runner.config import ConfigError
from sciml.runner.lock import RunInProgress

#: Errors a user can cause (bad files, configs, directories, data); each is printed as one line.
USER_ERRORS = (
    ConfigError, CheckpointError, RunInProgress, OSError, KeyError, ValueError, FloatingPointError,
    zipfile.BadZipFile, EOFError, yaml.YAMLError, ImportError,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sciml", description="Run sciml experiments.")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import a module that registers more tasks (repeatable)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train (or resume, or extend) one experiment")
    r.add_argument("config", help="experiment YAML")
    r.add_argument("overrides", nargs="*", help="key.sub=value overrides")
    r.add_argument("--runs-dir", default="runs")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--dry-run", action="store_true",
                   help="print the resolved config, parameter count, FLOPs per step and memory estimate; no training")
    _add_distributed(r)

    s = sub.add_parser("sweep", help="run every point of the config's sweep: grid (or of -m key=a,b ...)")
    s.add_argument("config")
    s.add_argument("overrides", nargs="*")
    s.add_argument("-m", "--multirun", nargs="+", default=[], metavar="KEY=A,B",
                   help="sweep these values (a grid over all -m keys) instead of the config's sweep: section")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--no-progress", action="store_true")
    _add_distributed(s)

    e = sub.add_parser("eval", help="evaluate a finished or checkpointed run again (the run is not changed)")
    e.add_argument("run_dir")
    e.add_argument("overrides", nargs="*", help="task.* evaluation settings, e.g. task.eval_samples=5000")
    e.add_argument("--out", help="folder for eval.json and figures (default: RUN_DIR/eval)")
    which = e.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="evaluate the kept checkpoint of this step")
    which.add_argument("--best", action="store_true", help="evaluate the best checkpoint (train.select)")

    rec = sub.add_parser("record", help="copy a finished run's small files (no checkpoints) to results/ with "
                         "PROVENANCE.md (commit, command, starts)")
    rec.add_argument("run_dir")
    rec.add_argument("--to", help="destination folder (default: results/<experiment>/<run name>)")
    rec.add_argument("--note", default="", help="a paragraph added to PROVENANCE.md (why the run was made, caveats)")
    rec.add_argument("--force", action="store_true", help="replace an existing record at the destination")

    sub.add_parser("list", help="list registered tasks and experiment configs")
    return p


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse, letting `key=value` overrides stand anywhere (also after flags: `run CONFIG --dry-run a.b=1`)."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    stray = [e for e in extra if e.startswith("-") or "=" not in e or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def _add_distributed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--distributed", action="store_true",
                   help="join a multi-process job (SLURM/TPU/Open MPI detected automatically)")
    p.add_argument("--coordinator", help="HOST:PORT of process 0 (explicit multi-process)")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--process-id", type=int)


def _maybe_distributed(args) -> None:
    from sciml.runner.devices import cluster_detected, initialise_distributed

    explicit = args.coordinator is not None or args.num_processes is not None or args.process_id is not None
    if args.distributed or explicit or cluster_detected():
        initialise_distributed(args.coordinator, args.num_processes, args.process_id)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        for module in args.imports:
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise ImportError(f"--import {module}: {e}") from None
        return _dispatch(args)
    except KeyboardInterrupt as e:
        print(f"sciml {args.command}: {e.args[0] if e.args else 'interrupted; rerun to resume'}", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        print(f"sciml {args.command}: error: {error_line(e)}", file=sys.stderr)
        return 2


def error_line(e: BaseException) -> str:
    """One line for a user-facing error: an OSError's message and file, not its errno."""
    if isinstance(e, OSError) and e.strerror:
        names = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        text = f"{names}: {e.strerror}" if names else e.strerror
    elif isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    else:
        text = str(e) or type(e).__name__
    if isinstance(e, zipfile.BadZipFile | EOFError | yaml.YAMLError):
        text = f"{type(e).__name__}: {text}"
    return " ".join(text.split())


def _dispatch(args) -> int:
    if args.command == "run":
        _maybe_distributed(args)
        from sciml.files import dumps
        from sciml.runner.train import run

        if args.dry_run:
            return _dry_run(args)

        r = run(args.config, args.overrides, runs_dir=args.runs_dir, progress=not args.no_progress)
        import jax

        if jax.process_index() == 0:
            print(f"run directory: {r.dir}")
            print(f"final metrics ({r.dir / 'final.json'}):")
            print(dumps(r.final, indent=2))
            figures = sorted(str(p) for p in r.dir.glob("*.png"))
            if figures:
                print("figures:\n  " + "\n  ".join(figures))
        return 0
    if args.command == "sweep":
        _maybe_distributed(args)
        from sciml.runner.sweep import sweep

        rows = sweep(args.config, args.overrides, runs_dir=args.runs_dir, progress=not args.no_progress,
                     multirun=args.multirun)
        failed = [r["point"] for r in rows if r["status"] == "failed"]
        print(f"{len(rows)} points: {len(rows) - len(failed)} finished, {len(failed)} failed {failed or ''}")
        return 1 if failed else 0
    if args.command == "eval":
        import yaml

        from sciml.files import dumps, write_atomic, write_json
        from sciml.runner.train import load

        r = load(args.run_dir, which="best" if args.best else "latest", step=args.step, overrides=args.overrides)
        out_dir = Path(args.out) if args.out else r.dir / "eval"
        out = r.evaluate(out_dir=out_dir)
        write_json(out_dir / "eval.json", out)
        # what was evaluated: the run's config with the task overrides (not named config.yaml, which marks a run)
        write_atomic(out_dir / "eval_config.yaml", yaml.safe_dump(r.config.to_dict(), sort_keys=False))
        print(f"evaluation written to {out_dir}")
        print(dumps(out, indent=2))
        return 0
    if args.command == "record":
        from sciml.runner.provenance import record

        print(f"recorded in {record(args.run_dir, args.to, note=args.note, force=args.force)}")
        return 0
    if args.command == "list":
        from sciml.runner.task import registered_tasks

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


def _bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _dry_run(args) -> int:
    import jax

    from sciml.runner.config import load_config
    from sciml.runner.train import dry_run

    config = load_config(args.config, args.overrides)
    out = dry_run(config)
    if jax.process_index() == 0:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
        print("---")
        print(f"parameters:        {out['params_trainable']:,} trainable ({out['params_total']:,} in all)")
        print(f"examples per step: {out['examples_per_step']:,} on {out['devices']} {out['backend']} device(s)")
        if out["flops_per_step"] is not None:
            print(f"FLOPs per step:    {out['flops_per_step']:.3e} (XLA cost analysis)")
        if "memory_bytes_per_device" in out:
            size = {k: _bytes(out[f"memory_{k}_bytes"]) for k in ("argument", "temp")}
            print(f"memory per device: {_bytes(out['memory_bytes_per_device'])} (XLA memory analysis: "
                  f"arguments {size['argument']}, temporaries {size['temp']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
