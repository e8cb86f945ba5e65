"""farjump GDB workbench: `source gdb/farjump.py` in any GDB (13+, with Python).

Finds its package (gdb/fjgdb) beside this file, registers the `fj` commands, the
fj-* settings, the mode-aware disassembler and the 16/32-bit frame unwinder.
Safe to source twice. See docs/gdb.md.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
for _d in (os.path.join(os.path.dirname(_here), "build", "gen"), _here):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import fjgdb.commands  # noqa: E402

if fjgdb.commands.install():
    print("farjump: 'fj' commands loaded ('help fj'); mode-aware disassembler active.")
