"""GDB settings of the workbench that belong to no one command: fj-timeout (fj tour) and
fj-context (the stop-event panel). The disassembler's own settings (fj-show-csip,
fj-disassembler) are in disasm.py."""
from __future__ import annotations

import gdb

from ..target.state import STATE


class TimeoutParam(gdb.Parameter):
    """Seconds 'fj tour' waits for each stop before interrupting the guest (default 10).

0 means wait forever."""

    set_doc = "Set how long fj tour waits for each transition."
    show_doc = "Show how long fj tour waits for each transition."

    def __init__(self):
        super().__init__("fj-timeout", gdb.COMMAND_RUNNING, gdb.PARAM_ZUINTEGER)
        self.value = 10

    def get_show_string(self, svalue):
        return f"fj tour waits {svalue} s for each stop (0 = forever)."


class ContextParam(gdb.Parameter):
    """Print the fj context panel (mode, CS:IP, next instructions, changed control
registers) every time the guest stops. Default off."""

    set_doc = "Set whether the fj context panel is printed on every stop."
    show_doc = "Show whether the fj context panel is printed on every stop."

    def __init__(self):
        super().__init__("fj-context", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_set_string(self):
        # the panel follows every stop: the per-stop cache reads GDB's registers for it
        # while handling the stop (fjgdb.target.fastpath, STOP_REGISTERS)
        STATE.prefetch_at_stop = bool(self.value)
        return ""

    def get_show_string(self, svalue):
        return f"The fj context panel on every stop is {svalue}."


class AlwaysRefreshParam(gdb.Parameter):
    """Ask QEMU for the whole CPU state at every stop (default off).

Off: after a stepi whose instruction cannot change the mode or hidden CPU state, the
per-stop cache takes the new registers from GDB and keeps the descriptor caches, GDTR/IDTR
and A20 it read before (docs/gdb.md). On: one 'monitor info registers' at every stop that
needs them, as the tests' reference path."""

    set_doc = "Set whether fj asks QEMU for the CPU state at every stop."
    show_doc = "Show whether fj asks QEMU for the CPU state at every stop."

    def __init__(self):
        super().__init__("fj-always-refresh", gdb.COMMAND_MAINTENANCE, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_set_string(self):
        STATE.always_refresh = bool(self.value)
        STATE.invalidate()
        return ""

    def get_show_string(self, svalue):
        return f"fj asks QEMU for the CPU state at every stop: {svalue}."
