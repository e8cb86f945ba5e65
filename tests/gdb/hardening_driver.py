"""Runs inside GDB (gdb -nx -batch -x hardening_driver.py) against a QEMU started by
tests/gdb/test_gdb_hardening.py: what a careless user does (issue 15, GDB side), recorded
as JSON for the test to judge.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port, qemu_pid: QEMU, killed at the
end to leave GDB with a connection to a dead machine), $FJ_OUT (result file).
"""
import json
import os
import signal
import threading
import time

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))
QEMU_PID = int(CFG["qemu_pid"])
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

# ---- arguments that used to give misleading answers (item 11), at the reset vector ---------
for key, cmd in {"pt_zz": "fj pt 0xzz", "pt_float": "fj pt 1.5", "ivt_minus": "fj ivt -1",
                 "ivt_float": "fj ivt 1.5", "ctx_0": "fj context -n 0",
                 "ctx_minus": "fj context -n -5", "ctx_big": "fj context -n 100000",
                 "ctx_2": "fj context -n 2", "tl_far": "fj timeline 0x800000000000",
                 "tl_beyond": "fj timeline 0x7ffff00", "tl_wrong": "fj timeline 0x100",
                 "ivt_16": "fj ivt 16"}.items():
    R[key] = run(cmd)

# ---- fj timeline after fj reset (item 11) ----------------------------------------------------
gdb.execute("tbreak kernel_main")
gdb.execute("continue")
R["tl_boot1"] = run("fj timeline")
R["reset"] = run("fj reset")
R["tl_after_reset"] = run("fj timeline")
R["tl_after_reset_json"] = run("fj timeline --json")

# ---- fj tour: bad timeouts, then Ctrl-C while it waits forever (item 9) ----------------
R["tour_negative"] = run("fj tour --timeout -1")
R["tour_nan"] = run("fj tour --timeout nan")
R["set_timeout_negative"] = run("set fj-timeout -1")
gdb.execute("tbreak kernel_main")
gdb.execute("continue")
R["tl_boot2"] = run("fj timeline")
gdb.execute("stepi", to_string=True)          # past every stop: the tour waits for nothing
ctrl_c_after(1.0)
R["tour_ctrl_c"] = run("fj tour --timeout 0", tty=True)
R["mode_after_ctrl_c"] = run("fj mode")

# ---- last: QEMU dies under a stopped GDB (item 10) -----------------------------------------
R["seg_before_kill"] = run("fj seg")              # fills the per-stop cache
R["pt_before_kill"] = run("fj pt")                # fills fj pt's memo (/proc/PID/mem open)
os.kill(QEMU_PID, signal.SIGKILL)
for _ in range(100):                              # until the process is gone
    try:
        os.kill(QEMU_PID, 0)
        time.sleep(0.05)
    except OSError:
        break
R["pt_dead"] = run("fj pt")                       # first: its memo would answer unasked
R["mode_dead"] = run("fj mode")
R["seg_dead"] = run("fj seg")
R["vga_dead"] = run("fj vga")

with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f, indent=1)
