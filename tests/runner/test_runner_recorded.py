"""Notebooks read recorded runs (results/<method>/<name>/) or train them again."""

import json
import shutil

import pytest
import toy_task  # noqa: F401  (registers toy_regression)

from sciml.runner import recorded_run, run, training_summary

TOY = {
    "experiment": "toy",
    "name": "reg",
    "task": {"name": "toy_regression"},
    "train": {"steps": 20, "log_every": 10, "checkpoint_every": 10},
    "optim": {"lr": 1e-2},
}


def test_recorded_run_reads_the_small_files_and_never_trains(tmp_path):
    trained = run(TOY, ["name=seed0"], runs_dir=tmp_path / "runs", progress=False)
    results = tmp_path / "results"
    results.mkdir()
    for f in ("config.yaml", "metrics.jsonl", "final.json"):  # what a recorded result keeps: no checkpoints
        (results / "seed0").mkdir(exist_ok=True)
        shutil.copy(trained.dir / f, results / "seed0" / f)
    r = recorded_run(TOY, "seed0", results_dir=results, runs_dir=tmp_path / "other")
    assert r.dir == results / "seed0" and r.final == trained.final
    assert list(r.history("loss")[0]) == [10, 20]
    assert not (tmp_path / "other").exists()


def test_missing_recorded_run_is_none_unless_rerun(tmp_path):
    assert recorded_run(TOY, "seed1", results_dir=tmp_path / "results", runs_dir=tmp_path / "runs") is None
    assert not (tmp_path / "runs").exists()
    r = recorded_run(TOY, "seed1", ["train.seed=1"], results_dir=tmp_path / "results", rerun=True,
                     runs_dir=tmp_path / "runs")
    assert r.dir.name == "seed1" and r.config.train.seed == 1 and r.final["step"] == 20


def test_rerun_trains_again_even_when_recorded(tmp_path):
    results = tmp_path / "results"
    (results / "seed0").mkdir(parents=True)
    first = run(TOY, ["name=seed0"], runs_dir=tmp_path / "a", progress=False)
    for f in ("config.yaml", "metrics.jsonl", "final.json"):
        shutil.copy(first.dir / f, results / "seed0" / f)
    r = recorded_run(TOY, "seed0", results_dir=results, rerun=True, runs_dir=tmp_path / "b")
    assert r.dir == tmp_path / "b" / "toy" / "seed0" and r.final["test_mse"] == first.final["test_mse"]


def test_training_hours_count_each_start_and_see_through_a_pause(tmp_path):
    # Notebooks report what each recorded run cost from its log: a resumed run's log (two starts) counts each
    # step once, and a paused stretch (here 10 steps logged at 0.1 steps/s) lengthens the wall time only.
    trained = run(TOY, ["name=seed0"], runs_dir=tmp_path / "runs", progress=False)
    typical, wall = trained.training_hours()
    assert 0 < typical and 0 < wall
    rows = [{"step": 0, "resumed_from": 0}, {"step": 10, "loss": 1.0, "steps_per_s": 10.0},
            {"step": 10, "val/loss": 1.0}, {"step": 20, "loss": 1.0, "steps_per_s": 0.1},
            {"step": 20, "resumed_from": 20}, {"step": 30, "loss": 1.0, "steps_per_s": 10.0}]
    (trained.dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    typical, wall = trained.training_hours()
    assert typical * 3600 == pytest.approx(3.0)  # 30 steps at the median rate, 10 steps/s
    assert wall * 3600 == pytest.approx(102.0)  # 1 s + 100 s + 1 s


def test_training_summary_adds_the_runs_and_names_the_longest(tmp_path):
    runs = [run(TOY, [f"name=seed{s}", f"train.steps={n}"], runs_dir=tmp_path / "runs", progress=False)
            for s, n in ((0, 20), (1, 40))]
    for r, rate in zip(runs, (0.01, 0.005)):  # 20 steps in 2,000 s, 40 in 8,000 s
        rows = [{"step": 0, "resumed_from": 0}] + [{"step": k, "loss": 1.0, "steps_per_s": rate}
                                                     for k in range(10, r.config.train.steps + 1, 10)]
        (r.dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    total = (2000 + 8000) / 3600
    assert training_summary(runs) == (f"2 runs took {total:.1f} h of training at their median logged step rates "
                                      f"({total:.1f} h of wall time as logged, pauses and shared cores included); "
                                      f"the longest, seed1, {8000 / 3600:.1f} h.")
    assert training_summary([]) == "no recorded runs"


def test_training_summary_counts_runs_that_share_a_name(tmp_path):
    """Recorded runs of two configs may share a run name (seed0 under two methods): both are training."""
    runs = [run(TOY, ["name=seed0"], runs_dir=tmp_path / where, progress=False) for where in ("a", "b")]
    for r in runs:
        rows = [{"step": 0, "resumed_from": 0}] + [{"step": k, "loss": 1.0, "steps_per_s": 0.01} for k in (10, 20)]
        (r.dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    assert training_summary(runs).startswith(f"2 runs took {2 * 2000 / 3600:.1f} h of training")
