import json
import subprocess
import sys

import pytest
import yaml

from sciml.runner import load_config


def test_every_benchmark_entry_has_a_loadable_config(repo):
    files = sorted((repo / "benchmarks").glob("*.yaml"))
    assert files, "no benchmark files"
    names = []
    for f in files:
        for e in yaml.safe_load(f.read_text())["entries"]:
            load_config(repo / e["config"], e.get("overrides", []))
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
