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
    ge: int | float | None = None,
    gt: int | float | None = None,
    le: int | float | None = None,
    lt: int | float | None = None,
    error: type[Exception] = ValueError,
) -> None:
    """`value` must be a finite number within the given bounds (ge: >=, gt: >, le: <=, lt: <).

    The message states the rule as the bounds were given: "must be >= 1" for one bound, "must be in
    [0, 1)" (interval notation) for a lower and an upper one.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value!r}")
    lower = ("[", ge) if ge is not None else ("(", gt) if gt is not None else None
    upper = ("]", le) if le is not None else (")", lt) if lt is not None else None
    ok_lower = lower is None or (value >= lower[1] if lower[0] == "[" else value > lower[1])
    ok_upper = upper is None or (value <= upper[1] if upper[0] == "]" else value < upper[1])
    if ok_lower and ok_upper:
        return
    if lower and upper:
        rule = f"in {lower[0]}{lower[1]}, {upper[1]}{upper[0]}"
    elif lower:
        rule = f"{'>=' if lower[0] == '[' else '>'} {lower[1]}"
    else:
        rule = f"{'<=' if upper[0] == ']' else '<'} {upper[1]}"
    raise error(f"{name} must be {rule}, got {value!r}")


def check_ranges(obj: Any, prefix: str = "", error: type[Exception] = ValueError, **rules: dict) -> None:
    """`check_range` on several fields of `obj`: `check_ranges(self, steps={"ge": 1}, lr={"gt": 0})`."""
    for field, bounds in rules.items():
        check_range(f"{prefix}{field}", getattr(obj, field), error=error, **bounds)
