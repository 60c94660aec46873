import json
import subprocess
import sys

import pytest
import yaml

from sciml.runner import load_config


def test_every_benchmark_entry_has_a_loadable_config_or_function(repo):
    files = sorted((repo / "benchmarks").glob("*.yaml"))
    assert files, "no benchmark files"
    names = []
    for f in files:
        for e in yaml.safe_load(f.read_text())["entries"]:
            assert ("config" in e) != ("call" in e), e["name"]
            if "config" in e:
                load_config(repo / e["config"], e.get("overrides", []))
            else:
                source = (repo / "benchmarks" / f"{f.stem}.py").read_text()
                assert f"def {e['call']}(" in source, f"{f.stem}.py lacks {e['call']} ({e['name']})"
            names.append(e["name"])
    assert len(names) == len(set(names))


@pytest.mark.slow
def test_harness_writes_json(repo, tmp_path):
    out = subprocess.run([sys.executable, "benchmarks/run.py", "--only", "fm_demo_independent", "--steps", "4",
                          "--warmup", "1", "--out", str(tmp_path)], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (report,) = tmp_path.glob("bench-*.json")
    (entry,) = json.loads(report.read_text())["entries"]
    assert entry["step_ms_median"] > 0 and entry["compile_s"] >= 0 and entry["params"] > 1000
    assert entry["examples_per_s"] == pytest.approx(entry["batch_size"] / entry["step_ms_median"] * 1e3, rel=0.01)


@pytest.mark.slow
def test_harness_times_a_function_entry(repo, tmp_path):
    out = subprocess.run([sys.executable, "benchmarks/run.py", "--only", "probconserv_update_201_diagonal", "--steps",
                          "4", "--warmup", "1", "--out", str(tmp_path)], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (entry,) = json.loads(next(tmp_path.glob("bench-*.json")).read_text())["entries"]
    assert entry["kind"] == "call" and entry["batch_size"] == 201 and entry["step_ms_median"] > 0
