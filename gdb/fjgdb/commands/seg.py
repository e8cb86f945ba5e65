"""fj seg: segment registers with their hidden descriptor caches."""
from __future__ import annotations

from ..render.cpu import csip_text
from ..render.descriptors import format_segments
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjSeg(FjCommand):
    """Segment registers with their hidden descriptor caches, and CS:IP -> linear PC.

Usage: fj seg [--json]
Selector, base, limit and attributes of ES CS SS DS FS GS LDT TR as QEMU's descriptor
cache holds them (what the CPU really uses). In real mode base = selector*16 unless
the cache says otherwise: the reset state (CS base 0xffff0000) and "unreal" mode (a base
loaded in protected mode) are pointed out.
JSON: {"cs": {"selector", "base", "limit", "flags", "type", "dpl", "present", "long",
"db", ...}, "ds": {...}, ..., "pc": IP/EIP/RIP, "linear_pc": int, "mode": str}"""

    name = "seg"

    def run(self, opts, from_tty):
        snap = STATE.snapshot()
        q, m = snap.regs, snap.mode
        real = snap.real
        doc = {}
        notes = []
        for name, seg in q.segments.items():
            d = seg.to_dict()
            if real and name not in ("ldt", "tr"):
                d["real_mode_base"] = seg.selector * 16
                if name == "cs" and seg.selector == 0xF000 and seg.base == 0xFFFF0000:
                    # SDM Vol 3A §9.1.4: the reset value of the CS cache, kept until the
                    # first far jump or call reloads CS.
                    notes.append("CS: base 0xffff0000 is the reset state (SDM Vol 3A §9.1.4): "
                                 "until the first far jump, code comes from 0xffff0000 + IP, "
                                 "so the first fetch is at 0xfffffff0")
                elif seg.base != seg.selector * 16:
                    notes.append(f"{name.upper()}: cached base 0x{seg.base:x} != selector*16 "
                                 f"0x{seg.selector * 16:x}: the cache keeps a base loaded in "
                                 f"protected mode ('unreal' mode)")
            doc[name] = d
        doc.update(pc=q.rip, linear_pc=snap.linear_pc, mode=m.mode, bits=m.bits)
        if real:
            doc["csip"] = f"{q.cs.selector:04x}:{q.rip & 0xFFFF:04x}"
        if opts.json:
            emit_json(doc)
            return
        out(format_segments(q.segments))
        for n in notes:
            out("note: " + n)
        sym = STATE.symbolize(snap.linear_pc)
        out(f"{csip_text(snap)} -> linear PC 0x{snap.linear_pc:x}"
            + (f" <{sym}>" if sym else ""))
