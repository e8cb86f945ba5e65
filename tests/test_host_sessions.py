"""The host tools' sessions (qemu/fjqemu): QEMU never outlives the tool that started it,
whatever ends that tool."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(w) for w in text.split()]


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def debug_server(build):
    """scripts/debug --server on a free port: (process, QEMU's pid, port)."""
    port = free_port()
    p = subprocess.Popen([str(ROOT / "scripts" / "debug"), "--server"], cwd=ROOT,
                         env=dict(os.environ, GDBPORT=str(port)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    qemu = None
    try:
        line = p.stdout.readline()          # printed once QEMU listens
        assert line.startswith("debug-server: QEMU paused"), line + p.stderr.read()
        kids = children(p.pid)
        assert len(kids) == 1, kids
        qemu = kids[0]
        yield p, qemu, port
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        if qemu is not None and not gone(qemu, 0):
            try:
                os.kill(qemu, signal.SIGKILL)
            except ProcessLookupError:
                pass
        port_file = ROOT / "build" / "gdb-port"
        if port_file.exists() and port_file.read_text().strip() == str(port):
            port_file.unlink()       # left by the SIGKILLed server


def test_qemu_dies_with_a_killed_debug_server(debug_server):
    p, qemu, port = debug_server
    os.kill(p.pid, signal.SIGKILL)       # no chance to clean up: only the kernel can help
    p.wait(timeout=10)
    assert gone(qemu), "QEMU outlived its SIGKILLed parent"


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGTERM])
def test_sigquit_ends_debug_like_sigterm(debug_server, sig):
    p, qemu, port = debug_server
    os.kill(p.pid, sig)
    assert p.wait(timeout=15) == 128 + sig
    assert gone(qemu, 5), "QEMU still runs"
    assert not (ROOT / "build" / "gdb-port").exists() or \
        (ROOT / "build" / "gdb-port").read_text().strip() != str(port)
