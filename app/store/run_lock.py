"""Run locks (Ablaufsperre): one process at a time drives a stored run.

While an engine drives a run it holds an operating-system lock on ``<folder>/<run id>.lock``.
The operating system releases the lock when the process ends in any way - a crash, a kill, a
power cut - so a run whose lock is free and whose state is still ``running`` was interrupted,
and a run whose lock is held is being driven by another window or a ``smgwct flow`` command
on the same data folder (it must not be resumed a second time).

Locks are ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows, both non-blocking.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType

from app.errors import SmgwctError, Text

if os.name == "nt":  # pragma: no cover - exercised on Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)  # the lock covers the first byte
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


LOCK_FOLDER = "run-locks"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def lock_path(folder: Path, run_id: str) -> Path:
    """The lock file of ``run_id`` in ``folder`` (run ids are made safe as file names)."""
    return folder / f"{_SAFE.sub('_', run_id)}.lock"


class RunBusy(SmgwctError):
    """Another process drives the run right now."""


class RunLock:
    """The lock of one run; :meth:`acquire` does not wait."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.path = lock_path(folder, run_id)
        self.run_id = run_id
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock; ``False`` when another process (or another lock object) holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def hold(self) -> RunLock:
        """Take the lock or raise :class:`RunBusy` (for ``with RunLock(...).hold():``)."""
        if not self.acquire():
            raise RunBusy(
                Text(f"The flow run {self.run_id} is being driven right now by another window "
                     "or command on this computer.",
                     f"Der Ablauf {self.run_id} wird gerade von einem anderen Fenster oder "
                     "Befehl auf diesem Rechner ausgeführt."),
                field="run_id",
                hint=Text("Let it finish there, or close that window or command first.",
                          "Lassen Sie ihn dort zu Ende laufen, oder schließen Sie zuerst das "
                          "andere Fenster bzw. den Befehl."),
            )
        return self

    def __enter__(self) -> RunLock:
        return self.hold()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def driven_elsewhere(folder: Path, run_id: str) -> bool:
    """Whether another process holds the lock of ``run_id`` right now."""
    if not lock_path(folder, run_id).exists():
        return False
    probe = RunLock(folder, run_id)
    if probe.acquire():
        probe.release()
        return False
    return True


__all__ = ["LOCK_FOLDER", "RunBusy", "RunLock", "driven_elsewhere", "lock_path"]
