"""FIM-MJP benchmark functions (see run.py for the `call` protocol): zero-shot inference time."""

from pathlib import Path

import jax

from sciml.data.mjp import make_dfr_dataset
from sciml.fim import infer_rate_matrix
from sciml.runner import load_config

ROOT = Path(__file__).resolve().parents[1]


def inference(paths: int = 300, grid_size: int = 50, chunk_size: int = 16, overrides: tuple = ()):
    """`infer_rate_matrix` on `paths` DFR paths (chunks of `chunk_size`, averaged), end to end.

    The weights are a fresh initialisation: inference time does not depend on their values.
    """
    task = load_config(ROOT / "experiments/fim/pretrain.yaml", list(overrides)).task
    model = task.init(key=jax.random.key(0))
    data = make_dfr_dataset(0, paths, grid_size=grid_size)
    step = lambda: infer_rate_matrix(model, data["times"], data["states"], data["lengths"], chunk_size=chunk_size).Q
    return step, {"examples": paths}
