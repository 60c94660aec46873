"""MFM benchmark functions (see run.py for the `call` protocol): inference time per population."""

from pathlib import Path

import jax

from sciml.runner import load_config

ROOT = Path(__file__).resolve().parents[1]


def inference(config: str = "experiments/mfm/letters_mfm.yaml", overrides: tuple = ()):
    """`task.predict` on the test split's evaluation populations: embed each source population, then
    integrate the field from every source point (adaptive Tsit5, the evaluation's tolerance).

    The weights are a fresh initialisation: the adaptive solver's step count depends on the field, so
    trained models may take more or fewer steps (each run's final.json has `infer_ms_per_population`).
    """
    task = load_config(ROOT / config, list(overrides)).task
    model = task.init(key=jax.random.key(0))
    problems = task.eval_problems("test")
    return (lambda: task.predict(model, problems)), {"examples": len(problems["x0"])}
