"""fj mode: the CPU operating mode."""
from __future__ import annotations

from ..render.cpu import mode_doc, mode_lines
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjMode(FjCommand):
    """CPU operating mode: real, protected (16/32-bit code) or long (64-bit/compatibility).

Usage: fj mode [--json]
Decided from CR0.PE, EFER.LMA and the CS descriptor cache (D/L bits) as QEMU reports
them, never from the selector value. Also shows paging (CR0.PG), PAE, PSE, WP, LME/LMA,
NXE, A20 and CPL.
JSON: {"mode": "real"|"protected"|"long"|"virtual-8086", "bits": 16|32|64,
"submode", "paging", "pae", "nxe", "lme", "lma", "a20", "cpl", "cr0", "cr4", "efer", ...}"""

    name = "mode"

    def run(self, opts, from_tty):
        snap = STATE.snapshot()
        if opts.json:
            emit_json(mode_doc(snap))
            return
        for line in mode_lines(snap):
            out(line)
