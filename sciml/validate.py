"""Small validators for configuration fields, shared by the tasks and the runner's config loader.

Each raises `error` (ValueError unless the caller passes its own subclass) with a message that names
the field, states the rule and shows the value, e.g. "steps must be >= 1, got 0".
"""

import math
from collections.abc import Iterable
from typing import Any


def check_choice(name: str, value: Any, valid: Iterable, *, error: type[Exception] = ValueError) -> None:
    """`value` must be one of `valid`."""
    valid = tuple(valid)
    if value not in valid:
        raise error(f"{name} must be one of {list(valid)}, got {value!r}")


def check_range(
    name: str,
    value: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    error: type[Exception] = ValueError,
) -> None:
    """`value` must be a finite number within the given bounds (ge: >=, gt: >, le: <=, lt: <)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value!r}")
    for bound, op, ok in (
        (ge, ">=", lambda v, b: v >= b),
        (gt, ">", lambda v, b: v > b),
        (le, "<=", lambda v, b: v <= b),
        (lt, "<", lambda v, b: v < b),
    ):
        if bound is not None and not ok(value, bound):
            raise error(f"{name} must be {op} {bound}, got {value!r}")


def check_ranges(obj: Any, prefix: str = "", error: type[Exception] = ValueError, **rules: dict) -> None:
    """`check_range` on several fields of `obj`: `check_ranges(self, steps={"ge": 1}, lr={"gt": 0})`."""
    for field, bounds in rules.items():
        check_range(f"{prefix}{field}", getattr(obj, field), error=error, **bounds)
