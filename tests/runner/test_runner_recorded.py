"""Notebooks read recorded runs (results/<method>/<name>/) or train them again."""

import shutil

import toy_task  # noqa: F401  (registers toy_regression)

from sciml.runner import recorded_run, run

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
