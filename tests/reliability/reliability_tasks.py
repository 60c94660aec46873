"""Toy tasks that misbehave on request, for the reliability tests (importable as `reliability_tasks`).

The misbehaviour is switched on by environment variables, not by config fields, so that a rerun of
the same config (without the variable) resumes the same run:
- SCIML_TEST_SIGINT_AT=N: the batch of step N sends SIGINT to this process (a real Ctrl-C).
- SCIML_TEST_EVAL_HANG=PATH: the evaluation creates PATH and then sleeps (so a test can SIGKILL it there).
"""

import dataclasses
import os
import signal
import time
from pathlib import Path

import toy_task

from sciml.runner import register_task


@register_task("toy_misbehaving")
@dataclasses.dataclass(frozen=True)
class ToyMisbehaving(toy_task.ToyRegression):
    """ToyRegression that can interrupt itself or hang in its evaluation (test fixture)."""

    def batch(self, step, *, seed):
        if str(step) == os.environ.get("SCIML_TEST_SIGINT_AT"):
            os.kill(os.getpid(), signal.SIGINT)
        return super().batch(step, seed=seed)

    def evaluate(self, model, *, key, run_dir: Path):
        hang = os.environ.get("SCIML_TEST_EVAL_HANG")
        if hang:
            Path(hang).touch()
            time.sleep(600)
        return super().evaluate(model, key=key, run_dir=run_dir)
