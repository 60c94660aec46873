"""Files the runner and the dataset caches write and read: atomic writes, strict JSON (no NaN/Infinity),
tolerant JSON-lines reading, JSON with the path in errors, moving a damaged cache aside."""

import json
import math
import os
import sys
import time
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
        tmp.write_text(text)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # on disk before the rename makes it visible
        finally:
            os.close(fd)
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


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """json.loads of a file; a missing or invalid file raises an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected the {what})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        reason = f"{e.msg} at line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
        raise ValueError(f"{path}: the {what} is not valid JSON ({reason})") from None


def move_aside(path: str | Path, error: BaseException) -> Path:
    """Rename a cache that failed to load to `<name>.corrupt-<time>` and say so on stderr; returns the new path."""
    path = Path(path)
    dest = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.replace(path, dest)
    reason = " ".join(str(error).split())[:300] or type(error).__name__
    print(f"cache {path} could not be read ({type(error).__name__}: {reason}); moved to {dest}, regenerating",
          file=sys.stderr)
    return dest
