"""Registers the workbench in GDB: the fj commands, the fj-* settings, the disassembler,
the unwinder, the per-stop cache's event hooks and the context panel's stop hook; in a
replay (make replay) the reverse-* commands.

:func:`install` is idempotent: sourcing gdb/farjump.py twice registers nothing twice.
"""
from __future__ import annotations

import gdb

from .commands import COMMANDS
from .commands.base import FjPrefix
from .integrations import disasm, panel, params, reverse, unwind
from .target import breakpoints
from .target.state import STATE

_installed = False


def install() -> bool:
    """Register everything once. Returns False if it was already installed."""
    global _installed
    if _installed:
        return False
    FjPrefix()
    for cls in COMMANDS:
        cls()
    params.TimeoutParam()
    context = params.ContextParam()
    disasm.install()
    unwind.install()
    STATE.connect_events()       # first: the cache is dropped before anything sees the stop
    breakpoints.connect_events()
    gdb.events.stop.connect(panel.on_stop_panel(context))
    reverse.install()            # only in a replay (make replay sets $FJ_REPLAY)
    _installed = True
    return True
