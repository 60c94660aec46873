"""A long CPU run compiles its training step in a child process and loads it from the compilation cache."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import toy_task  # noqa: F401  (registers toy_regression)

from sciml.runner import ConfigError, run

DEMO = "experiments/quickstart/flow_matching_2d.yaml"
SMALL = ["train.steps=12", "train.log_every=4", "task.batch_size=64", "task.eval_samples=100",
         "task.eval_trajectories=8"]
TOY = {"experiment": "toy", "name": "reg", "task": {"name": "toy_regression"}, "train": {"steps": 20},
       "optim": {"lr": 1e-2}}


def _first_row(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])


def _losses(run_dir: Path) -> list[float]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def _cli_run(repo: Path, runs: Path, cache: Path, setting: str) -> Path:
    env = {**os.environ, "SCIML_COMPILE_CACHE": str(cache), "SCIML_COMPILE_IN_CHILD": setting}
    subprocess.run([sys.executable, "-m", "sciml.runner.cli", "run", DEMO, *SMALL, "--runs-dir", str(runs),
                    "--no-progress"], cwd=repo, env=env, check=True, capture_output=True)
    return runs / "quickstart" / "flow_matching_2d"


def test_run_loads_the_step_its_child_compiled_into_an_empty_cache(repo, tmp_path):
    # An empty cache: the run can only find its step there if the child compiled the very same program.
    with_child = _cli_run(repo, tmp_path / "a", tmp_path / "cache_a", "1")
    assert _first_row(with_child)["step_compiled_in_child"] is True
    without = _cli_run(repo, tmp_path / "b", tmp_path / "cache_b", "0")
    assert "step_compiled_in_child" not in _first_row(without)
    assert _losses(with_child) == _losses(without)  # the same executable, so the same numbers


def test_child_imports_a_task_registered_outside_sciml(tmp_path, monkeypatch, recwarn):
    monkeypatch.setenv("SCIML_COMPILE_IN_CHILD", "1")
    r = run(TOY, runs_dir=tmp_path, progress=False)
    assert r.metrics[0]["step_compiled_in_child"] is True
    assert not [w for w in recwarn if "child" in str(w.message)]


def test_failed_child_warns_and_the_run_compiles_the_step_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIML_COMPILE_IN_CHILD", "1")
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the child exits with status 1
    with pytest.warns(RuntimeWarning, match="child process failed"):
        r = run(TOY, runs_dir=tmp_path, progress=False)
    assert r.metrics[0]["step_compiled_in_child"] is False and r.final["step"] == 20


def test_auto_skips_short_runs_and_bad_settings_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIML_COMPILE_IN_CHILD", "auto")  # 20 toy steps are far below MIN_RUN_FLOP
    assert "step_compiled_in_child" not in run(TOY, runs_dir=tmp_path / "a", progress=False).metrics[0]
    monkeypatch.setenv("SCIML_COMPILE_IN_CHILD", "sometimes")
    with pytest.raises(ConfigError, match="SCIML_COMPILE_IN_CHILD='sometimes'"):
        run(TOY, runs_dir=tmp_path / "b", progress=False)
