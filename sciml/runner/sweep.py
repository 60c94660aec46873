"""Sweeps: a grid (or list) of overrides from the YAML `sweep:` section (or the CLI's `-m key=a,b`), one
run directory per point.

Finished points are skipped on a re-run; a failing point is reported and the others go on; a summary
CSV is written at the end, also when Ctrl-C stops the sweep.
"""

import csv
import io
import itertools
import json
import traceback
from pathlib import Path

import numpy as np
import yaml

from sciml.files import write_atomic
from sciml.runner import provenance
from sciml.runner.config import ConfigError, apply_overrides, load_yaml, set_key
from sciml.runner.train import run


def sweep_points(spec) -> list[dict]:
    """Override dicts of a sweep spec: a mapping key -> list of values (grid), or a list of mappings."""
    if isinstance(spec, dict):
        for k, v in spec.items():
            if not isinstance(v, list) or not v:
                raise ConfigError(f"sweep.{k} must be a non-empty list of values, got {v!r}")
        keys = list(spec)
        return [dict(zip(keys, values)) for values in itertools.product(*(spec[k] for k in keys))]
    if isinstance(spec, list) and all(isinstance(p, dict) for p in spec) and spec:
        return [dict(p) for p in spec]
    raise ConfigError(f"sweep must be a mapping key -> [values] or a list of mappings, got {spec!r}")


def _yaml_text(value) -> str:
    """A value as override text that parses back to it (JSON is YAML's flow style)."""
    if isinstance(value, str):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def point_name(point: dict) -> str:
    """A readable, file-safe directory name for one sweep point, e.g. `coupling=ot,lr=0.001`."""
    parts = [f"{k.split('.')[-1]}={v}" for k, v in point.items()]
    return ",".join(parts).replace("/", "_").replace(" ", "")


def multirun_spec(items: list[str]) -> dict:
    """`["task.lr=1e-3,1e-4", "train.seed=0,1"]` (the CLI's `-m`) as a grid spec {key: [values]}."""
    spec = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"-m {item!r} is not of the form key.sub=a,b,...")
        key, text = item.split("=", 1)
        try:
            spec[key.strip()] = [yaml.safe_load(v) for v in text.split(",")]
        except yaml.YAMLError as e:
            raise ConfigError(f"-m {item!r}: a value is not valid YAML ({e})") from None
    return spec


def sweep(
    config: str | Path, overrides: list[str] | tuple[str, ...] = (), *, runs_dir: str | Path = "runs",
    progress: bool = True, multirun: list[str] | tuple[str, ...] = (),
) -> list[dict]:
    """Run every point of the config's `sweep:` section, or of the `multirun` grid (`key=a,b` strings,
    which replaces the section); returns and writes the summary rows."""
    raw = load_yaml(config)
    spec = raw.pop("sweep", None)
    if multirun:
        spec = multirun_spec(list(multirun))
    if spec is None:
        raise ConfigError(f"{config}: no sweep: section to expand (or give -m key=a,b)")
    points = sweep_points(spec)
    base_name = str(raw.get("name", Path(config).stem))
    rows = []
    summary = Path(runs_dir) / str(raw.get("experiment")) / base_name / "summary.csv"
    try:
        for point in points:
            name = f"{base_name}/{point_name(point)}"
            point_raw = apply_overrides(raw, overrides)
            for k, v in point.items():
                set_key(point_raw, k, v)
            set_key(point_raw, "name", name)
            row = {"point": point_name(point), **point}
            rows.append(row)
            try:
                r = run(point_raw, runs_dir=runs_dir, progress=progress, command=provenance.run_command(
                    config, [*overrides, *(f"{k}={_yaml_text(v)}" for k, v in point.items()), f"name={name}"]))
                row["status"] = "skipped" if r.reopened else "done"
                row.update(r.final)
            except KeyboardInterrupt as e:  # Ctrl-C: recorded; the summary is written on the way out
                row["status"] = "interrupted"
                row["error"] = str(e.args[0]) if e.args else "interrupted"
                raise
            except Exception as e:  # a failed point is reported; the others go on
                row["status"] = "failed"
                row["error"] = f"{type(e).__name__}: {' '.join(str(e).split())}"
                err_dir = Path(runs_dir) / str(raw.get("experiment")) / name
                try:
                    err_dir.mkdir(parents=True, exist_ok=True)
                    (err_dir / "error.txt").write_text(traceback.format_exc())
                except OSError:
                    pass
                print(f"sweep point {row['point']} failed: {row['error']}")
    finally:
        # every key any point sets (a list sweep's points may set different keys)
        _write_summary(summary, rows, list(dict.fromkeys(k for point in points for k in point)))
    return rows


def seed_aggregates(rows: list[dict], keys: list[str]) -> list[dict]:
    """Mean and standard deviation over `train.seed` of every numeric column, one pair of rows per
    combination of the other swept `keys` (only points that finished count; a key a point does not
    set groups as None)."""
    if "train.seed" not in keys:
        return []
    others = [k for k in keys if k != "train.seed"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("status") in ("done", "skipped"):
            groups.setdefault(tuple(r.get(k) for k in others), []).append(r)
    out = []
    for group_key, members in groups.items():
        numeric = [k for k in members[0] if k not in keys and all(_is_number(m.get(k)) for m in members)]
        base = {"point": point_name(dict(zip(others, group_key))) or "all", **dict(zip(others, group_key))}
        for stat, fn in (("mean", np.mean), ("std", lambda v: np.std(v, ddof=1) if len(v) > 1 else 0.0)):
            row = {**base, "train.seed": stat, "status": f"{len(members)} seeds"}
            row.update({k: float(fn([float(m[k]) for m in members])) for k in numeric})
            out.append(row)
    return out


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _write_summary(path: Path, rows: list[dict], keys: list[str]) -> None:
    """summary.csv of the points so far (written atomically; also after Ctrl-C or an error); when
    `train.seed` is swept, followed by the mean and standard deviation over seeds of each group."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows + seed_aggregates(rows, keys)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    write_atomic(path, buf.getvalue())
