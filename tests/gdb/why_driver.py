"""Runs inside GDB against a QEMU started like make debug's (stop_on_fault, int_log, a QMP
socket for GDB) by tests/gdb/test_gdb_why.py: continue into the image's triple fault, then
fj why, bt, fj mode there; fj reset; continue into the same triple fault again.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port, "remove": symbol files to drop,
"add": symbol files to load instead, "file": the kernel ELF instead of build/kernel.elf,
for a test image's own stages), $FJ_OUT (result).
"""
import json
import os

import gdb

from fjgdb.target.run import continue_with_timeout

CFG = json.load(open(os.environ["FJ_IN"]))
R = {}


def run(cmd):
    try:
        return gdb.execute(cmd, to_string=True)
    except gdb.error as e:
        return f"ERROR: {e}"


gdb.execute("set pagination off")
gdb.execute("set confirm off")
if CFG.get("file"):
    gdb.execute(f"file {CFG['file']}", to_string=True)
for f in CFG.get("remove", []):
    gdb.execute(f"remove-symbol-file {f}", to_string=True)
for f in CFG.get("add", []):
    gdb.execute(f"add-symbol-file {f}", to_string=True)
R["first_stop"] = continue_with_timeout(40)
R["status"] = run("monitor info status")
R["pc"] = int(gdb.parse_and_eval("$pc")) & 0xFFFFFFFFFFFFFFFF
R["why_json"] = run("fj why --json")
R["why"] = run("fj why")
R["bt"] = run("bt")
R["mode"] = run("fj mode")
R["reset"] = run("fj reset")
R["status_after_reset"] = run("monitor info status")
R["pc_after_reset"] = int(gdb.parse_and_eval("$pc"))
R["why_after_reset"] = run("fj why")
R["second_stop"] = continue_with_timeout(40)
R["status_again"] = run("monitor info status")
R["pc_again"] = int(gdb.parse_and_eval("$pc")) & 0xFFFFFFFFFFFFFFFF
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
