"""fj break / fj tbreak: breakpoints by SEG:OFF or linear address (right when CS.base != 0)."""
from __future__ import annotations

from ..decoders.realmode import linear, parse_segoff
from ..target.breakpoints import SegBreakpoint, quietly
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


def plan(where: str, snap) -> tuple[int | None, int, int]:
    """(segment or None, offset GDB will see as the PC, linear address) for *where*."""
    segoff = parse_segoff(where)
    if segoff is not None:
        seg, off = segoff
        return seg, off, linear(seg, off)
    lin = STATE.eval_address(where)
    if snap is not None and snap.real and snap.cs.base <= lin <= snap.cs.base + 0xFFFF:
        return snap.cs.selector, lin - snap.cs.base, lin        # the code running now
    if lin <= 0xFFFF or lin > 0xFFFFF:
        return None, lin, lin       # CS=0 in real mode, or a flat protected/long address
    return lin >> 4, lin & 0xF, lin  # real mode above 64 KiB: the usual SEG:0 form


class FjBreak(FjCommand):
    """Breakpoint at SEG:OFF or at a linear address, announced with both.

Usage: fj break SEG:OFF | ADDR [--json]
SEG:OFF is hexadecimal, as the disassembler's '; CS:IP' comments print it (1020:006c,
f000:e05b); ADDR is any GDB expression for a linear address (0x10200, &setup_start).
In real mode QEMU breaks on the linear address CS*16+IP but reports the PC as IP alone,
so plain 'break *0x10200' stops as a bare SIGTRAP at 0x0 and cannot continue; an fj
breakpoint stops as "Breakpoint N, 1020:0000 (linear 0x10200) <symbol>" and continues
normally. A linear ADDR between 64 KiB and 1 MiB is expected as ADDR>>4:ADDR&15 unless
the current CS covers it; reached under another CS:IP it is still named (after GDB's
SIGTRAP line). 'info breakpoints' shows it at the offset; delete/disable as usual.
JSON: {"number", "segment", "offset", "linear", "temporary"}"""

    name = "break"
    temporary = False

    def add_arguments(self, parser):
        parser.add_argument("where", nargs="+")

    def run(self, opts, from_tty):
        STATE.require_connected()
        where = " ".join(opts.where)
        try:
            snap = STATE.snapshot()
        except FjError:
            snap = None
        seg, off, lin = plan(where, snap)
        bp = quietly(lambda: SegBreakpoint(seg, off, lin, temporary=self.temporary))
        if opts.json:
            emit_json({"number": bp.number, "segment": seg, "offset": off, "linear": lin,
                       "temporary": self.temporary})
            return
        sym = STATE.symbolize(lin)
        kind = "Temporary breakpoint" if self.temporary else "Breakpoint"
        out(f"{kind} {bp.number} at {bp.describe()}{f' <{sym}>' if sym else ''}")


class FjTbreak(FjBreak):
    """Temporary breakpoint at SEG:OFF or at a linear address (deleted when hit).

Usage: fj tbreak SEG:OFF | ADDR [--json]
As 'fj break' (see 'help fj break'), but the breakpoint is deleted at its first hit.
JSON: {"number", "segment", "offset", "linear", "temporary"}"""

    name = "tbreak"
    temporary = True
