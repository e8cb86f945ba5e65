"""make debug-server with another guest's options (scripts/debug --server --image --arch
i386 --smp 2 --symbols): QEMU gets them, and a GDB started with the machine's set-up
(architecture first, then the symbols) stops at that guest's breakpoint by name."""
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from fjqemu import ROOT
from fjqemu.gdbrun import gdb_command, run_batch
from fjqemu.machine import Machine

GUEST = ROOT / "build" / "guests"


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, timeout=10).stdout
    return [int(x) for x in out.split()]


def test_debug_server_for_a_foreign_guest(build):
    subprocess.run(["make", "-s", "build/guests/modes.img"], cwd=ROOT, check=True,
                   timeout=60, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    image, elf = GUEST / "modes.img", GUEST / "modes32.elf"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    p = subprocess.Popen([str(ROOT / "scripts" / "debug"), "--server", "--image", str(image),
                          "--arch", "i386", "--smp", "2", "--symbols", str(elf)], cwd=ROOT,
                         env=dict(env, GDBPORT=str(port)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        first = p.stdout.readline()
        assert first.startswith(f"debug: {image} (qemu-system-i386, 2 CPUs)"), \
            first + p.stderr.read()
        assert p.stdout.readline().startswith("debug-server: QEMU paused")
        kids = children(p.pid)
        assert len(kids) == 1
        cmdline = Path(f"/proc/{kids[0]}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0].endswith(b"qemu-system-i386") and b"-smp" in cmdline
        m = Machine(image=image, arch="i386", smp=2, symbols=[(elf, 0)])
        rc, out, err = run_batch(gdb_command("fj break 1020:0000", "continue",
                                             "info threads", symbols=False, port=port,
                                             setup=m.gdb_setup()), timeout=60)
        assert "Breakpoint 1, 1020:0000 (linear 0x10200) <rm_entry>" in out, out + err
        assert "Thread 1.1 (CPU#0" in out and "Thread 1.2 (CPU#1" in out, out   # SMP=2
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()
    if p.returncode not in (0, -signal.SIGINT, 130):
        pytest.fail(f"debug-server ended with {p.returncode}")
