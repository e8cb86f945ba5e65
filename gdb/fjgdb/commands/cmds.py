"""The fj commands: thin layers that read state through GDB, decode and print."""
from __future__ import annotations

import gdb

from ..decoders.descriptors import decode_gdt
from ..decoders.idt import decode_idt
from ..decoders.paging import canonical, ranges, walk
from ..decoders.realmode import decode_ivt
from ..decoders.vga import decode_text
from ..render.descriptors import format_gdt, format_segments
from ..render.idt import format_idt
from ..render.paging import format_ranges, format_walk
from ..render.png import render_png
from ..render.realmode import format_ivt
from ..render.vga import ansi_lines
from .base import FjCommand, color_default, emit_json, out
from .state import STATE, FjError, NotConnected

EFER_LMA = 1 << 10

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
    names = BIT_NAMES.get(reg)
    if not names:
        return ""
    diff = old ^ new
    parts = []
    for bit in range(64):
        if diff >> bit & 1:
            parts.append(("+" if new >> bit & 1 else "-") + names.get(bit, f"bit{bit}"))
    return f" ({' '.join(parts)})" if parts else ""


def eval_address(expr: str) -> int:
    """A GDB expression as an address (``&kernel_main``, ``$pc``, ``kernel_main``, 0x...)."""
    try:
        v = gdb.parse_and_eval(expr)
    except gdb.error as e:
        raise FjError(f"cannot evaluate '{expr}': {e}")
    code = v.type.strip_typedefs().code
    if code in (gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_ARRAY):
        v = v.address
    try:
        return int(v) & 0xFFFFFFFFFFFFFFFF
    except (gdb.error, TypeError, ValueError):
        try:
            return int(v.cast(gdb.lookup_type("unsigned long"))) & 0xFFFFFFFFFFFFFFFF
        except gdb.error as e:
            raise FjError(f"'{expr}' is not an address: {e}")


def csip_text(q, m) -> str:
    if m.bits == 64:
        return f"CS={q.cs.selector:04x} RIP=0x{q.rip:x}"
    if m.mode in ("real", "virtual-8086"):
        return f"CS:IP {q.cs.selector:04x}:{q.rip & 0xFFFF:04x}"
    return f"CS:EIP {q.cs.selector:04x}:{q.rip & 0xFFFFFFFF:08x}"


def read_table(what: str, base: int, size: int) -> bytes:
    """The GDT/IDT bytes at linear *base*, or one line saying they cannot be read."""
    try:
        return STATE.read_linear(base, size)
    except NotConnected:
        raise
    except FjError:
        hint = ""
        if STATE.mode().paging:
            hint = f" (not mapped? see 'fj pt 0x{base:x}')"
        raise FjError(f"cannot read the {what} at 0x{base:x} (0x{size:x} bytes): "
                      f"guest memory unreadable{hint}") from None


# ---- fj mode -------------------------------------------------------------------------------
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
        q = STATE.qemu()
        m = STATE.mode()
        doc = m.to_dict()
        doc.update(a20=q.a20, cpl=q.cpl, halted=q.halted, cr0=q.cr0, cr3=q.cr3, cr4=q.cr4,
                   efer=q.efer, cs_selector=q.cs.selector, linear_pc=STATE.linear_pc())
        if opts.json:
            emit_json(doc)
            return
        out(f"mode     {m}")
        out(f"paging   {onoff(m.paging)}   PAE {onoff(m.pae)}   PSE {onoff(m.pse)}   "
            f"WP {onoff(m.wp)}   LA57 {onoff(m.la57)}")
        out(f"EFER     LME {onoff(m.lme)}   LMA {onoff(m.lma)}   NXE {onoff(m.nxe)}")
        out(f"A20      {onoff(q.a20)}   CPL {q.cpl}   {'halted' if q.halted else 'running code'}")
        out(f"regs     CR0=0x{q.cr0:x} CR3=0x{q.cr3:x} CR4=0x{q.cr4:x} EFER=0x{q.efer:x}")
        out(f"pc       {csip_text(q, m)} -> linear 0x{STATE.linear_pc():x}")


# ---- fj seg --------------------------------------------------------------------------------
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
        q = STATE.qemu()
        m = STATE.mode()
        real = m.mode in ("real", "virtual-8086")
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
        doc.update(pc=q.rip, linear_pc=STATE.linear_pc(), mode=m.mode, bits=m.bits)
        if real:
            doc["csip"] = f"{q.cs.selector:04x}:{q.rip & 0xFFFF:04x}"
        if opts.json:
            emit_json(doc)
            return
        out(format_segments(q.segments))
        for n in notes:
            out("note: " + n)
        sym = STATE.symbolize(STATE.linear_pc())
        out(f"{csip_text(q, m)} -> linear PC 0x{STATE.linear_pc():x}"
            + (f" <{sym}>" if sym else ""))


# ---- fj ivt --------------------------------------------------------------------------------
class FjIvt(FjCommand):
    """Real-mode interrupt vector table at physical 0 (vector, seg:off, linear, symbol).

Usage: fj ivt [N] [--all] [--json]
Without N: all 256 vectors (--all also shows 0000:0000 entries, hidden by default).
With N: only vector N (0-255, any GDB expression). Read from physical memory, so it
works in every mode (outside real mode the CPU does not use it).
JSON: {"entries": [{"vector", "segment", "offset", "linear", "symbol"}], "real_mode": bool}"""

    name = "ivt"

    def add_arguments(self, parser):
        parser.add_argument("vector", nargs="?")
        parser.add_argument("--all", action="store_true")

    def run(self, opts, from_tty):
        data = STATE.read_phys(0, 1024)
        entries = decode_ivt(data)
        if opts.vector is not None:
            n = eval_address(opts.vector)
            if not 0 <= n <= 255:
                raise FjError(f"vector {n} out of range 0..255")
            entries = [entries[n]]
        real = STATE.mode().mode == "real"
        if opts.json:
            emit_json({"real_mode": real, "entries": [
                dict(e.to_dict(), symbol=STATE.symbolize(e.linear)) for e in entries]})
            return
        if not real:
            out("note: the CPU is not in real mode; it does not use this table now")
        out(format_ivt(entries, symbolize=STATE.symbolize,
                       show_zero=opts.all or opts.vector is not None))


# ---- fj gdt --------------------------------------------------------------------------------
class FjGdt(FjCommand):
    """Global descriptor table from GDTR, every entry decoded.

Usage: fj gdt [--json]
GDTR base/limit come from QEMU (GDB has no GDTR register); the table is read at its
linear address. In long mode (EFER.LMA) TSS/LDT/call-gate descriptors are 16 bytes.
Entries loaded in a segment register are marked.
JSON: {"base", "limit", "long_mode", "entries": [{"index", "selector", "type":
"null"|"code"|"data"|"system", "base", "limit", "dpl", "present", "long", "db",
"granularity", "type_name", "loaded_in": [...], ...}]}"""

    name = "gdt"

    def run(self, opts, from_tty):
        q = STATE.qemu()
        real = STATE.mode().mode == "real"
        reset_value = q.gdt_base == 0 and q.gdt_limit == 0xFFFF
        if real and reset_value:
            raise FjError("GDTR limit 0xffff at base 0x0 is the reset value: no GDT loaded "
                          "yet (real mode)")
        if q.gdt_limit == 0:
            raise FjError(f"GDTR limit 0 (base 0x{q.gdt_base:x}): no GDT loaded yet"
                          + (" (real mode)" if real else
                             "; loading any selector but 0 faults"))
        long_mode = bool(q.efer & EFER_LMA)
        data = read_table("GDT", q.gdt_base, q.gdt_limit + 1)
        table = decode_gdt(data, q.gdt_base, q.gdt_limit, long_mode)
        loaded = {}
        if not real:
            for name, seg in q.segments.items():
                if seg.selector >> 3 and not seg.selector & 4:
                    loaded.setdefault(seg.selector >> 3, []).append(name)
        if opts.json:
            doc = table.to_dict()
            doc["long_mode"] = long_mode
            for e in doc["entries"]:
                e["loaded_in"] = loaded.get(e["index"], [])
            emit_json(doc)
            return
        if reset_value:
            out("note: GDTR still holds its reset value (base 0, limit 0xffff): no GDT "
                "was loaded before CR0.PE was set")
        elif real:
            out("note: real mode: the CPU does not use this GDT until CR0.PE=1")
        if table.entries and table.entries[0].raw != 0:
            out(f"note: entry 0 is not the null descriptor (0x{table.entries[0].raw:x}): "
                "GDTR probably does not point at a GDT")
        out(format_gdt(table))
        if long_mode:
            out("(EFER.LMA=1: TSS/LDT/call-gate descriptors are 16 bytes)")
        if loaded:
            out("loaded: " + ", ".join(f"{'/'.join(s.upper() for s in v)}=0x{k * 8:02x}"
                                      for k, v in sorted(loaded.items())))


# ---- fj idt --------------------------------------------------------------------------------
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
        q = STATE.qemu()
        m = STATE.mode()
        if m.mode == "real":
            raise FjError(f"real mode: IDTR (base 0x{q.idt_base:x}, limit 0x{q.idt_limit:x})"
                          " locates the IVT; use 'fj ivt'")
        if q.idt_limit == 0:
            raise FjError(f"IDTR limit 0 (base 0x{q.idt_base:x}): no IDT loaded; any "
                          "interrupt or exception now shuts the CPU down")
        long_mode = bool(q.efer & EFER_LMA)
        data = read_table("IDT", q.idt_base, q.idt_limit + 1)
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


# ---- fj pt ---------------------------------------------------------------------------------
class FjPt(FjCommand):
    """Page tables from CR3: mapped ranges, or the walk of one address.

Usage: fj pt [ADDR] [--json]
Without ADDR: every present mapping as merged ranges (virtual, physical, size, page
size, flags r/w/x u/s g a d). With ADDR (any GDB expression: 0xb8000, &kernel_main,
$pc, $rsp): the PML4 -> PDPT -> PD -> PT walk of that address.
Tables are read from guest-physical memory (QEMU gdbstub's PhyMemMode), each 4 KiB
table in one read. Only 4-level (IA-32e) paging is decoded.
JSON: {"cr3", "ranges": [{"virt", "phys", "size", "page_size", "writable", "user",
"nx", "global_", "accessed", "dirty"}], "problems": [...], "physical_reads": bool}
or for ADDR: {"vaddr", "cr3", "phys", "page_size", "writable", "user", "nx", "fault",
"steps": [...]}"""

    name = "pt"

    def add_arguments(self, parser):
        parser.add_argument("addr", nargs="*")

    def run(self, opts, from_tty):
        q = STATE.qemu()
        m = STATE.mode()
        if not m.paging:
            raise FjError(f"paging is off (CR0.PG=0, CR0=0x{q.cr0:x}): linear = physical")
        if not m.pae:
            raise FjError("32-bit (non-PAE) paging is not decoded; only 4-level paging")
        if not m.lma:
            raise FjError("PAE paging outside long mode is not decoded; only 4-level paging")
        if m.la57:
            raise FjError("5-level paging (CR4.LA57) is not decoded")
        cr3 = q.cr3 & 0x000FFFFFFFFFF000
        vaddr = eval_address(" ".join(opts.addr)) if opts.addr else None
        if vaddr is not None and not canonical(vaddr):
            raise FjError(f"0x{vaddr:x} is not a canonical address (bits 63:47 must all be "
                          "equal)")
        ram = STATE.ram_size()
        low_ram = ram if ram is not None and ram <= 0xB0000000 else None
        if low_ram is not None and cr3 + 4096 > low_ram:
            raise FjError(f"CR3 0x{q.cr3:x} points outside guest RAM (which ends at "
                          f"0x{low_ram:x}): cannot read the PML4")
        inf = gdb.selected_inferior()
        count = [0]
        tables: dict[int, bytes] = {}

        def read_pt(phys: int) -> bytes:
            if phys not in tables:
                if low_ram is not None and phys + 4096 > low_ram:
                    raise FjError(f"outside guest RAM (which ends at 0x{low_ram:x})")
                count[0] += 1
                try:
                    tables[phys] = inf.read_memory(phys, 4096).tobytes()
                except gdb.MemoryError:
                    raise FjError("guest memory unreadable") from None
            return tables[phys]

        with STATE.physical() as physical:
            try:
                read_pt(cr3)
            except FjError as e:
                raise FjError(f"CR3 0x{q.cr3:x}: cannot read the PML4 at 0x{cr3:x}: {e}")
            if vaddr is not None:
                result = walk(read_pt, cr3, vaddr, nxe=m.nxe, unreadable="fault")
            else:
                result = ranges(read_pt, cr3, nxe=m.nxe)
        if opts.json:
            doc = result.to_dict()
            doc["physical_reads"] = physical
            doc["tables_read"] = count[0]
            emit_json(doc)
            return
        if not physical:
            out("note: QEMU's physical-memory mode is unavailable; page tables were read "
                "as virtual = physical")
        if vaddr is not None:
            sym = STATE.symbolize(vaddr)
            if sym:
                out(f"0x{vaddr:x} <{sym}>")
            out(format_walk(result))
        else:
            out(format_ranges(result))


# ---- fj vga --------------------------------------------------------------------------------
class FjVga(FjCommand):
    """The 80x25 VGA text screen (physical 0xb8000), as text or a PNG.

Usage: fj vga [--color|--no-color] [--png FILE] [--json]
ANSI colours by default when GDB styles output to a terminal; plain text otherwise.
--png FILE renders the screen with a PSF console font (9x16 cells like real VGA).
JSON: {"cols", "rows", "lines": [...], "text", "png": FILE|null}"""

    name = "vga"

    def add_arguments(self, parser):
        parser.add_argument("--png")
        g = parser.add_mutually_exclusive_group()
        g.add_argument("--color", dest="color", action="store_true", default=None)
        g.add_argument("--no-color", dest="color", action="store_false")

    def run(self, opts, from_tty):
        try:
            data = STATE.read_phys(0xB8000, 80 * 25 * 2)
        except NotConnected:
            raise
        except FjError:
            raise FjError("cannot read the VGA text buffer at physical 0xb8000: guest "
                          "memory unreadable") from None
        screen = decode_text(data)
        if opts.png:
            try:
                render_png(screen, opts.png)
            except OSError as e:
                raise FjError(f"cannot write {opts.png}: {e.strerror or e}") from None
        if opts.json:
            emit_json({"cols": screen.cols, "rows": screen.rows, "lines": screen.lines(),
                       "text": screen.text(), "png": opts.png})
            return
        color = color_default() if opts.color is None else opts.color
        if color:
            out("\n".join(ansi_lines(screen)))
        else:
            out(screen.text())
        if opts.png:
            out(f"(PNG written to {opts.png})")
