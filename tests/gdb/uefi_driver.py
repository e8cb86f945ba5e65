"""Run inside GDB by tests/test_ways.py on the UEFI boot, stopped at timeline_hello (the
kernel wrote Hello World!): what fj pt, fj fb and fj vga say there.

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN gives "png" (where fj fb writes its PNG); $FJ_OUT
gets "pt" (fj pt --json), "fb" (fj fb --png PNG --json) and "vga_error" (what fj vga says).
"""
import json
import os

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))
result = {"pt": json.loads(gdb.execute("fj pt --json", to_string=True)),
          "fb": json.loads(gdb.execute(f"fj fb --png {CFG['png']} --json", to_string=True))}
try:
    result["vga"] = gdb.execute("fj vga --no-color", to_string=True)
except gdb.error as e:
    result["vga_error"] = str(e)
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(result, f)
