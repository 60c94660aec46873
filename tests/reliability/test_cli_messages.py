"""Issue 16.6: every user-facing error of the CLI is one line that names the file or key and the problem."""

import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import TOY

from sciml.runner import cli


def _one_line(capsys, rc, want_rc=2) -> str:
    assert rc == want_rc
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def toy_yaml(tmp_path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY))
    return path


@pytest.mark.parametrize("text, problem", [
    ("experiment: toy\nname: [unclosed\n", r"not valid YAML \(.* at line 3, column 1\)"),
    ("experiment: toy\ntask:\n\tname: fm\n", r"not valid YAML \(found character '\\t' that cannot start any token"),
    ("- a list\n- not a mapping\n", "the top level must be a mapping, got list"),
    (b"\xff\xfe binary", "not a text file"),
])
def test_malformed_yaml_in_run(tmp_path, capsys, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    err = _one_line(capsys, cli.main(["run", str(path), "--runs-dir", str(tmp_path)]))
    assert err.startswith(f"sciml run: error: {path}: ")
    import re

    assert re.search(problem, err), err


def test_malformed_config_yaml_in_eval(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("experiment: [x\n")
    err = _one_line(capsys, cli.main(["eval", str(run_dir)]))
    assert f"{run_dir / 'config.yaml'}: not valid YAML" in err
    (run_dir / "config.yaml").write_text("")
    assert "missing required key 'experiment'" in _one_line(capsys, cli.main(["eval", str(run_dir)]))
    assert "is not a run directory (no such directory)" in _one_line(capsys, cli.main(["eval", str(tmp_path / "no")]))


@pytest.mark.parametrize("override, message", [
    ("task=3", r"task must be a mapping such as \{name: fm, ...\}, got 3"),
    ("task=fm", r"task must be a mapping such as \{name: fm, ...\}, got 'fm' \(to choose the task, set task.name"),
    ("foo.bar=1", r"unknown key foo in .*toy.yaml; valid keys"),
    ("train.steps=[1", r"override 'train.steps=\[1': the value is not valid YAML"),
    (".x=1", r"override key '.x' is not of the form section.key"),
    ("optim.lr=.nan", r"optim.lr must be a finite number, got nan"),
])
def test_bad_overrides(toy_yaml, tmp_path, capsys, override, message):
    import re

    err = _one_line(capsys, cli.main(["run", str(toy_yaml), override, "--runs-dir", str(tmp_path)]))
    assert re.search(message, err), err


def test_import_of_a_missing_module(toy_yaml, capsys):
    err = _one_line(capsys, cli.main(["--import", "no_such_module_xyz", "run", str(toy_yaml)]))
    assert err == "sciml run: error: --import no_such_module_xyz: No module named 'no_such_module_xyz'"


def test_runs_dir_that_is_a_file(toy_yaml, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    err = _one_line(capsys, cli.main(["run", str(toy_yaml), "--runs-dir", str(blocker), "--no-progress"]))
    assert str(blocker) in err and ("Not a directory" in err or "File exists" in err), err


@pytest.mark.parametrize("exc, want", [
    (FileNotFoundError(2, "No such file or directory", "data/cyl/meta.json"),
     "data/cyl/meta.json: No such file or directory"),
    (PermissionError(13, "Permission denied", "runs/x/metrics.jsonl"), "runs/x/metrics.jsonl: Permission denied"),
    (zipfile.BadZipFile("File is not a zip file"), "BadZipFile: File is not a zip file"),
    (EOFError("Ran out of input"), "EOFError: Ran out of input"),
])
def test_os_and_cache_errors_are_one_line_with_the_file(toy_yaml, capsys, monkeypatch, exc, want):
    import sciml.runner.train as train

    def failing_run(*a, **k):
        raise exc

    monkeypatch.setattr(train, "run", failing_run)
    err = _one_line(capsys, cli.main(["run", str(toy_yaml)]))
    assert err == f"sciml run: error: {want}"  # the message, not the errno
