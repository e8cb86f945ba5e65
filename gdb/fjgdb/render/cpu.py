"""Text and JSON documents about the CPU at a stop (fj mode, seg, context, tour, reset).

Takes :class:`fjgdb.decoders.snapshot.CpuSnapshot` values (plain data); reads nothing.
"""
from __future__ import annotations

from ..decoders.snapshot import WATCHED, CpuSnapshot

CR0_BITS = {0: "PE", 1: "MP", 2: "EM", 3: "TS", 4: "ET", 5: "NE", 16: "WP", 18: "AM",
            29: "NW", 30: "CD", 31: "PG"}
CR4_BITS = {0: "VME", 1: "PVI", 2: "TSD", 3: "DE", 4: "PSE", 5: "PAE", 6: "MCE",
            7: "PGE", 8: "PCE", 9: "OSFXSR", 10: "OSXMMEXCPT", 11: "UMIP", 12: "LA57",
            13: "VMXE", 16: "FSGSBASE", 17: "PCIDE", 18: "OSXSAVE", 20: "SMEP",
            21: "SMAP", 22: "PKE"}
EFER_BITS = {0: "SCE", 8: "LME", 10: "LMA", 11: "NXE", 12: "SVME", 14: "FFXSR"}
BIT_NAMES = {"cr0": CR0_BITS, "cr4": CR4_BITS, "efer": EFER_BITS}


def onoff(v) -> str:
    return "on" if v else "off"


def bit_change(reg: str, old: int, new: int) -> str:
    """" (+PE -PG)" for the named bits of *reg* that differ; "" if none or unnamed."""
    names = BIT_NAMES.get(reg)
    if not names:
        return ""
    diff = old ^ new
    parts = []
    for bit in range(64):
        if diff >> bit & 1:
            parts.append(("+" if new >> bit & 1 else "-") + names.get(bit, f"bit{bit}"))
    return f" ({' '.join(parts)})" if parts else ""


def csip_text(s: CpuSnapshot) -> str:
    m = s.mode
    if m.bits == 64:
        return f"CS={s.cs.selector:04x} RIP=0x{s.pc:x}"
    if m.mode in ("real", "virtual-8086"):
        return f"CS:IP {s.cs.selector:04x}:{s.pc & 0xFFFF:04x}"
    return f"CS:EIP {s.cs.selector:04x}:{s.pc & 0xFFFFFFFF:08x}"


def format_changes(ch: dict) -> str:
    parts = []
    for key, (o, n) in ch.items():
        if key in WATCHED:
            parts.append(f"{key.upper()} 0x{o:x} -> 0x{n:x}{bit_change(key, o, n)}")
        elif key in ("gdtr", "idtr"):
            parts.append(f"{key.upper()} 0x{o[0]:x}/0x{o[1]:x} -> 0x{n[0]:x}/0x{n[1]:x}")
        elif key == "cs":
            parts.append(f"CS 0x{o:04x} -> 0x{n:04x}")
        elif key == "paging":
            parts.append(f"paging {'on' if o else 'off'} -> {'on' if n else 'off'}")
        else:
            parts.append(f"{key} {o} -> {n}")
    return "; ".join(parts) if parts else "nothing"


# ---- fj mode -------------------------------------------------------------------------------
def mode_doc(s: CpuSnapshot) -> dict:
    doc = s.mode.to_dict()
    doc.update(a20=s.a20, cpl=s.cpl, halted=s.halted, cr0=s.cr0, cr3=s.cr3, cr4=s.cr4,
               efer=s.efer, cs_selector=s.cs.selector, linear_pc=s.linear_pc)
    return doc


def mode_lines(s: CpuSnapshot) -> list[str]:
    m = s.mode
    return [
        f"mode     {m}",
        f"paging   {onoff(m.paging)}   PAE {onoff(m.pae)}   PSE {onoff(m.pse)}   "
        f"WP {onoff(m.wp)}   LA57 {onoff(m.la57)}",
        f"EFER     LME {onoff(m.lme)}   LMA {onoff(m.lma)}   NXE {onoff(m.nxe)}",
        f"A20      {onoff(s.a20)}   CPL {s.cpl}   {'halted' if s.halted else 'running code'}",
        f"regs     CR0=0x{s.cr0:x} CR3=0x{s.cr3:x} CR4=0x{s.cr4:x} EFER=0x{s.efer:x}",
        f"pc       {csip_text(s)} -> linear 0x{s.linear_pc:x}",
    ]


# ---- a stop of the tour, fj reset ----------------------------------------------------------
def stop_doc(s: CpuSnapshot, name: str | None, symbol: str | None) -> dict:
    """The JSON document of one stop (fj tour --json, fj reset --json)."""
    m = s.mode
    return {
        "stop": name, "reached": True, "pc": s.pc, "linear_pc": s.linear_pc,
        "symbol": symbol,
        "mode": m.mode, "bits": m.bits, "submode": m.submode,
        "paging": m.paging, "pae": m.pae, "nxe": m.nxe, "lme": m.lme, "lma": m.lma,
        "a20": s.a20, "cpl": s.cpl, "halted": s.halted,
        "cs": s.cs.selector, "csip": csip_text(s),
        "cr0": s.cr0, "cr3": s.cr3, "cr4": s.cr4, "efer": s.efer,
        "gdt_base": s.gdt_base, "gdt_limit": s.gdt_limit,
        "idt_base": s.idt_base, "idt_limit": s.idt_limit,
        "gdt_loaded": s.gdt_limit != 0,
    }


def tour_stop_lines(r: dict) -> list[str]:
    """The text of one tour result (a stop_doc with "changed", or a stop not reached)."""
    if not r.get("reached"):
        extra = ""
        if r.get("interrupted_pc") is not None:
            verb = "stopped" if r["reason"].startswith("interrupted") else "interrupted"
            extra = (f"; {verb} at 0x{r['interrupted_pc']:x}"
                     + (f" <{r['interrupted_at']}>" if r.get("interrupted_at") else "")
                     + (" (CPU halted)" if r.get("halted") else ""))
        return [f"== {r['stop']}: not reached: {r['reason']}{extra}"]
    bits = f"{r['bits']}-bit" if r["bits"] else "?-bit"
    return [
        f"== {r['stop']}{' (CPU %d)' % r['cpu'] if 'cpu' in r else ''}: {r['mode']} mode, "
        f"{bits} code, paging "
        f"{'on' if r['paging'] else 'off'} | {r['csip']} | linear 0x{r['linear_pc']:x}",
        f"   CR0=0x{r['cr0']:x} CR3=0x{r['cr3']:x} CR4=0x{r['cr4']:x} EFER=0x{r['efer']:x}"
        f" GDTR=0x{r['gdt_base']:x}/0x{r['gdt_limit']:x} A20={'on' if r['a20'] else 'off'}",
        "   changed: " + ("(first stop)" if r["changed"] is None
                          else format_changes(r["changed"])),
    ]


# ---- fj context ----------------------------------------------------------------------------
def panel_lines(s: CpuSnapshot, symbol: str | None, insns, changed: dict,
                first: bool) -> list[str]:
    """The context panel: header, instructions (objects with addr/asm/symbol), control
    registers, what changed since the previous panel."""
    lines = [f"--- fj: {s.mode} | {csip_text(s)} | linear 0x{s.linear_pc:x}"
             + (f" <{symbol}>" if symbol else "") + " ---"]
    for i, d in enumerate(insns):
        where = f"<{d.symbol}>" if d.symbol else ""
        lines.append(f"{'=>' if i == 0 else '  '} 0x{d.addr:x} {where:24} {d.asm}")
    lines.append(f"CR0=0x{s.cr0:x} CR3=0x{s.cr3:x} CR4=0x{s.cr4:x} EFER=0x{s.efer:x} "
                 f"GDTR=0x{s.gdt_base:x}/0x{s.gdt_limit:x}")
    lines.append("changed since last stop: "
                 + ("(first panel)" if first else format_changes(changed)))
    return lines
