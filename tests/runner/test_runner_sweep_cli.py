import csv
import json
import os
import subprocess
import sys

import pytest
import toy_task  # noqa: F401
import yaml

from sciml.runner import sweep
from sciml.runner.sweep import seed_aggregates


def _write(tmp_path, sweep_spec):
    cfg = {
        "experiment": "toy",
        "name": "grid",
        "task": {"name": "toy_regression"},
        "train": {"steps": 20, "log_every": 10},
        "sweep": sweep_spec,
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_grid_runs_skips_and_reports_failures(tmp_path):
    path = _write(tmp_path, {"task.width": [4, 8], "optim.lr": [1e-3, 1e-2]})
    rows = sweep(path, runs_dir=tmp_path / "runs", progress=False)
    assert [r["status"] for r in rows] == ["done"] * 4
    assert {(r["task.width"], r["optim.lr"]) for r in rows} == {(4, 1e-3), (4, 1e-2), (8, 1e-3), (8, 1e-2)}
    again = sweep(path, runs_dir=tmp_path / "runs", progress=False)
    assert [r["status"] for r in again] == ["skipped"] * 4
    assert [r["test_mse"] for r in again] == [r["test_mse"] for r in rows]
    summary = tmp_path / "runs" / "toy" / "grid" / "summary.csv"
    with open(summary) as f:
        assert len(list(csv.DictReader(f))) == 4

    failing = _write(tmp_path, {"task.fail": [False, True], "task.width": [4, 8]})
    rows = sweep(failing, runs_dir=tmp_path / "runs2", progress=False)
    status = {(r["task.fail"], r["task.width"]): r["status"] for r in rows}
    assert status == {(False, 4): "done", (False, 8): "done", (True, 4): "failed", (True, 8): "failed"}
    failed = next(r for r in rows if r["status"] == "failed")
    assert "fails on purpose" in failed["error"]
    err = tmp_path / "runs2" / "toy" / "grid" / "fail=True,width=4" / "error.txt"
    assert "RuntimeError" in err.read_text()


def test_seed_summary_of_points_that_set_different_keys():
    """A list sweep whose points set different keys (D only for one generator) is summarised per seed
    group instead of failing on the key a point lacks."""
    rows = [
        {"task.generator": "pfgm", "task.D": 4, "train.seed": 0, "status": "done", "w2": 1.0},
        {"task.generator": "pfgm", "task.D": 4, "train.seed": 1, "status": "done", "w2": 3.0},
        {"task.generator": "ddpm", "train.seed": 0, "status": "done", "w2": 5.0},
        {"task.generator": "ddpm", "train.seed": 1, "status": "done", "w2": 7.0},
    ]
    out = seed_aggregates(rows, ["task.generator", "task.D", "train.seed"])
    means = {(r["task.generator"], r["task.D"]): r["w2"] for r in out if r["train.seed"] == "mean"}
    assert means == {("pfgm", 4): 2.0, ("ddpm", None): 6.0}


def test_sweep_errors(tmp_path):
    from sciml.runner import ConfigError

    with pytest.raises(ConfigError, match="sweep.task.width must be a non-empty list"):
        sweep(_write(tmp_path, {"task.width": 3}), runs_dir=tmp_path)


def _sciml(*args, cwd):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "sciml.runner.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_cli_list_and_errors(repo, tmp_path):
    out = _sciml("list", cwd=repo)
    assert out.returncode == 0 and "fm" in out.stdout and "flow_matching_2d.yaml" in out.stdout
    bad = _sciml("run", "experiments/quickstart/flow_matching_2d.yaml", "task.widht=3", cwd=repo)
    assert bad.returncode == 2 and "unknown key task.widht (did you mean 'width'?)" in bad.stderr
    missing = _sciml("run", "experiments/none.yaml", cwd=repo)
    assert missing.returncode == 2 and "config file not found: experiments/none.yaml" in missing.stderr
    unknown = _sciml("run", "experiments/quickstart/flow_matching_2d.yaml", "task.name=nope", cwd=repo)
    assert unknown.returncode == 2 and "unknown task 'nope'; registered tasks:" in unknown.stderr


def test_cli_import_sweep_and_eval(repo, tmp_path):
    path = _write(tmp_path, {"task.width": [4, 8]})
    tests_dir = str(repo / "tests")
    env_path = {"PYTHONPATH": tests_dir + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **env_path}
    base = [sys.executable, "-m", "sciml.runner.cli", "--import", "toy_task"]
    out = subprocess.run([*base, "sweep", str(path), "--runs-dir", str(tmp_path / "r"), "--no-progress"],
                         cwd=repo, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "2 points: 2 finished, 0 failed" in out.stdout
    run_dir = tmp_path / "r" / "toy" / "grid" / "width=4"
    ev = subprocess.run([*base, "eval", str(run_dir)], cwd=repo, env=env, capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert "test_mse" in ev.stdout and (run_dir / "eval" / "eval.json").exists()
    assert not (run_dir / "eval.json").exists()  # eval writes to its own folder, never into the run
    out = tmp_path / "elsewhere"
    ev = subprocess.run([*base, "eval", str(run_dir), "--out", str(out)], cwd=repo, env=env, capture_output=True,
                        text=True)
    assert ev.returncode == 0, ev.stderr
    assert json.loads((out / "eval.json").read_text())["test_mse"] > 0
