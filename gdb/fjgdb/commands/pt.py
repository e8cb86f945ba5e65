"""fj pt: the page tables from CR3 (read through the target layer's page-table reader)."""
from __future__ import annotations

from farjump_contracts import PTE_ADDR_MASK

from ..decoders.paging import canonical, ranges, walk
from ..render.paging import format_ranges, format_walk
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


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
        STATE.require_connected()
        # the argument before the CPU state: 'fj pt 0xzz' is a typo in any mode
        vaddr = STATE.eval_address(" ".join(opts.addr)) if opts.addr else None
        snap = STATE.snapshot()
        q, m = snap.regs, snap.mode
        if not m.paging:
            raise FjError(f"paging is off (CR0.PG=0, CR0=0x{q.cr0:x}): linear = physical")
        if not m.pae:
            raise FjError("32-bit (non-PAE) paging is not decoded; only 4-level paging")
        if not m.lma:
            raise FjError("PAE paging outside long mode is not decoded; only 4-level paging")
        if m.la57:
            raise FjError("5-level paging (CR4.LA57) is not decoded")
        if vaddr is not None and not canonical(vaddr):
            raise FjError(f"0x{vaddr:x} is not a canonical address (bits 63:47 must all be "
                          "equal)")
        cr3 = q.cr3 & PTE_ADDR_MASK
        tables = STATE.page_tables()
        if tables.low_ram is not None and cr3 + 4096 > tables.low_ram:
            raise FjError(f"CR3 0x{q.cr3:x} points outside guest RAM (which ends at "
                          f"0x{tables.low_ram:x}): cannot read the PML4")
        with tables:
            try:
                tables(cr3)
            except FjError as e:
                raise FjError(f"CR3 0x{q.cr3:x}: cannot read the PML4 at 0x{cr3:x}: {e}")
            if vaddr is not None:
                result = walk(tables, cr3, vaddr, nxe=m.nxe, unreadable="fault")
            else:
                result = ranges(tables, cr3, nxe=m.nxe)
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
