"""Recorded results (`results/<method>/<run>/`) cannot silently drift from the code: every recorded
`config.yaml` must still load and validate with today's task and runner fields."""

from pathlib import Path

import pytest

from sciml.runner import load_config
from sciml.runner.config import ConfigError

RESULTS = Path(__file__).resolve().parents[1] / "results"
# runs' configs, and those of re-evaluations (`sciml eval` writes eval_config.yaml beside eval.json)
CONFIGS = sorted([*RESULTS.rglob("config.yaml"), *RESULTS.rglob("eval_config.yaml")])


def test_results_are_recorded_with_their_configs():
    assert CONFIGS, f"no recorded config.yaml under {RESULTS}"
    for final in RESULTS.rglob("final.json"):
        assert (final.parent / "config.yaml").exists(), f"{final} has no config.yaml beside it"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_recorded_config_still_loads(path):
    config = load_config(path)
    assert config.task is not None and config.train.steps > 0


def test_a_config_with_a_field_the_code_no_longer_has_fails_to_load(tmp_path):
    drifted = tmp_path / "config.yaml"
    drifted.write_text(CONFIGS[0].read_text().replace("task:\n", "task:\n  field_removed_since: 1\n", 1))
    with pytest.raises((ConfigError, TypeError, ValueError), match="field_removed_since"):
        load_config(drifted)
