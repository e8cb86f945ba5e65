"""Registers the workbench in GDB: the fj commands, the fj-* settings, the disassembler,
the unwinder, the per-stop cache's event hooks and the context panel's stop hook; in a
replay (make replay) the reverse-* commands.

:func:`install` is idempotent: sourcing gdb/farjump.py twice registers nothing twice.
"""
from __future__ import annotations

import gdb

from .commands import COMMANDS
from .commands.base import FjPrefix
from .integrations import backtrace, disasm, panel, params, reverse, unwind
from .target import breakpoints
from .target.run import add_to_hook
from .target.state import STATE

_installed = False


class NoteStepi(gdb.Command):
    """farjump's hook-stepi runs this: the per-stop cache learns that the next resume is a
stepi (docs/gdb.md, "The per-stop cache"). Nothing to type by hand."""

    def __init__(self):
        super().__init__("maintenance fj-note-stepi", gdb.COMMAND_MAINTENANCE)

    def invoke(self, arg, from_tty):
        STATE.note_stepi()


def install_stepi_hook() -> bool:
    """hook-stepi tells the per-stop cache that the next resume is a stepi, unless the
    user has a hook-stepi (then the cache never takes its fast path after a stepi:
    correct, only slower). True if farjump's line is in place."""
    NoteStepi()
    return add_to_hook("stepi", "maintenance fj-note-stepi")


def install() -> bool:
    """Register everything once. Returns False if it was already installed."""
    global _installed
    if _installed:
        return False
    FjPrefix()
    for cls in COMMANDS:
        cls()
    params.TimeoutParam()
    params.AlwaysRefreshParam()
    context = params.ContextParam()
    disasm.install()
    unwind.install()
    backtrace.install()          # after the unwinder: bt ends quietly at its outermost frames
    STATE.connect_events()       # first: the cache is dropped before anything sees the stop
    breakpoints.connect_events()
    install_stepi_hook()
    gdb.events.stop.connect(panel.on_stop_panel(context))
    reverse.install()            # only in a replay (make replay sets $FJ_REPLAY)
    _installed = True
    return True
