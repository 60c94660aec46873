"""Each start of a run is logged to provenance.jsonl; `sciml record` copies a finished run's small files
to results/ with a PROVENANCE.md that names the commit and command."""

import json
import subprocess

import pytest
import toy_task  # noqa: F401  (registers toy_regression)
import yaml

from sciml.files import read_jsonl
from sciml.runner import run, sweep
from sciml.runner.cli import main
from sciml.runner.provenance import code_version, record

TOY = {
    "experiment": "toy",
    "name": "reg",
    "task": {"name": "toy_regression"},
    "train": {"steps": 10, "log_every": 5, "checkpoint_every": 5},
    "optim": {"lr": 1e-2},
}


@pytest.fixture
def toy_yaml(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY))
    return path


def test_each_start_is_logged_with_the_command_and_commit(tmp_path, toy_yaml, repo):
    runs = tmp_path / "runs"
    run(toy_yaml, ["name=a"], runs_dir=runs, progress=False)
    run(toy_yaml, ["name=a", "train.steps=20"], runs_dir=runs, progress=False)  # extended: a second start
    rows = read_jsonl(runs / "toy/a/provenance.jsonl")
    assert [(r["event"], r["step"]) for r in rows] == [("start", 0), ("end", 10), ("start", 10), ("end", 20)]
    assert rows[2]["command"] == f"sciml run {toy_yaml} name=a train.steps=20"
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # run from a git checkout (CI clones the repository)
        assert rows[0]["commit"] == head.stdout.strip() and isinstance(rows[0]["dirty"], bool)
    assert rows[0]["devices"] >= 1 and rows[0]["processes"] == 1


def test_record_copies_small_files_and_writes_provenance(tmp_path, toy_yaml):
    r = run(toy_yaml, ["name=a"], runs_dir=tmp_path / "runs", progress=False)
    (r.dir / "curve.png").write_bytes(b"png")
    (r.dir / "results.json").write_text("{}")  # a task's own output (ProbConserv's tables), read by its notebook
    (r.dir / "rollout.npz").write_bytes(b"npz")  # arrays are not recorded
    (r.dir / "eval").mkdir()
    (r.dir / "eval/eval.json").write_text("{}")
    (r.dir / "eval/big.json").write_bytes(b"0" * (2 << 20))
    dest = record(r.dir, tmp_path / "results/toy/a", note="Why: a test.")
    names = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert names == ["PROVENANCE.md", "config.yaml", "curve.png", "eval/eval.json", "final.json", "metrics.jsonl",
                     "provenance.jsonl", "results.json", "versions.json"]
    assert json.loads((dest / "final.json").read_text()) == r.final
    text = (dest / "PROVENANCE.md").read_text()
    assert f"      sciml run {toy_yaml} name=a\n" in text
    assert "  - " in text and "from step 0, commit " in text
    assert "Not recorded: checkpoints" in text and "`eval/big.json` (2.0 MiB)" in text
    assert text.rstrip().endswith("Why: a test.")
    commit = code_version()["commit"]
    if commit:
        assert f"every start ran commit {commit[:12]}." in text


def test_record_refuses_an_unfinished_run(tmp_path, toy_yaml):
    r = run(toy_yaml, ["name=a"], runs_dir=tmp_path / "runs", progress=False)
    (r.dir / "final.json").unlink()
    with pytest.raises(ValueError, match="has not finished"):
        record(r.dir, tmp_path / "results/a")
    assert not (tmp_path / "results/a").exists()


def test_record_does_not_overwrite_a_record_without_force(tmp_path, toy_yaml):
    r = run(toy_yaml, ["name=a"], runs_dir=tmp_path / "runs", progress=False)
    dest = record(r.dir, tmp_path / "results/a")
    (dest / "PROVENANCE.md").write_text("edited by hand")
    with pytest.raises(FileExistsError, match="--force"):
        record(r.dir, dest)
    assert (dest / "PROVENANCE.md").read_text() == "edited by hand"
    record(r.dir, dest, force=True)
    assert (dest / "PROVENANCE.md").read_text().startswith("# a\n")


def test_sweep_points_log_the_equivalent_run_command(tmp_path, toy_yaml):
    raw = dict(TOY, sweep={"train.seed": [0, 1]})
    toy_yaml.write_text(yaml.safe_dump(raw))
    sweep(toy_yaml, ["optim.lr=0.02"], runs_dir=tmp_path / "runs", progress=False)
    row = read_jsonl(tmp_path / "runs/toy/reg/seed=1/provenance.jsonl")[0]
    assert row["command"] == f"sciml run {toy_yaml} optim.lr=0.02 train.seed=1 name=reg/seed=1"


def test_cli_record_defaults_to_results_and_names_errors(tmp_path, toy_yaml, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    r = run(toy_yaml, ["name=a"], runs_dir="runs", progress=False)
    assert main(["record", str(r.dir)]) == 0
    assert (tmp_path / "results/toy/a/PROVENANCE.md").exists()
    assert main(["record", str(r.dir)]) == 2
    assert "already holds a record; pass --force" in capsys.readouterr().err
    assert main(["record", str(tmp_path / "nowhere")]) == 2
    assert "is not a run directory (no config.yaml)" in capsys.readouterr().err
