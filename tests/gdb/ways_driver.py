"""Run inside GDB by tests/gdb/test_gdb_ways.py, after the boot path's entry commands
(fjqemu.bootpaths.gdb_entry_commands: symbols, a temporary breakpoint at the first
instruction of farjump's code on that path, continue).

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN may give "png". $FJ_OUT gets where GDB stopped
first ("function", "file", "line", "pc", "mode": fj mode --json), then, after the kernel
printed Hello World! (timeline_hello), "pt": fj pt --json, and with "png": "fb" (fj fb --png
PNG --json) and what fj vga says ("vga", or "vga_error" when it refuses).
"""
import json
import os

import gdb

CFG = json.load(open(os.environ["FJ_IN"]))

frame = gdb.selected_frame()
sal = frame.find_sal()
first = {
    "function": frame.name(),
    "file": sal.symtab.filename if sal.symtab else None,
    "line": sal.line,
    "pc": int(frame.pc()),
    "mode": json.loads(gdb.execute("fj mode --json", to_string=True)),
}
gdb.execute("tbreak timeline_hello")
gdb.execute("continue", to_string=True)
result = {"first": first, "pt": json.loads(gdb.execute("fj pt --json", to_string=True))}
if "png" in CFG:
    # The screen is final once timeline_print has returned (the kernel only halts after it),
    # so the picture can be compared with QEMU's screendump taken after the halt.
    gdb.execute("tbreak timeline_print")
    gdb.execute("continue", to_string=True)
    gdb.execute("finish", to_string=True)
    result["fb"] = json.loads(gdb.execute(f"fj fb --png {CFG['png']} --json", to_string=True))
    try:
        result["vga"] = gdb.execute("fj vga --no-color", to_string=True)
    except gdb.error as e:
        result["vga_error"] = str(e)
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(result, f)
