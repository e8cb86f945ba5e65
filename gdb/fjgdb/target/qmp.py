"""QEMU's QMP, for the few things its monitor cannot do (set-action): a short-lived client
of the socket named by $FJ_QMP (make debug and the test harness start QEMU with a QMP
socket for GDB; see qemu/fjqemu/debug.py gdb_env). Every read is bounded."""
from __future__ import annotations

import json
import os

from .errors import FjError

TIMEOUT = 5.0


def qmp_path() -> str | None:
    """The socket of this session's QEMU, None when there is none."""
    path = os.environ.get("FJ_QMP")
    return path if path and os.path.exists(path) else None


def qmp(*commands: tuple[str, dict]) -> list:
    """Run QMP commands in order on one connection; their returns. FjError on failure."""
    path = qmp_path()
    if path is None:
        raise FjError("no QMP socket for this QEMU ($FJ_QMP; 'make debug' sets it)")
    results = []
    try:
        import socket     # here: importing it costs every GDB start ~4 ms
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(path)
            f = s.makefile("rwb")
            _reply(f)                                   # greeting
            for execute, arguments in (("qmp_capabilities", {}),) + commands:
                f.write(json.dumps({"execute": execute, "arguments": arguments}).encode()
                        + b"\n")
                f.flush()
                results.append(_reply(f))
    except (OSError, ValueError) as e:
        raise FjError(f"QMP at {path}: {e}") from None
    return results[1:]


def _reply(f) -> dict:
    while True:
        line = f.readline()
        if not line:
            raise FjError("QMP connection closed (QEMU exited?)")
        msg = json.loads(line)
        if "event" in msg:
            continue
        if "error" in msg:
            raise FjError(f"QMP: {msg['error'].get('desc')}")
        return msg.get("return", msg)
