"""Logs of sessions that run side by side: the first live session (make run, make debug,
make debug-server) writes build/serial.log and build/qemu.log as the docs say; one started
while it runs gets build/session-PID/ instead, so it never truncates the first one's logs.
A session holds an flock on build/session.lock for its whole life (the kernel drops it
when the process ends, however it ends)."""
from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from . import BUILD, FjError


@dataclass
class SessionLogs:
    dir: Path
    serial: Path        # COM1 (QEMU opens and truncates it)
    qemu: Path          # QEMU's own messages
    own_dir: bool       # True: build/ logs belong to another live session; these are in dir
    _lock_fd: int | None = None


def session_logs(build: Path = BUILD) -> SessionLogs:
    try:
        build.mkdir(parents=True, exist_ok=True)
        fd = os.open(build / "session.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise FjError(f"cannot write to {build}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return SessionLogs(build, build / "serial.log", build / "qemu.log", False, fd)
    except BlockingIOError:
        os.close(fd)
    d = build / f"session-{os.getpid()}"
    try:
        d.mkdir(exist_ok=True)
    except OSError as e:
        raise FjError(f"cannot write to {build}: {e.strerror}") from None
    return SessionLogs(d, d / "serial.log", d / "qemu.log", True)
