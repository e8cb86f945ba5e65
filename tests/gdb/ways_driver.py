"""Run inside GDB by tests/gdb/test_gdb_ways.py, after the boot path's entry commands
(fjqemu.bootpaths.gdb_entry_commands: symbols, a temporary breakpoint at the first
instruction of farjump's code on that path, continue).

Protocol (qemu/fjqemu/gdbrun.py): $FJ_IN gives nothing beyond the defaults. $FJ_OUT gets
where GDB stopped first ("function", "file", "line", "pc", "mode": fj mode --json), then,
after the kernel printed Hello World! (timeline_hello), "pt": fj pt --json.
"""
import json
import os

import gdb

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
pt = json.loads(gdb.execute("fj pt --json", to_string=True))
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump({"first": first, "pt": pt}, f)
