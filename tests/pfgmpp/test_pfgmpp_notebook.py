import json
import re

import numpy as np
import pytest
from notebook_util import execute_notebook

from sciml.runner import training_summary
from sciml.runner.train import load


@pytest.mark.slow
def test_pfgmpp_notebook_runs(repo, tmp_path):
    params = {"steps": 60, "Ds": [4, 16, "inf"], "eval_samples": 100, "robust_alphas": [0.2], "robust_steps": [4],
              "robust_bits": [4], "runs_dir": str(tmp_path / "runs")}
    out = execute_notebook(repo / "notebooks/01_pfgmpp.py", params, tmp_path)
    text = out.read_text()
    assert "notebook run time" in text and "images/s at NFE 35" in text
    summary = json.loads((tmp_path / "runs/pfgmpp/summary.json").read_text())
    assert set(summary["fd"]) == {"4", "16", "inf"}
    assert (tmp_path / "runs/pfgmpp/robustness.png").exists()
    final = json.loads((tmp_path / "runs/pfgmpp/digits_D4_60/final.json").read_text())
    assert {"fd", "fd_floor", "w2", "mmd", "fd_alpha0.2", "fd_nfe7", "fd_bits4"} <= set(final)
    # The verdict is formatted from this run's results, with the rule that decides each word.
    fd = summary["fd"]
    assert f"D = 4: {fd['4']:.1f}, D = 16: {fd['16']:.1f}, D = inf: {fd['inf']:.1f}" in text
    assert "(rule: beats if lower by more than 1 FD, ties within 1 FD)" in text
    assert "Claim 2, noise injection" in text and "Spearman correlation between D and" in text
    # the unverified "FID 1.96 at D = 64" is not quoted as a paper number (run numbers may be 1.96)
    assert '"64": 1.96' not in (repo / "notebooks/01_pfgmpp.py").read_text() and "FID 1.96" not in text
    # The recorded converged U-Net runs (results/pfgmpp/converged_unet8_D<D>_seed<seed>) are read, and the FD
    # line of their verdict is formatted from them, in the order of recorded_Ds.
    fds = {}
    for path in sorted((repo / "results/pfgmpp").glob("converged_unet8_D*_seed*/final.json")):
        D = re.fullmatch(r"converged_unet8_D(\w+)_seed\d+", path.parent.name).group(1)
        fds.setdefault(D, []).append(json.loads(path.read_text())["fd"])
    assert set(fds) == {"4", "64", "2048", "inf"}, "recorded converged U-Net runs are missing"
    read = [load(p.parent) for p in sorted((repo / "results/pfgmpp").glob("converged_unet8_D*_seed*/final.json"))]
    assert "What they cost: " + training_summary(read) in text  # every recorded run, as it reads them all
    spread = lambda v: f"{np.std(v, ddof=1):.2f}" if len(v) > 1 else "one seed"  # noqa: E731
    expected = ", ".join(f"D = {D}: {np.mean(fds[D]):.2f} ({spread(fds[D])})" for D in ("4", "64", "2048", "inf"))
    assert "FD at NFE 35 on 1000 digits, mean (sd) over seeds: " + expected in text
    assert "Claim 1 (FD on 1,000 digits): the best finite D" in text and "per seed" in text
    assert "Claim 1 (FD on 5,000 digits): the best finite D" in text  # seeds re-evaluated at every D
    # The loss-based plateau line: third- and last-quarter means of the logged training loss of each run.
    drops = []
    for path in (repo / "results/pfgmpp").glob("converged_unet8_D*_seed*/metrics.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        steps, loss = (np.array(v) for v in zip(*[(r["step"], r["loss"]) for r in rows if "loss" in r]))
        q3, q4 = loss[(steps > 0.5 * steps.max()) & (steps <= 0.75 * steps.max())], loss[steps > 0.75 * steps.max()]
        drops.append(1 - q4.mean() / q3.mean())
    assert (f"by the training loss, {sum(d < 0.05 for d in drops)} of {len(drops)} lowered their mean loss by under "
            f"5% from the third quarter to the last (drops {min(drops):.1%} to {max(drops):.1%})") in text
