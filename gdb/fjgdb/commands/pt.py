"""fj pt: the page tables from CR3 (read through the target layer's page-table reader),
and ``set fj-pt-fast``, which chooses between its fast paths and the plain one.

The fast path (the default): CR0/CR3/CR4/EFER from GDB's register set, tables straight
from QEMU's process when possible (:mod:`fjgdb.target.hostmem`), the fast decoder
(:mod:`fjgdb.decoders.pagefast`), and a memo: a walk is a pure function of CR3, the
paging bits (CR0.PG, CR4.PAE/PSE/LA57/PKE/PKS, EFER.NXE/LMA) and the bytes of the tables
it read, so a result is reused when those are the same (within one stop without
reading anything: every resume and memory write bumps ``STATE.generation``; after a
stop by reading the tables again and comparing). The plain path (``set fj-pt-fast
off``) is the reference the tests compare with: ``info registers``, GDB's memory
reads, one :func:`~fjgdb.decoders.paging.decode_entry` per entry, nothing reused.
"""
from __future__ import annotations

from dataclasses import dataclass

import gdb

from ..decoders.mode import cpu_mode
from ..decoders.paging import (canonical, cr3_table, identity_mapped, paging_format, ranges,
                               ranges_plain, walk)
from ..render.paging import format_ranges, format_walk
from ..target import hostmem
from ..target.errors import FjError, NotConnected
from ..target.state import STATE
from .base import FjCommand, emit_json, out

FAST_VALUES = ("on", "gdbstub", "off")


class PtFastParam(gdb.Parameter):
    """How fj pt reads and decodes page tables. For tests and benchmarks: every value
gives the same answer, 'on' (the default) is the fastest.

on: CR0/CR3/CR4/EFER from GDB's registers; tables straight from QEMU's memory
    (/proc/PID/mem, QEMU found from the gdbstub connection) when QEMU runs on this
    machine and may be read, else through the gdbstub; the fast decoder; a result
    reused while CR3, the paging bits and the tables' bytes are unchanged.
gdbstub: the same, but tables only through the gdbstub.
off: the plain path: QEMU's 'info registers', GDB's memory reads, every entry
    decoded on its own, nothing reused."""

    set_doc = "Set how fj pt reads and decodes page tables (on, gdbstub, off)."
    show_doc = "Show how fj pt reads and decodes page tables."

    def __init__(self):
        super().__init__("fj-pt-fast", gdb.COMMAND_DATA, gdb.PARAM_ENUM, list(FAST_VALUES))
        self.value = "on"

    def get_show_string(self, svalue):
        how = {"on": "fast paths on", "gdbstub": "fast paths on, tables through the "
               "gdbstub only", "off": "the plain path"}.get(svalue, svalue)
        where = f"; {hostmem.status(STATE)}" if svalue == "on" else ""
        return f"fj pt: {how}{where}."


@dataclass
class _Memo:
    pages: dict          # physical address -> the bytes the walk read there
    result: object       # PageMap or Walk
    physical: bool
    count: int
    generation: int      # STATE.generation when it was last known to hold
    text: str | None = None   # format_ranges(result), once asked for


_MEMO: dict[tuple, _Memo] = {}
_MEMO_MAX = 16
#: how often a result was reused ("same stop": nothing read; "compared": tables read
#: again, unchanged) or made anew: for tests and benchmarks
MEMO_STATS = {"same stop": 0, "compared": 0, "walked": 0}
#: (connection, CR3) whose tables were not all mapped at their own addresses
_NOT_IDENTITY: set[tuple[int, int]] = set()


def fast_mode() -> str:
    """fj-pt-fast's value (FjPt registers the parameter; PARAM_ENUM takes FAST_VALUES only)."""
    return gdb.parameter("fj-pt-fast")


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
Tables are read from guest-physical memory: straight from QEMU's process
(/proc/PID/mem) when QEMU runs on this machine and may be read, else through the
gdbstub (PhyMemMode; for a whole map on one CPU first at linear = physical, kept only
if the map puts every table read at its own address); a repeated fj pt whose tables
did not change reuses its result
('show fj-pt-fast' says which; 'set fj-pt-fast off' is the plain, slow path).
JSON: {"cr3", "format", "ranges": [{"virt", "phys", "size", "page_size", "writable",
"user", "nx", "global", "accessed", "dirty", "pkey"}], "problems": [...],
"physical_reads": bool} or for ADDR: {"vaddr", "cr3", "format", "phys", "page_size",
"writable", "user", "nx", "pkey", "fault", "steps": [...]}"""

    name = "pt"

    def add_arguments(self, parser):
        parser.add_argument("addr", nargs="*")

    def __init__(self):
        super().__init__()
        self.fast_param = PtFastParam()

    def check_alive(self) -> None:
        """The plain path asks QEMU first, as every command does (one packet). The fast
        paths do not: their reads find a dead QEMU anyway (the gdbstub's packet says it
        is gone; a read of /proc/PID/mem fails and falls back to the gdbstub), and an
        answer from the memo without any read checks first (:meth:`run`). A packet costs
        ~0.1 ms, and makes GDB drop its frames."""
        conn = STATE.connection()
        if fast_mode() == "off" or (conn is not None and not conn.is_valid()):
            STATE.check_alive()      # a connection GDB already dropped: says QEMU is gone

    @staticmethod
    def _read(tables, memo, cr3, cr3_reg, name, vaddr, fast, opts_walk):
        """("compared", the memo's result) when *memo*'s tables still hold the same bytes,
        else ("walked", a new walk or dump)."""
        with tables:
            try:
                tables(cr3 & ~0xFFF)
            except NotConnected:
                raise
            except FjError as e:
                raise FjError(f"CR3 0x{cr3_reg:x}: cannot read the {name} at "
                              f"0x{cr3:x}: {e}")
            if memo is not None and tables.unchanged(memo.pages):
                return "compared", memo.result
            if vaddr is not None:
                return "walked", walk(tables, cr3, vaddr, unreadable="fault", **opts_walk)
            dump = ranges if fast != "off" else ranges_plain
            return "walked", dump(tables, cr3, **opts_walk)

    def run(self, opts, from_tty):
        conn = STATE.require_connected()
        # the argument before the CPU state: 'fj pt 0xzz' is a typo in any mode
        vaddr = STATE.eval_address(" ".join(opts.addr)) if opts.addr else None
        fast = fast_mode()
        if fast == "off":
            q = STATE.snapshot().regs
            cr0, cr3_reg, cr4, efer = q.cr0, q.cr3, q.cr4, q.efer
        else:
            cr0, cr3_reg, cr4, efer = STATE.paging_registers()
        m = cpu_mode(cr0, cr4, efer, None)
        if not m.paging:
            raise FjError(f"paging is off (CR0.PG=0, CR0=0x{cr0:x}): linear = physical")
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
        cr3 = cr3_table(cr3_reg, fmt, maxphy)
        name = {5: "PML5", 4: "PML4", 3: "PDPT", 2: "page directory"}[top]
        opts_walk = dict(nxe=m.nxe, maxphyaddr=maxphy, fmt=fmt, pse=m.pse,
                         pkeys=bool(cr4 >> 22 & 1 or cr4 >> 24 & 1))
        # a full dump through the gdbstub may read linear = physical (memory.py); a
        # CR3 whose tables were not found at their own addresses is not tried again
        identity = vaddr is None and fast != "off" and (conn.num, cr3_reg) not in _NOT_IDENTITY
        tables = STATE.page_tables(fast, identity=identity)
        if tables.low_ram is not None and cr3 + 32 > tables.low_ram:
            raise FjError(f"CR3 0x{cr3_reg:x} points outside guest RAM (which ends at "
                          f"0x{tables.low_ram:x}): cannot read the {name}")
        key = (conn.num, fast, cr3_reg, fmt.name, m.nxe, m.pse,
               opts_walk["pkeys"], maxphy, tables.low_ram, vaddr)
        memo = _MEMO.get(key) if fast != "off" else None
        # Within one stop the tables cannot have changed, except by a raw monitor command
        # GDB does not know about: reading them again costs ~30 us from QEMU's memory, so
        # that is done; through the gdbstub (12 packets) the result of this stop stands.
        if memo is not None and memo.generation == STATE.generation \
                and tables.host is None:
            STATE.check_alive()               # nothing read: is QEMU still there?
            MEMO_STATS["same stop"] += 1
            result, physical, count = memo.result, memo.physical, memo.count
        else:
            how, result = self._read(tables, memo, cr3, cr3_reg, name, vaddr, fast, opts_walk)
            if tables.virtual and not identity_mapped(result, tables.virtual):
                # some table is not mapped at its own address: what was read there is
                # not known to be the table; read them all again with PhyMemMode
                if len(_NOT_IDENTITY) >= 64:
                    _NOT_IDENTITY.clear()
                _NOT_IDENTITY.add((conn.num, cr3_reg))
                tables = STATE.page_tables(fast)
                how, result = self._read(tables, None, cr3, cr3_reg, name, vaddr, fast,
                                         opts_walk)
            MEMO_STATS[how] += 1
            if how == "compared":
                memo.generation = STATE.generation
                physical, count = memo.physical, memo.count
            else:
                physical, count = tables.physical, tables.count
                if fast != "off" and tables.asked == set(tables.pages):
                    _MEMO.pop(key, None)
                    while len(_MEMO) >= _MEMO_MAX:
                        _MEMO.pop(next(iter(_MEMO)))
                    _MEMO[key] = _Memo(dict(tables.pages), result, physical, count,
                                       STATE.generation)
        if opts.json:
            doc = result.to_dict()
            doc["physical_reads"] = physical
            doc["tables_read"] = count
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
        elif memo is not None and memo.result is result:
            if memo.text is None:
                memo.text = format_ranges(result)
            out(memo.text)
        else:
            out(format_ranges(result))
