"""fj reset: reset the guest and refresh GDB's registers."""
from __future__ import annotations

import gdb

from ..decoders.timeline import BOOTINFO_ADDR, BOOTINFO_SIZE
from ..render.cpu import csip_text, stop_doc
from ..target.errors import FjError
from ..target.run import reset_guest
from ..target.state import STATE
from .base import FjCommand, emit_json, out
from .context import PANEL


def reset() -> None:
    """Reset the guest; the next context panel starts afresh, and fj timeline knows the
    boot_info in memory (which a reset does not clear) is the previous boot's."""
    try:
        before = STATE.read_phys(BOOTINFO_ADDR, BOOTINFO_SIZE)
    except FjError:
        before = None
    reset_guest()
    STATE.boot_info_before_reset = before
    PANEL.last = {}


def refresh_tui() -> None:
    """GDB announces no stop after a reset, so the TUI's source and asm windows would keep
    showing the old place ('frame 0' does not move them: the selected frame did not
    change in GDB's eyes). Re-enabling the TUI redraws them at the CPU's new $pc."""
    try:
        gdb.execute("info win", to_string=True)      # gdb.error: the TUI is not active
    except gdb.error:
        return
    try:
        gdb.execute("tui disable")
        gdb.execute("tui enable")
    except gdb.error:
        pass


class FjReset(FjCommand):
    """Reset the guest (QEMU 'system_reset') and refresh GDB's registers.

Usage: fj reset [--json]
The CPU restarts at f000:fff0 and stays stopped. Use this rather than a bare
'monitor system_reset', after which GDB would keep showing stale registers."""

    name = "reset"
    cpu_header = False      # resets every CPU

    def run(self, opts, from_tty):
        reset()
        refresh_tui()
        snap = STATE.snapshot()
        if opts.json:
            emit_json(stop_doc(snap, "reset", STATE.symbolize(snap.linear_pc)))
        else:
            out(f"reset: {csip_text(snap)} (linear 0x{snap.linear_pc:x}), {snap.mode.mode} mode")
