"""Cache and dataset-file helpers: atomic writes, moving a damaged cache aside, JSON with the path in errors."""

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write through a temporary file and a rename, so a reader (or a killed writer) never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
