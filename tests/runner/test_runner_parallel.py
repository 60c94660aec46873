"""Several devices and several processes give the same training as one device (to float tolerance)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
import toy_task  # noqa: F401  (registers toy_regression_shards for load())

from sciml.runner import load

DEMO = "experiments/quickstart/flow_matching_2d.yaml"
SMALL = ["train.steps=12", "train.log_every=1", "train.checkpoint_every=6", "task.batch_size=64",
         "task.eval_samples=100", "task.eval_trajectories=8"]


def _env(devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_FLAGS", "JAX_NUM_CPU"))}
    env.update(JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(devices))
    return env


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "sciml.runner.cli", "run", DEMO, *SMALL, *args, "--no-progress"]


def _losses(run_dir: Path) -> list[float]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def _final(run_dir: Path) -> dict:
    return json.loads((run_dir / "final.json").read_text())


def _assert_same_params(run_dir: Path, reference: Path, rtol: float) -> None:
    leaves = lambda d: jax.tree_util.tree_leaves(eqx.filter(load(d).model, eqx.is_array))  # noqa: E731
    a, b = leaves(run_dir), leaves(reference)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def single_device_run(tmp_path_factory, repo):
    runs = tmp_path_factory.mktemp("one")
    subprocess.run(_cli("--runs-dir", str(runs)), cwd=repo, env=_env(1), check=True, capture_output=True)
    return runs / "quickstart" / "flow_matching_2d"


@pytest.mark.slow
def test_four_devices_same_loss_curve(single_device_run, tmp_path, repo):
    runs = tmp_path / "four"
    subprocess.run(_cli("--runs-dir", str(runs)), cwd=repo, env=_env(4), check=True, capture_output=True)
    run_dir = runs / "quickstart" / "flow_matching_2d"
    # The run itself records the mesh it trained on: 4 devices in 1 process (1 device for the reference).
    assert {k: _final(run_dir)[k] for k in ("device_count", "process_count")} == {"device_count": 4, "process_count": 1}
    assert _final(single_device_run)["device_count"] == 1
    one, four = _losses(single_device_run), _losses(run_dir)
    assert len(one) == len(four) == 12
    np.testing.assert_allclose(four, one, rtol=1e-4, atol=1e-6)
    _assert_same_params(run_dir, single_device_run, rtol=1e-4)


@pytest.mark.slow
def test_two_processes_over_loopback_same_final_loss(single_device_run, tmp_path, repo):
    runs = tmp_path / "two"
    port = _free_port()
    procs = [
        subprocess.Popen(
            _cli("--runs-dir", str(runs), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                 "--process-id", str(i)),
            cwd=repo, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    run_dir = runs / "quickstart" / "flow_matching_2d"
    two, one = _final(run_dir), _final(single_device_run)
    assert (two["process_count"], two["device_count"]) == (2, 2)  # one CPU device in each of 2 processes
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    np.testing.assert_allclose(_losses(run_dir), _losses(single_device_run), rtol=1e-4, atol=1e-6)
    _assert_same_params(run_dir, single_device_run, rtol=1e-4)


@pytest.mark.slow
def test_processes_loading_their_own_share(tmp_path, repo):
    cfg = tmp_path / "shards.yaml"
    cfg.write_text("experiment: toy\nname: shards\ntask: {name: toy_regression_shards, batch_size: 16}\n"
                   "train: {steps: 8, log_every: 1}\n")
    env = {**_env(1), "PYTHONPATH": str(repo / "tests")}
    base = [sys.executable, "-m", "sciml.runner.cli", "--import", "toy_task", "run", str(cfg), "--no-progress"]
    subprocess.run([*base, "--runs-dir", str(tmp_path / "one")], cwd=repo, env=env, check=True, capture_output=True)
    port = _free_port()
    procs = [subprocess.Popen([*base, "--runs-dir", str(tmp_path / "two"), "--coordinator", f"127.0.0.1:{port}",
                               "--num-processes", "2", "--process-id", str(i)],
                              cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    one, two = _losses(tmp_path / "one/toy/shards"), _losses(tmp_path / "two/toy/shards")
    assert len(one) == 8
    np.testing.assert_allclose(two, one, rtol=1e-5)
    assert _final(tmp_path / "two/toy/shards")["process_count"] == 2
    _assert_same_params(tmp_path / "two/toy/shards", tmp_path / "one/toy/shards", rtol=1e-5)
