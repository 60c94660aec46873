"""The run directory's files: strict JSON (no NaN/Infinity), atomic writes, tolerant JSON-lines reading."""

import json
import math
import os
import sys
from pathlib import Path
from typing import Any


def _finite(x: Any) -> Any:
    """`x` with every non-finite float replaced by None (JSON null): strict JSON has no NaN or Infinity."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def dumps(obj: Any, **kwargs) -> str:
    """Strict JSON (`allow_nan=False`); NaN and infinities are written as null."""
    return json.dumps(_finite(obj), allow_nan=False, **kwargs)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, dumps(obj, indent=2) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON-lines file. A half-written last line (a kill mid-write) is dropped with a
    note; a damaged line elsewhere is an error naming the file and line."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                print(f"{path}: ignoring a half-written last line ({e.msg})", file=sys.stderr)
                break
            raise ValueError(f"{path}, line {i + 1}: not valid JSON ({e.msg})") from None
    return rows
