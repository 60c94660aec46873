"""A lock on a run directory, so that two identical commands never train into the same run.

The lock is `fcntl.flock` on `<run>/.lock`, which also holds the owner's pid for the message. The
kernel drops a flock when its process dies, so a lock file left by a killed run never blocks.
"""

import fcntl
import os
from pathlib import Path


class RunInProgress(RuntimeError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """Exclusive, non-blocking lock on `directory/.lock`; use as a context manager or acquire/release."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunInProgress(f"run already in progress (pid {owner}): {self.path.parent}") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
