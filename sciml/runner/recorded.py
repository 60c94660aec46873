"""Recorded results: long runs whose small files (config.yaml, metrics.jsonl, final.json, figures; never
checkpoints) are kept under `results/<method>/<name>/` with the commit and command that made them.
Notebooks read them, or train them again when asked."""

from collections.abc import Iterable
from pathlib import Path

from sciml.runner.train import Run, load, run


def recorded_run(
    config: str | Path | dict, name: str, overrides: Iterable[str] = (), *, results_dir: str | Path,
    rerun: bool = False, runs_dir: str | Path = "runs",
) -> Run | None:
    """The recorded run `results_dir/name` when it holds a final.json (config, metrics and final evaluation;
    no model), or with `rerun` that run trained again from `config` with `overrides` and `name` under
    `runs_dir`. None when it is not recorded and `rerun` is off."""
    if rerun:
        return run(config, [*overrides, f"name={name}"], runs_dir=runs_dir, progress=False)
    path = Path(results_dir) / name
    return load(path) if (path / "final.json").exists() else None


def training_summary(runs: Iterable[Run]) -> str:
    """One line on what runs cost to train (`Run.training_hours`): the total at each run's median logged step
    rate, the wall time as logged, and the longest run."""
    hours = [(r.dir.name, *r.training_hours()) for r in runs]  # (name, typical, wall)
    if not hours:
        return "no recorded runs"
    longest = max(hours, key=lambda h: h[1])
    return (f"{len(hours)} runs took {sum(h[1] for h in hours):.1f} h of training at their median logged "
            f"step rates ({sum(h[2] for h in hours):.1f} h of wall time as logged, pauses and shared cores "
            f"included); the longest, {longest[0]}, {longest[1]:.1f} h.")
