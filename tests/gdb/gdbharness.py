"""Helpers shared by tests/gdb: paths, a resettable QemuVM, batch GDB runs."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from qemuvm import QemuVM  # noqa: E402

GDB = os.environ.get("GDB", "gdb")


def ResettableVM(image, **kwargs):
    """A QemuVM where 'monitor system_reset' (fj tour --reset) resets the guest instead
    of ending QEMU."""
    return QemuVM(image, reboot=True, **kwargs)


def gdb_args(*cmds, script=None, connect_port=None, symbols=True):
    args = [GDB, "-nx", "-batch", "-ex", f"source {ROOT / 'gdb' / 'farjump.py'}"]
    if symbols:
        args += ["-ex", f"cd {ROOT}", "-ex", "set confirm off",
                 "-ex", "file build/kernel.elf",
                 "-ex", "add-symbol-file build/stage1.elf",
                 "-ex", "add-symbol-file build/stage2.elf"]
    if connect_port:
        args += ["-ex", f"target remote 127.0.0.1:{connect_port}"]
    for c in cmds:
        args += ["-ex", c]
    if script:
        args += ["-x", str(script)]
    return args


def run_gdb(args, timeout=45, env=None):
    p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)   # GDB and anything it started
        out, err = p.communicate(timeout=10)
        pytest.fail(f"GDB did not finish in {timeout} s:\n{out[-3000:]}\n{err[-3000:]}")
    return p.returncode, out, err
