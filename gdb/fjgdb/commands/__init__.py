"""GDB layer of farjump: commands, parameters, event hooks, disassembler, unwinder.

Everything here imports ``gdb``; the x86 knowledge lives in :mod:`fjgdb.decoders`.
:func:`install` is idempotent: sourcing gdb/farjump.py twice registers nothing twice.
"""
from __future__ import annotations

import gdb

_installed = False


def install() -> bool:
    """Register everything once. Returns False if it was already installed."""
    global _installed
    if _installed:
        return False
    from . import cmds, disasm, flow, unwind
    from .base import FjPrefix
    from .state import STATE

    FjPrefix()
    for cls in (cmds.FjMode, cmds.FjSeg, cmds.FjIvt, cmds.FjGdt, cmds.FjIdt, cmds.FjPt,
                cmds.FjVga, flow.FjContext, flow.FjTransitions, flow.FjTour, flow.FjReset):
        cls()
    from . import timeline; timeline.FjTimeline()   # noqa: E702 - fj timeline (scripts/bench owner)
    flow.TimeoutParam()
    context = flow.ContextParam()
    disasm.install()
    unwind.install()

    # The cache is dropped before anything else sees the stop.
    gdb.events.cont.connect(STATE.on_cont)
    gdb.events.stop.connect(STATE.on_stop)
    gdb.events.register_changed.connect(STATE.invalidate)
    gdb.events.memory_changed.connect(STATE.invalidate)
    gdb.events.inferior_call.connect(STATE.invalidate)
    gdb.events.exited.connect(STATE.forget_connection)
    gdb.events.new_objfile.connect(STATE.forget_symbols)
    gdb.events.clear_objfiles.connect(STATE.forget_symbols)
    if hasattr(gdb.events, "connection_removed"):
        gdb.events.connection_removed.connect(STATE.forget_connection)
    gdb.events.stop.connect(flow.on_stop_panel(context))
    _installed = True
    return True
