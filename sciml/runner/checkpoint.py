"""Checkpoints: a thin adapter over orbax's CheckpointManager, verified on restore.

A checkpoint holds the train state's arrays (model, optimiser state, EMA) as host NumPy arrays plus
JSON metadata (step, last logged loss, and a SHA-256 of the saved arrays; the data position and RNG
are functions of seed and step). Restoring needs a skeleton of the state (`like`), from which the
static parts (activations, shapes) are rebuilt.

Damage is expected, not exceptional: restore tries the checkpoints from newest to oldest, verifies
each against its checksum and says which one it used and why newer ones were skipped. Step folders
that orbax never finished (a kill mid-save, a stray empty folder) are ignored, and in a writable
directory they and the skipped ones are moved aside into `<directory>.skipped/` so that the run can
save those steps again. Saves are synchronous: a save that fails stops the run at once with one line
naming the path and the last good step.
"""

import contextlib
import hashlib
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import orbax.checkpoint as ocp
from jaxtyping import PyTree


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written, or no checkpoint that can be read."""


def arrays_digest(arrays: PyTree) -> str:
    """SHA-256 over the dtype, shape and bytes of every array leaf, in tree order."""
    h = hashlib.sha256()
    for x in jax.tree_util.tree_leaves(arrays):
        x = np.ascontiguousarray(np.asarray(x))
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(x.tobytes())
    return h.hexdigest()


def _complete(step_dir: Path) -> bool:
    """Whether orbax finished writing this step folder (its metadata, state and meta items exist)."""
    needed = ("_CHECKPOINT_METADATA", "state/_METADATA", "meta/metadata")
    return all((step_dir / p).is_file() for p in needed)


def _one_line(e: BaseException, limit: int = 200) -> str:
    """A short reason: the OS error underneath when there is one (tensorstore names it by errno)."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    text = " ".join(str(e).split()) or type(e).__name__
    code = re.search(r"os_error_code='(\d+)'", text)
    if code:
        return os.strerror(int(code.group(1)))
    return f"{type(e).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


@contextlib.contextmanager
def _quiet_orbax():
    """Orbax logs a failed save's multi-kB traceback itself; we report it in one line instead."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class Checkpoints:
    """Save/restore train states under `directory`, keeping the last `keep`.

    `read_only=True` (for evaluation) never creates, moves or writes anything.
    """

    def __init__(self, directory: Path, keep: int = 3, *, read_only: bool = False, tidy: bool = True):
        self.directory = Path(directory).absolute()
        self.keep, self.read_only = keep, read_only
        self.notes: list[str] = []  # what restore skipped and why, for the run's log
        self.last_good: int | None = None  # the newest step known to be saved intact
        self._manager: ocp.CheckpointManager | None = None
        if tidy and not read_only and self.directory.is_dir():
            for p in sorted(self.directory.iterdir()):
                if p.is_dir() and not (p.name.isdigit() and _complete(p)):
                    self._move_aside(p, "incomplete (orbax never finished writing it)")

    # ------------------------------------------------------------------------------ inspection

    def steps(self) -> list[int]:
        """Steps of the complete checkpoint folders, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit() and _complete(p))

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    # ------------------------------------------------------------------------------ saving

    @property
    def manager(self) -> ocp.CheckpointManager:
        if self._manager is None:
            if self.read_only:
                raise CheckpointError(f"{self.directory} was opened read-only")
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=self.keep, create=True, enable_async_checkpointing=False
                ),
            )
        return self._manager

    def save(self, step: int, state: PyTree, meta: dict) -> None:
        """Write step `step` now; a failure raises CheckpointError naming the path and the last good step."""
        arrays = eqx.filter(state, eqx.is_array)
        host = jax.tree_util.tree_map(lambda x: np.asarray(jax.device_get(x)), arrays)
        meta = {**meta, "sha256": arrays_digest(host)}
        try:
            with _quiet_orbax():
                self.manager.save(
                    step,
                    args=ocp.args.Composite(state=ocp.args.StandardSave(host), meta=ocp.args.JsonSave(meta)),
                    force=True,
                )
                self.manager.wait_until_finished()
        except Exception as e:
            last = "none" if self.last_good is None else f"step {self.last_good}"
            raise CheckpointError(
                f"could not save the checkpoint of step {step} in {self.directory} ({_one_line(e)}); "
                f"last good checkpoint: {last}"
            ) from None
        self.last_good = step

    # ------------------------------------------------------------------------------ restoring

    def restore(self, like: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
        """The newest intact state (or the one at `step`) as host arrays shaped like `like`, and its meta.

        Newer checkpoints that fail to load or to match their checksum are skipped (and, unless
        read-only, moved aside); `self.notes` says which and why.
        """
        candidates = self.steps()[::-1] if step is None else [step]
        if not candidates:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        arrays, static = eqx.partition(like, eqx.is_array)
        abstract = jax.tree_util.tree_map(lambda x: np.zeros(x.shape, x.dtype), arrays)
        failures = []
        for s in candidates:
            try:
                restored, meta = self._restore_one(s, abstract)
            except Exception as e:
                failures.append((s, _one_line(e)))
                continue
            for bad, why in failures:
                self.notes.append(f"skipped checkpoint step {bad}: {why}")
                if not self.read_only:
                    self._move_aside(self.directory / str(bad), why)
            if failures:
                self.notes.append(f"restored checkpoint step {s}")
                for note in self.notes:
                    print(f"{self.directory}: {note}", file=sys.stderr)
            self.last_good = s
            return eqx.combine(restored, static), meta
        detail = "; ".join(f"step {s}: {why}" for s, why in failures)
        raise CheckpointError(f"no usable checkpoint in {self.directory} ({detail})")

    def _restore_one(self, step: int, abstract: PyTree) -> tuple[PyTree, dict]:
        path = self.directory / str(step)
        if not _complete(path):
            raise CheckpointError(f"{path} is incomplete")
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as ckptr:
            out = ckptr.restore(
                path, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
            )
        meta = dict(out.meta)
        if int(meta.get("step", -1)) != step:
            raise CheckpointError(f"its metadata names step {meta.get('step')!r}, not {step}")
        want = meta.get("sha256")
        if want is not None and arrays_digest(out.state) != want:
            raise CheckpointError("checksum mismatch (the saved arrays were changed or damaged)")
        return out.state, meta

    def _move_aside(self, path: Path, why: str) -> None:
        dest_dir = self.directory.parent / f"{self.directory.name}.skipped"
        try:
            dest_dir.mkdir(exist_ok=True)
            dest = dest_dir / f"{path.name}-{time.strftime('%Y%m%dT%H%M%S')}"
            n = 0
            while dest.exists():
                n += 1
                dest = dest_dir / f"{path.name}-{time.strftime('%Y%m%dT%H%M%S')}-{n}"
            shutil.move(str(path), str(dest))
        except OSError as e:
            print(f"{path}: {why}; could not move it aside ({_one_line(e)})", file=sys.stderr)
            return
        print(f"{path}: {why}; moved to {dest}", file=sys.stderr)

    # ------------------------------------------------------------------------------ lifetime

    def wait(self) -> None:
        if self._manager is not None:
            self._manager.wait_until_finished()

    def close(self) -> None:
        if self._manager is not None:
            manager, self._manager = self._manager, None
            manager.close()
