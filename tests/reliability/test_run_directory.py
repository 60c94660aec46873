"""Issue 16.2-5, 7-9: concurrent runs, unwritable and full disks, kills, Ctrl-C, reconfiguring, eval."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TOY, same_params

from sciml.runner import ConfigError, run
from sciml.runner.checkpoint import CheckpointError
from sciml.runner.cli import main
from sciml.runner.lock import RunInProgress

HERE = Path(__file__).parent


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIML_TEST_")}
    paths = [str(HERE), str(HERE.parent), env.get("PYTHONPATH", "")]
    return {**env, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join(paths)}


def _config_file(tmp_path, **train) -> Path:
    cfg = {**TOY, "train": {**TOY["train"], **train}}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# ------------------------------------------------------------------------------- 2. concurrency


def test_second_run_on_a_locked_directory_stops_with_the_owner_pid(tmp_path, repo):
    run_dir = tmp_path / "runs" / "toy" / "reg"
    run_dir.mkdir(parents=True)
    # Another live process holds the lock, as a first `sciml run` would.
    holder = subprocess.Popen(
        [sys.executable, "-c", "from sciml.runner.lock import RunLock; import sys, time; "
         f"RunLock({str(run_dir)!r}).acquire(); print('locked', flush=True); time.sleep(600)"],
        cwd=repo, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInProgress, match=rf"run already in progress \(pid {holder.pid}\)"):
            run(TOY, runs_dir=tmp_path / "runs", progress=False)
        assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # The holder is dead (SIGKILL): its lock file remains, but a stale lock does not block.
    assert (run_dir / ".lock").read_text().strip() == str(holder.pid)
    r = run(TOY, runs_dir=tmp_path / "runs", progress=False)
    assert [m["step"] for m in r.metrics if "loss" in m] == [10, 20, 30, 40, 50, 60]


def test_stale_lock_file_with_a_dead_pid_does_not_block(tmp_path):
    run_dir = tmp_path / "toy" / "reg"
    run_dir.mkdir(parents=True)
    (run_dir / ".lock").write_text("999999\n")
    assert run(TOY, runs_dir=tmp_path, progress=False).final["step"] == 60


# ------------------------------------------------------------------------ 3. unwritable, full disk


def test_unwritable_checkpoints_folder_stops_at_once_naming_path_and_last_good_step(tmp_path, repo, immutable):
    runs = tmp_path / "runs"
    cfg = _config_file(tmp_path)
    first = run(TOY | {"task": {"name": "toy_misbehaving"}}, runs_dir=runs, progress=False)
    (first.dir / "final.json").unlink()
    shutil.rmtree(first.dir / "checkpoints" / "60")
    immutable(first.dir / "checkpoints")
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "sciml.runner.cli", "--import", "reliability_tasks", "run", str(cfg),
                          "--runs-dir", str(runs), "--no-progress"],
                         cwd=repo, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and time.time() - t0 < 600  # a message and an exit, never a hang
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr
    want = f"could not save the checkpoint of step 60 in {first.dir / 'checkpoints'}"
    assert any(want in ln and "last good checkpoint: step 40" in ln for ln in lines), out.stderr


def test_full_disk_stops_at_the_failed_save(tmpfs):
    runs = tmpfs / "runs"
    first = run(TOY, runs_dir=runs, progress=False)
    (first.dir / "final.json").unlink()
    shutil.rmtree(first.dir / "checkpoints" / "60")
    st = os.statvfs(tmpfs)
    (tmpfs / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - 16 * 1024))  # leave 16 KiB
    with pytest.raises(CheckpointError, match=r"step 60 in .*checkpoints \(No space left on device\); last good .*40"):
        run(TOY, runs_dir=runs, progress=False)
    (tmpfs / "filler").unlink()
    resumed = run(TOY, runs_dir=runs, progress=False)  # with space again, it resumes from step 40
    assert resumed.final["resumed_from"] == 40


def test_read_only_run_directory_is_one_line_error(tmpfs, reference, capsys):
    runs = tmpfs / "runs"
    shutil.copytree(reference.dir, runs / "toy" / "reg")
    (runs / "toy" / "reg" / "final.json").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    cfg_dir = tmpfs.parent
    cfg = _config_file(cfg_dir)
    assert main(["run", str(cfg), "--runs-dir", str(runs), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Read-only file system" in err and str(runs / "toy" / "reg") in err, err
    # eval of a read-only run: default output folder inside it fails with one line; --out works.
    assert main(["eval", str(runs / "toy" / "reg")]) == 2
    assert "Read-only file system" in capsys.readouterr().err
    assert main(["eval", str(runs / "toy" / "reg"), "--out", str(cfg_dir / "ev")]) == 0
    assert json.loads((cfg_dir / "ev" / "eval.json").read_text())["test_mse"] == pytest.approx(
        reference.final["test_mse"], rel=1e-6)


# --------------------------------------------------------------- 4. kill during the final evaluation


def test_kill_during_final_evaluation_then_rerun_writes_the_true_final_loss(tmp_path, repo, reference):
    runs, marker = tmp_path / "runs", tmp_path / "in_eval"
    cfg = _config_file(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "sciml.runner.cli", "--import", "reliability_tasks", "run", str(cfg),
                             "--runs-dir", str(runs), "--no-progress"],
                            cwd=repo, env={**_env(), "SCIML_TEST_EVAL_HANG": str(marker)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the run never reached its final evaluation"
    finally:
        proc.kill()
        proc.wait()
    run_dir = runs / "toy" / "reg"
    assert not (run_dir / "final.json").exists()
    r = run(TOY, runs_dir=runs, progress=False)
    text = (run_dir / "final.json").read_text()
    final = json.loads(text, parse_constant=lambda c: pytest.fail(f"final.json holds {c}: not strict JSON"))
    assert final["loss"] == reference.final["loss"] and final["steps_executed"] == 0 and final["resumed_from"] == 60
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"metrics.jsonl holds {c}"))
    assert same_params(r.model, reference.model)


# ----------------------------------------------------------------------------------- 5. Ctrl-C


def test_ctrl_c_saves_the_interrupted_step_and_exits_130(tmp_path, reference, monkeypatch, capsys):
    cfg = _config_file(tmp_path)
    monkeypatch.setenv("SCIML_TEST_SIGINT_AT", "33")  # a real SIGINT while step 33 is prepared
    assert main(["run", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "sciml run: interrupted at step 34; rerun to resume"
    run_dir = tmp_path / "runs" / "toy" / "reg"
    assert sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir()) == [20, 34]
    monkeypatch.delenv("SCIML_TEST_SIGINT_AT")
    r = run(TOY, runs_dir=tmp_path / "runs", progress=False)
    assert r.final["resumed_from"] == 34 and r.final["steps_executed"] == 26
    assert same_params(r.model, reference.model)


def test_ctrl_c_in_a_sweep_writes_the_summary(tmp_path, monkeypatch):
    cfg = {**TOY, "train": {**TOY["train"], "steps": 20}, "sweep": {"task.width": [4, 8]}}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("SCIML_TEST_SIGINT_AT", "5")
    assert main(["sweep", str(path), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 130
    with open(tmp_path / "runs" / "toy" / "reg" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["point"], r["status"]) for r in rows] == [("width=4", "interrupted")]
    assert "interrupted at step 6" in rows[0]["error"]


# ------------------------------------------------------------------ 7. reconfiguring, metrics.jsonl


def test_run_that_failed_before_training_can_be_reconfigured(tmp_path):
    with pytest.raises(ValueError, match="batch size 30 is not divisible by the number of devices"):
        run(TOY, ["task.batch_size=30", "task.nan_at_step=0"], runs_dir=tmp_path, progress=False) if False else (
            _fail_before_training(tmp_path))
    r = run(TOY, runs_dir=tmp_path, progress=False)  # same name, corrected config
    assert r.final["step"] == 60
    (r.dir / "config.yaml").write_text("")  # an empty config.yaml with checkpoints is an error, not a guess
    with pytest.raises(ConfigError, match=r"config.yaml is empty or unreadable but the run has checkpoints"):
        run(TOY, runs_dir=tmp_path, progress=False)
    shutil.rmtree(r.dir / "checkpoints")
    (r.dir / "final.json").unlink()
    assert run(TOY, ["train.steps=20"], runs_dir=tmp_path, progress=False).final["step"] == 20


def _fail_before_training(runs):
    from sciml.runner import devices

    real = devices.check_batch
    try:  # the batch check of a 4-device mesh, as on a machine with 4 devices
        devices.check_batch = lambda batch, n: real(batch, 4)
        import sciml.runner.train as train

        train.check_batch = devices.check_batch
        run(TOY, ["task.batch_size=30"], runs_dir=runs, progress=False)
    finally:
        devices.check_batch = real
        train.check_batch = real


def test_half_written_last_metrics_line_does_not_block_resume(reference, unfinished, capfd):
    path = unfinished / "toy" / "reg" / "metrics.jsonl"
    with open(path, "a") as f:
        f.write('{"step": 70, "loss": 0.1')
    r = run(TOY, runs_dir=unfinished, progress=False)
    assert r.final["resumed_from"] == 60 and r.final["loss"] == reference.final["loss"]
    assert "half-written last line" in capfd.readouterr().err
    assert all(json.loads(line) for line in path.read_text().splitlines())


# ------------------------------------------------------------------------- 8. impossible configs


@pytest.mark.parametrize("override, message", [
    ("optim.lr=.nan", "optim.lr must be a finite number, got nan"),
    ("optim.lr=.inf", "optim.lr must be a finite number, got inf"),
    ("optim.lr=-1", "optim.lr must be > 0"),
    ("train.seed=-1", "train.seed must be >= 0, got -1"),
    ("name=", "name must be a non-empty relative folder name"),
    ("name=../escape", "name must be a non-empty relative folder name"),
    ("experiment=/abs", "experiment must be a non-empty relative folder name"),
])
def test_impossible_config_values_are_rejected(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run(TOY, [override], runs_dir=tmp_path, progress=False)
    assert not (tmp_path / "toy").exists() or not any((tmp_path / "toy").iterdir())


def test_nan_stop_without_any_checkpoint_says_so(tmp_path):
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 6; stopping. No checkpoint had been saved yet"):
        run(TOY, ["task.nan_at_step=5", "train.log_every=1"], runs_dir=tmp_path, progress=False)


# ------------------------------------------------------------------------------------- 9. eval


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): (p.stat().st_mtime_ns, p.stat().st_size) for p in path.rglob("*")}


def test_eval_writes_its_own_folder_and_never_changes_the_run(reference, tmp_path, capsys):
    before = _tree(reference.dir)
    out = tmp_path / "ev"
    assert main(["eval", str(reference.dir), "--out", str(out)]) == 0
    assert _tree(reference.dir) == before
    assert json.loads((out / "eval.json").read_text())["test_mse"] == pytest.approx(reference.final["test_mse"])
    fresh = tmp_path / "nockpt" / "toy" / "reg"
    fresh.mkdir(parents=True)
    shutil.copy(reference.dir / "config.yaml", fresh)
    assert main(["eval", str(fresh), "--out", str(tmp_path / "ev2")]) == 2
    assert "no checkpoint in" in capsys.readouterr().err
    assert not (fresh / "checkpoints").exists()  # no empty checkpoints/ created
