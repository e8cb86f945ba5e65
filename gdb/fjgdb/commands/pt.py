"""fj pt: the page tables from CR3 (read through the target layer's page-table reader)."""
from __future__ import annotations

from ..decoders.paging import canonical, cr3_table, paging_format, ranges, walk
from ..render.paging import format_ranges, format_walk
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjPt(FjCommand):
    """Page tables from CR3: mapped ranges, or the walk of one address.

Usage: fj pt [ADDR] [--json]
Without ADDR: every present mapping as merged ranges (virtual, physical, size, page
size, flags r/w/x u/s g a d, "key N" with protection keys). With ADDR (any GDB
expression: 0xb8000, &kernel_main, $pc, $rsp): the walk of that address, table by table.
Every x86 paging mode, chosen from CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57:
32-bit (PD -> PT; 4 MiB pages with CR4.PSE, PSE-36 physical bits 39:32), PAE
(PDPT -> PD -> PT; 2 MiB pages), 4-level (PML4 -> PDPT -> PD -> PT; 2 MiB, 1 GiB pages)
and 5-level (PML5 first; CR4.LA57). Protection keys (bits 62:59) with CR4.PKE/PKS.
Tables are read from guest-physical memory (QEMU gdbstub's PhyMemMode), each 4 KiB
table in one read.
JSON: {"cr3", "format", "ranges": [{"virt", "phys", "size", "page_size", "writable",
"user", "nx", "global", "accessed", "dirty", "pkey"}], "problems": [...],
"physical_reads": bool} or for ADDR: {"vaddr", "cr3", "format", "phys", "page_size",
"writable", "user", "nx", "pkey", "fault", "steps": [...]}"""

    name = "pt"

    def add_arguments(self, parser):
        parser.add_argument("addr", nargs="*")

    def run(self, opts, from_tty):
        STATE.require_connected()
        # the argument before the CPU state: 'fj pt 0xzz' is a typo in any mode
        vaddr = STATE.eval_address(" ".join(opts.addr)) if opts.addr else None
        snap = STATE.snapshot()
        q, m = snap.regs, snap.mode
        if not m.paging:
            raise FjError(f"paging is off (CR0.PG=0, CR0=0x{q.cr0:x}): linear = physical")
        fmt = paging_format(m.paging, m.pae, m.lma, m.la57)
        if vaddr is not None and not canonical(vaddr, fmt):
            if fmt.va_bits == 32:
                raise FjError(f"0x{vaddr:x} is not a 32-bit linear address ({fmt.name} "
                              "paging)")
            raise FjError(f"0x{vaddr:x} is not a canonical address (bits 63:"
                          f"{fmt.va_bits - 1} must all be equal)")
        # MAXPHYADDR is not in QEMU's register dump: 52 (the architectural maximum) makes
        # only bits 63:52 reserved; 32-bit paging's PSE-36 carries at most 40 bits.
        maxphy = 40 if fmt.name == "32-bit" else 52
        top = fmt.levels[0]
        cr3 = cr3_table(q.cr3, fmt, maxphy)
        name = {5: "PML5", 4: "PML4", 3: "PDPT", 2: "page directory"}[top]
        opts_walk = dict(nxe=m.nxe, maxphyaddr=maxphy, fmt=fmt, pse=m.pse,
                         pkeys=bool(q.cr4 >> 22 & 1 or q.cr4 >> 24 & 1))
        tables = STATE.page_tables()
        if tables.low_ram is not None and cr3 + 32 > tables.low_ram:
            raise FjError(f"CR3 0x{q.cr3:x} points outside guest RAM (which ends at "
                          f"0x{tables.low_ram:x}): cannot read the {name}")
        with tables:
            try:
                tables(cr3 & ~0xFFF)
            except FjError as e:
                raise FjError(f"CR3 0x{q.cr3:x}: cannot read the {name} at 0x{cr3:x}: {e}")
            if vaddr is not None:
                result = walk(tables, cr3, vaddr, unreadable="fault", **opts_walk)
            else:
                result = ranges(tables, cr3, **opts_walk)
        if opts.json:
            doc = result.to_dict()
            doc["physical_reads"] = tables.physical
            doc["tables_read"] = tables.count
            emit_json(doc)
            return
        if not tables.physical:
            out("note: QEMU's physical-memory mode is unavailable; page tables were read "
                "as virtual = physical")
        if vaddr is not None:
            sym = STATE.symbolize(vaddr)
            if sym:
                out(f"0x{vaddr:x} <{sym}>")
            out(format_walk(result))
        else:
            out(format_ranges(result))
