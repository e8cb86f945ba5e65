"""fj idt: the interrupt descriptor table."""
from __future__ import annotations

from ..decoders.idt import decode_idt
from ..render.idt import format_idt
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjIdt(FjCommand):
    """Interrupt descriptor table from IDTR: gates with selector:offset, type, IST, DPL, symbol.

Usage: fj idt [--all] [--json]
IDTR comes from QEMU; the table is read at its linear address. In long mode gates are
16 bytes (with IST). In real mode IDTR locates the IVT: use 'fj ivt'. Empty entries
are hidden unless --all.
JSON: {"base", "limit", "long_mode", "gates": [{"vector", "selector", "offset",
"gate_type", "bits", "ist", "dpl", "present", "symbol", ...}]}"""

    name = "idt"

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true")

    def run(self, opts, from_tty):
        snap = STATE.snapshot()
        q, m = snap.regs, snap.mode
        if m.mode == "real":
            raise FjError(f"real mode: IDTR (base 0x{q.idt_base:x}, limit 0x{q.idt_limit:x})"
                          " locates the IVT; use 'fj ivt'")
        if q.idt_limit == 0:
            raise FjError(f"IDTR limit 0 (base 0x{q.idt_base:x}): no IDT loaded; any "
                          "interrupt or exception now shuts the CPU down")
        long_mode = snap.long_mode
        data = STATE.read_table("IDT", q.idt_base, q.idt_limit + 1)
        table = decode_idt(data, q.idt_base, q.idt_limit, long_mode)
        if opts.json:
            doc = table.to_dict()
            doc["long_mode"] = long_mode
            for g in doc["gates"]:
                g["symbol"] = STATE.symbolize(g["offset"]) \
                    if g["gate_type"] in ("interrupt", "trap", "call") else None
            emit_json(doc)
            return
        ivt = q.idt_base == 0 and q.idt_limit in (0x3FF, 0xFFFF)
        if ivt:
            out(f"note: IDTR still holds the real-mode IVT (base 0, limit 0x{q.idt_limit:x});"
                " no IDT has been loaded, so these are IVT far pointers read as gates")
        bad = sum(1 for g in table.gates if g.note)
        if bad and not ivt:
            out(f"note: {bad} of {len(table.gates)} gates are malformed (!! below): IDTR may "
                "not point at an IDT, or the table was overwritten")
        out(format_idt(table, symbolize=STATE.symbolize, show_empty=opts.all))
