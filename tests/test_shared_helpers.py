"""The helpers every package shares: validators, timing, parameter masks and the dataset cache."""

import math

import equinox as eqx
import jax
import numpy as np
import pytest

from sciml.data.cache import cached_arrays, data_dir
from sciml.params import count_params, trainable_mask
from sciml.timing import median_seconds, time_calls
from sciml.validate import check_choice, check_range


@pytest.mark.parametrize(
    "value, bounds, message",
    [
        (0, {"ge": 1}, "n must be >= 1, got 0"),
        (0.0, {"gt": 0}, r"n must be > 0, got 0.0"),
        (1.0, {"ge": 0, "lt": 1}, r"n must be in \[0, 1\), got 1.0"),
        (-1, {"gt": 0, "le": 5}, r"n must be in \(0, 5\], got -1"),
        (math.nan, {"ge": 0}, "n must be a finite number, got nan"),
        (True, {}, "n must be a finite number, got True"),
        ("3", {}, "n must be a finite number, got '3'"),
    ],
)
def test_check_range_names_the_field_the_rule_and_the_value(value, bounds, message):
    with pytest.raises(ValueError, match=message):
        check_range("n", value, **bounds)


def test_check_range_accepts_the_bounds_themselves_when_closed():
    check_range("n", 0, ge=0, le=0)
    with pytest.raises(ValueError):
        check_range("n", 0, gt=0)


def test_check_choice_lists_the_valid_values_and_takes_the_callers_error():
    class Mine(ValueError):
        pass

    check_choice("kind", "a", ("a", "b"))
    with pytest.raises(Mine, match=r"kind must be one of \['a', 'b'\], got 'c'"):
        check_choice("kind", "c", ("a", "b"), error=Mine)


def test_time_calls_makes_first_warmup_and_timed_calls_in_order():
    seen = []
    timing = time_calls(seen.append, repeats=3, warmup=2)
    assert seen == [0, 1, 2, 3, 4, 5] and len(timing.times_s) == 3
    assert timing.min_s <= timing.median_s
    calls = []
    median_seconds(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6
    with pytest.raises(ValueError, match="warmup must be >= 1"):
        median_seconds(lambda: None, warmup=0)


def test_trainable_mask_freezes_only_the_named_subtree_and_count_params_follows_it():
    model = (eqx.nn.Linear(3, 4, key=jax.random.PRNGKey(0)), eqx.nn.Linear(4, 2, key=jax.random.PRNGKey(1)))
    assert count_params(model) == 3 * 4 + 4 + 4 * 2 + 2
    mask = trainable_mask(model, frozen=lambda m: m[0])
    assert jax.tree_util.tree_leaves(mask) == [False, False, True, True]
    assert count_params(model, mask) == 4 * 2 + 2


def test_cached_arrays_builds_once_reads_after_and_rebuilds_a_damaged_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIML_DATA_DIR", str(tmp_path))
    assert data_dir("sub") == tmp_path / "sub"
    calls = []

    def make():
        calls.append(1)
        return {"x": np.arange(5.0)}

    first = cached_arrays("sub/toy", {"n": 5}, make)
    second = cached_arrays("sub/toy", {"n": 5}, make)
    np.testing.assert_array_equal(first["x"], second["x"])
    assert len(calls) == 1
    (entry,) = (tmp_path / "sub").glob("toy_*.npz")
    entry.write_bytes(b"not a zip")
    third = cached_arrays("sub/toy", {"n": 5}, make)
    np.testing.assert_array_equal(third["x"], first["x"])
    assert len(calls) == 2 and list((tmp_path / "sub").glob("toy_*.npz.corrupt-*"))
    cached_arrays("sub/toy", {"n": 6}, make, cache=False)
    assert len(list((tmp_path / "sub").glob("toy_*.npz"))) == 1
