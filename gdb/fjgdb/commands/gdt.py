"""fj gdt: the global descriptor table."""
from __future__ import annotations

from ..decoders.descriptors import decode_gdt
from ..decoders.gdtcheck import selector_mismatches
from ..render.descriptors import format_gdt
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjGdt(FjCommand):
    """Global descriptor table from GDTR, every entry decoded.

Usage: fj gdt [--json]
GDTR base/limit come from QEMU (GDB has no GDTR register); the table is read at its
linear address. In long mode (EFER.LMA) TSS/LDT/call-gate descriptors are 16 bytes.
Entries loaded in a segment register are marked; a warning says when a loaded selector's
cached descriptor (QEMU's view) disagrees with its entry in this table (the table changed,
or GDTR points elsewhere). Entry 0 is never read by the CPU: whatever it holds is fine.
JSON: {"base", "limit", "long_mode", "entries": [{"index", "selector", "type":
"null"|"code"|"data"|"system", "base", "limit", "dpl", "present", "long", "db",
"granularity", "type_name", "loaded_in": [...], ...}], "mismatches": [...]}"""

    name = "gdt"

    def run(self, opts, from_tty):
        snap = STATE.snapshot()
        q = snap.regs
        real = snap.mode.mode == "real"
        reset_value = q.gdt_base == 0 and q.gdt_limit == 0xFFFF
        if real and reset_value:
            raise FjError("GDTR limit 0xffff at base 0x0 is the reset value: no GDT loaded "
                          "yet (real mode)")
        if q.gdt_limit == 0:
            raise FjError(f"GDTR limit 0 (base 0x{q.gdt_base:x}): no GDT loaded yet"
                          + (" (real mode)" if real else
                             "; loading any selector but 0 faults"))
        long_mode = snap.long_mode
        data = STATE.read_table("GDT", q.gdt_base, q.gdt_limit + 1)
        table = decode_gdt(data, q.gdt_base, q.gdt_limit, long_mode)
        loaded = {}
        if not real:
            for name, seg in q.segments.items():
                if seg.selector >> 3 and not seg.selector & 4:
                    loaded.setdefault(seg.selector >> 3, []).append(name)
        mismatches = [] if snap.real else \
            selector_mismatches(table, q.segments, long_mode)
        if opts.json:
            doc = table.to_dict()
            doc["long_mode"] = long_mode
            doc["mismatches"] = mismatches
            for e in doc["entries"]:
                e["loaded_in"] = loaded.get(e["index"], [])
            emit_json(doc)
            return
        if reset_value:
            out("note: GDTR still holds its reset value (base 0, limit 0xffff): no GDT "
                "was loaded before CR0.PE was set")
        elif real:
            out("note: real mode: the CPU does not use this GDT until CR0.PE=1")
        for line in mismatches:
            out(f"warning: {line}")
        out(format_gdt(table))
        if long_mode:
            out("(EFER.LMA=1: TSS/LDT/call-gate descriptors are 16 bytes)")
        if loaded:
            out("loaded: " + ", ".join(f"{'/'.join(s.upper() for s in v)}=0x{k * 8:02x}"
                                      for k, v in sorted(loaded.items())))
