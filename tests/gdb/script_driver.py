"""Runs inside GDB (gdb -nx -batch -x script_driver.py): runs a list of commands and
records each one's output (or error), in order, as JSON.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN (JSON: root, port, "setup": commands before
'target remote', "commands": [[key, command], ...]), $FJ_OUT ({"key": {"out"|"error"}}).
Used for guests that are not farjump's own (tests/gdb/test_guest_modes.py, ...).
"""
import json
import os

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))
R = {"_order": []}


def run(cmd):
    try:
        return {"out": gdb.execute(cmd, to_string=True)}
    except gdb.error as e:
        return {"error": str(e)}


for cmd in CFG.get("setup", []):
    R.setdefault("_setup", []).append(run(cmd))
R["_connect"] = run(f"target remote 127.0.0.1:{CFG['port']}")
for key, cmd in CFG["commands"]:
    R[key] = run(cmd)
    R["_order"].append(key)
    if cmd.endswith("--json") and "out" in R[key]:
        try:
            R[key]["json"] = json.loads(R[key]["out"])
        except ValueError as e:
            R[key]["json_error"] = str(e)

with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
