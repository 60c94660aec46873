"""Where a run's numbers came from, and `sciml record`: a finished run's small files under `results/`.

Every start of a run (the first and each resume) appends a line to `<run>/provenance.jsonl`: the time,
the step it starts from, the command that reproduces it, the git commit of the `sciml` checkout (and
whether `sciml/` or `experiments/` had uncommitted changes), the host, its CPU and the device count;
the end of the run appends one more. `record` copies a finished run's small files (final.json,
config.yaml, metrics.jsonl, versions.json, provenance.jsonl, figures, the task's JSON outputs and
evaluation outputs; never checkpoints) to a results folder and writes `PROVENANCE.md` from those lines,
so a recorded result names the commit and command that made it without anyone writing them down by hand.
"""

import datetime
import json
import platform
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

from sciml.files import read_jsonl, write_atomic

FILE = "provenance.jsonl"
#: Copied by `record` when present; any other top-level file only if it is a figure or a task's JSON output
#: (ProbConserv's results.json; final_<steps>.json, the final evaluation before an extension of train.steps).
SMALL_FILES = ("final.json", "config.yaml", "metrics.jsonl", "versions.json", FILE)
#: Folders that are never recorded (model states and logs that have a small copy elsewhere).
SKIPPED_DIRS = ("checkpoints", "best", "tensorboard", "wandb")
#: Recorded results stay small: larger files are left out and listed in PROVENANCE.md.
MAX_FILE_BYTES = 1 << 20
_ROOT = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) that holds `sciml/`


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> dict:
    """The git commit of the `sciml` checkout and whether sciml/ or experiments/ differ from it (None
    for both when sciml is not run from a git checkout, e.g. installed from a wheel)."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != _ROOT:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "sciml", "experiments")
    return {"commit": _git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_command(config, overrides) -> str | None:
    """The `sciml run` command line equivalent to `run(config, overrides)`; None for a config given as a
    dict (its resolved form is in config.yaml)."""
    if not isinstance(config, str | Path):
        return None
    return shlex.join(["sciml", "run", str(config), *map(str, overrides)])


def log_start(run_dir: Path, step: int, command: str | None, devices: int, processes: int) -> None:
    _append(run_dir, {"event": "start", "time": _now(), "step": step, "command": command, **code_version(),
                      "host": platform.node(), "cpu": _cpu(), "devices": devices, "processes": processes})


def log_end(run_dir: Path, step: int) -> None:
    _append(run_dir, {"event": "end", "time": _now(), "step": step})


def _append(run_dir: Path, row: dict) -> None:
    with open(run_dir / FILE, "a") as f:
        f.write(json.dumps(row) + "\n")


def record(run_dir: str | Path, dest: str | Path | None = None, *, note: str = "", force: bool = False) -> Path:
    """Copy the finished run `run_dir`'s small files to `dest` (default `results/<experiment>/<name>`, from
    its config.yaml) and write `dest/PROVENANCE.md`; returns `dest`.

    Raises when the run has not finished (no final.json) and when `dest` already holds a record,
    unless `force` (which replaces it).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    if dest is None:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
        dest = Path("results") / str(cfg["experiment"]) / str(cfg["name"])
    dest = Path(dest)
    if not (run_dir / "final.json").exists():
        raise ValueError(f"{run_dir} has not finished (no final.json): record it once it has")
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise FileExistsError(f"{dest} already holds a record; pass --force to replace it")
        shutil.rmtree(dest)
    copied, left_out = [], []
    for src in sorted(run_dir.rglob("*")):
        rel = src.relative_to(run_dir)
        if not src.is_file() or rel.parts[0] in SKIPPED_DIRS:
            continue
        if len(rel.parts) > 1:  # evaluation outputs (`sciml eval --out RUN/...`): their numbers and figures
            wanted = src.suffix in (".json", ".yaml", ".png")
        else:
            wanted = rel.name in SMALL_FILES or src.suffix in (".png", ".json")
        if not wanted:
            continue
        if src.stat().st_size > MAX_FILE_BYTES:
            left_out.append(f"`{rel}` ({src.stat().st_size / 2**20:.1f} MiB)")
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
        copied.append(f"`{rel}`")
    write_atomic(dest / "PROVENANCE.md", _provenance_text(run_dir, dest.name, copied, left_out, note))
    return dest


def _provenance_text(run_dir: Path, name: str, copied: list[str], left_out: list[str], note: str) -> str:
    rows = read_jsonl(run_dir / FILE) if (run_dir / FILE).exists() else []
    starts = [r for r in rows if r.get("event") == "start"]
    ends = [r for r in rows if r.get("event") == "end"]
    final = json.loads((run_dir / "final.json").read_text())
    lines = [f"# {name}", "", f"Recorded with `sciml record` on {_now()[:10]} from `{run_dir}`.", ""]
    commands = list(dict.fromkeys(s["command"] for s in starts if s.get("command")))
    if commands:
        lines += ["- Command (the resolved config is `config.yaml`):", ""]
        lines += [f"      {c}" for c in commands] + [""]
    else:
        lines.append("- Command: not known (the config was given as a dict, or the run started before the runner "
                     f"kept `{FILE}`); `config.yaml` is the resolved config.")
    if starts:
        lines.append("- Starts (a resume continues from the last checkpoint):")
        for s in starts:
            commit = s.get("commit") or "unknown (not a git checkout)"
            dirty = " with uncommitted changes in sciml/ or experiments/" if s.get("dirty") else ""
            lines.append(f"  - {s['time']}: from step {s['step']}, commit {commit}{dirty}; {s.get('host')}, "
                         f"{s.get('cpu')}, {s.get('devices')} device(s), {s.get('processes')} process(es).")
        lines.append(f"- Code: {_code_changes([s.get('commit') for s in starts])}")
    else:
        resumes = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "resumed_from" in r]
        at = f"a start at step {resumes[0]}" if len(resumes) == 1 else f"starts at steps {', '.join(map(str, resumes))}"
        lines.append(f"- Starts: not recorded (the run started before the runner kept `{FILE}`); `metrics.jsonl` "
                     f"shows {at if resumes else 'no start'}.")
    if ends:
        lines.append(f"- Finished: {ends[-1]['time']} at step {ends[-1]['step']}.")
    lines.append(f"- `final.json`: the run's final evaluation (step {final.get('step')}).")
    lines.append(f"- Files: {', '.join(copied)}. Not recorded: checkpoints and logs other than metrics.jsonl"
                 + (f"; over {MAX_FILE_BYTES >> 20} MiB: {', '.join(left_out)}" if left_out else "") + ".")
    if note:
        lines += ["", note.strip()]
    return "\n".join(lines) + "\n"


def _code_changes(commits: list[str | None]) -> str:
    """One sentence on whether the starts ran the same code."""
    known = list(dict.fromkeys(c for c in commits if c))
    if not known:
        return "commit unknown."
    if len(known) == 1:
        return f"every start ran commit {known[0][:12]}."
    parts = []
    for a, b in zip(known, known[1:]):
        stat = _git("diff", "--shortstat", a, b, "--", "sciml", "experiments")
        change = "unknown" if stat is None else (stat or "no change in sciml/ or experiments/")
        parts.append(f"{a[:12]} -> {b[:12]}: {change}")
    return "the starts ran different commits (" + "; ".join(parts) + ")."
