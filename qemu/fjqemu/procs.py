"""THE one process-group killer, and bounded waits for child processes.

Every emulator, GDB or shell that fjqemu starts runs in a session (process group) of its
own (start_new_session=True), so that it cannot take the terminal, a Ctrl-C at the terminal
reaches only what should see it, and the whole group (GDB and whatever it started, a
shell's children, Bochs's helpers) can be ended at once.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess

PR_SET_PDEATHSIG = 1


def killpg(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to proc's process group (proc leads it) if proc still runs."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def end_group(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """End proc and its process group: SIGTERM, then SIGKILL after `grace` seconds; reap."""
    if proc is None:
        return
    if proc.poll() is None:
        killpg(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    kill_group(proc)


def kill_group(proc: subprocess.Popen | None) -> None:
    """SIGKILL proc's whole process group (a term display may ignore SIGTERM); reap."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def communicate(proc: subprocess.Popen, timeout: float):
    """proc.communicate() bounded by `timeout`: (stdout, stderr, timed_out). On timeout the
    process group is killed and what it had printed is returned."""
    try:
        out, err = proc.communicate(timeout=timeout)
        return out, err, False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate(timeout=10)
        return out, err, True


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so no emulator outlives a killed harness."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn(args, **kw) -> subprocess.Popen:
    """subprocess.Popen in a session of its own (the group killers above then work), ended
    by the kernel if this process dies (die_with_parent). Call it from a thread that
    outlives the child: PR_SET_PDEATHSIG fires when the creating thread ends."""
    return subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent, **kw)
