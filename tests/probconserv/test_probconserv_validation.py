"""The probconserv task's held-out validation batch (the original's 100 `valid` functions)."""

import numpy as np

from sciml.probconserv.task import ProbConservTask


def test_validation_batch_is_off_by_default_and_a_pure_function_of_data_seed():
    assert ProbConservTask(equation="heat").validation_batch(seed=0) is None
    task = ProbConservTask(equation="pme", num_valid_functions=5)
    a, b = task.validation_batch(seed=0), task.validation_batch(seed=3)
    assert a["xc"].shape == (5, 100, 2) and a["yt"].shape == (5, 100, 1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])  # the training seed does not change the held-out set
    assert np.all((a["param"] >= 1) & (a["param"] <= 6))  # the training range of m
    other = ProbConservTask(equation="pme", num_valid_functions=5, data_seed=1).validation_batch(seed=0)
    assert not np.array_equal(a["param"], other["param"])
    train = task.batch(0, seed=0)
    assert set(train) == set(a) and all(train[k].shape[1:] == a[k].shape[1:] for k in a)
