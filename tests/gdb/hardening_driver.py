"""Runs inside GDB (gdb -nx -batch -x hardening_driver.py) against a QEMU started by
tests/gdb/test_gdb_hardening.py: what a careless user does (issue 15, GDB side), recorded
as JSON for the test to judge.

Environment: FJ_ROOT (repository), FJ_OUT (result file), FJ_QEMU_PID (QEMU, killed at
the end to leave GDB with a connection to a dead machine).
"""
import json
import os
import signal
import threading
import time

import gdb

R = {}


def run(cmd, tty=False):
    try:
        return {"out": gdb.execute(cmd, from_tty=tty, to_string=True)}
    except gdb.error as e:
        return {"error": str(e)}


def ctrl_c_after(seconds):
    """What Ctrl-C at the terminal does: SIGINT to GDB."""
    t = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    t.daemon = True
    t.start()
    return t


gdb.execute("set pagination off")
gdb.execute("set python print-stack full")    # an escaped exception would show a Traceback

# ---- fj tour: bad timeouts, then Ctrl-C while it waits forever (item 9) ----------------
R["tour_negative"] = run("fj tour --timeout -1")
R["tour_nan"] = run("fj tour --timeout nan")
R["set_timeout_negative"] = run("set fj-timeout -1")
gdb.execute("tbreak kernel_main")
gdb.execute("continue")
gdb.execute("stepi", to_string=True)          # past every stop: the tour waits for nothing
ctrl_c_after(1.0)
R["tour_ctrl_c"] = run("fj tour --timeout 0", tty=True)
R["mode_after_ctrl_c"] = run("fj mode")

# ---- last: QEMU dies under a stopped GDB (item 10) -----------------------------------------
R["seg_before_kill"] = run("fj seg")              # fills the per-stop cache
os.kill(int(os.environ["FJ_QEMU_PID"]), signal.SIGKILL)
for _ in range(100):                              # until the process is gone
    try:
        os.kill(int(os.environ["FJ_QEMU_PID"]), 0)
        time.sleep(0.05)
    except OSError:
        break
R["mode_dead"] = run("fj mode")
R["seg_dead"] = run("fj seg")
R["pt_dead"] = run("fj pt")
R["vga_dead"] = run("fj vga")

with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f, indent=1)
