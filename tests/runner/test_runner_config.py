import pytest

from sciml.runner import ConfigError, load_config
from sciml.runner.config import apply_overrides

DEMO = "experiments/quickstart/flow_matching_2d.yaml"


@pytest.fixture(autouse=True)
def _cwd(repo, monkeypatch):
    monkeypatch.chdir(repo)


def test_demo_config_loads_with_typed_overrides():
    cfg = load_config(DEMO, ["task.coupling=independent", "optim.lr=1e-4", "train.steps=7", "task.width=32"])
    assert cfg.task.coupling == "independent" and cfg.task.width == 32
    assert cfg.optim.lr == pytest.approx(1e-4) and isinstance(cfg.optim.lr, float)  # "1e-4" -> float
    assert cfg.train.steps == 7
    assert load_config(cfg.to_dict()) == cfg  # round trip
    hash(cfg.task)  # static under jit


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task.widht=3"], r"unknown key task.widht \(did you mean 'width'\?\); valid keys: \["),
        (["optim.lrr=3"], r"unknown key optim.lrr .*valid keys"),
        (["bogus=1"], r"unknown key config.bogus|unknown key .*bogus"),
        (["task.width=abc"], r"task.width: expected int, got 'abc'"),
        (["train.steps=1.5"], r"train.steps: expected int, got 1.5"),
        (["task.name=nosuchtask"], r"unknown task 'nosuchtask'; registered tasks: \[.*'fm'"),
        (["optim.name=lion"], r"optim.name must be one of \['adam', 'adamw', 'adamax', 'sgd'\], got 'lion'"),
        (["task.coupling=sinkhorn"], r"unknown coupling 'sinkhorn'; valid: \['independent', 'paired', 'ot'\]"),
        (["train.ema=1.5"], r"train.ema must be in \[0, 1\)"),
        (["task.width"], r"not of the form key.sub=value"),
    ],
)
def test_config_errors_name_the_problem(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(DEMO, overrides)


def test_missing_file_and_missing_keys(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="missing required key 'task'"):
        load_config({"experiment": "x", "name": "y"})
    with pytest.raises(ConfigError, match="task.name is required"):
        load_config({"experiment": "x", "name": "y", "task": {"width": 3}})


def test_apply_overrides_nested():
    out = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=x"])
    assert out == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": "x"}}
