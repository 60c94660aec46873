"""Execute a jupytext notebook source with injected parameters (papermill), as the tests do."""

from pathlib import Path

import jupytext
import papermill


def execute_notebook(path: str | Path, parameters: dict, tmp_path: Path, timeout: int = 900) -> Path:
    """Convert `path` (.py, percent format) to .ipynb, run it with `parameters`; returns the executed copy.

    The kernel runs with the repository root as working directory, so relative paths in notebooks
    resolve as they do for a user who opens them from `notebooks/`'s parent.
    """
    path = Path(path).resolve()
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = Path(tmp_path) / f"{path.stem}.ipynb"
    out = Path(tmp_path) / f"{path.stem}.out.ipynb"
    jupytext.write(nb, src)
    papermill.execute_notebook(
        str(src), str(out), parameters=parameters, cwd=str(path.parents[1]), kernel_name="python3",
        execution_timeout=timeout, progress_bar=False,
    )
    return out
