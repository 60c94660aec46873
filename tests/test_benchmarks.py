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


#: Parameter counts of the original implementations at the benchmark's original-shape entries
#: (docs/references.md, "Benchmarks"), and the arrays our models hold beyond them: MFM/FM's frozen 2 x 128
#: Fourier matrix (the original keeps it outside its parameters) and the meshformer's frozen normaliser
#: statistics (mean and std of the 11 node inputs, the 2 targets and, for MeshGraphNet, the 3 edge inputs).
ORIGINAL_PARAMETERS = {
    ("mfm", "mfm_letters_original_shapes"): (1_028_418, 2 * 128),
    ("mfm", "fm_letters_original_shapes"): (724_482, 2 * 128),
    ("meshformer", "meshformer_mgn_gp_1900"): (2_873_730, 2 * (11 + 2 + 3)),
    ("meshformer", "meshformer_transformer_gp_1900"): (567_362, 2 * (11 + 2)),
    ("fim", "fim_mjp_original_shape"): (3_467_830, 0),
    ("probconserv", "probconserv_anp_original_shape"): (989_826, 0),
}


@pytest.mark.parametrize("bench, entry", list(ORIGINAL_PARAMETERS))
def test_original_shape_entries_have_the_originals_parameter_count(repo, bench, entry):
    import equinox as eqx
    import jax

    from sciml.meshformer.normaliser import Normaliser

    spec = next(e for e in yaml.safe_load((repo / "benchmarks" / f"{bench}.yaml").read_text())["entries"]
                if e["name"] == entry)
    task = load_config(repo / spec["config"], spec["overrides"]).task
    model = eqx.filter_eval_shape(lambda k: task.init(key=k), jax.random.PRNGKey(0))
    size = lambda tree: sum(x.size for x in jax.tree_util.tree_leaves(tree) if isinstance(x, jax.ShapeDtypeStruct))
    if bench == "mfm":
        frozen = [model.field.fourier.B]
    else:
        frozen = [x for x in jax.tree_util.tree_leaves(model, is_leaf=lambda x: isinstance(x, Normaliser))
                  if isinstance(x, Normaliser)]
    want, extra = ORIGINAL_PARAMETERS[bench, entry]
    assert size(frozen) == extra
    assert size(model) - size(frozen) == want
