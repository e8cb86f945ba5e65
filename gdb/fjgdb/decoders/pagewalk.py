"""Page walks and the whole-tree dump, for every format of :mod:`.paging`.

``read_table(phys)`` returns the 4096 bytes of the 4-KiB-aligned page at *phys*; a PAE
PDPT (32 bytes, 32-byte aligned, SDM §4.4.1) is read from the page that holds it. Real
CPUs load the four PAE PDPTEs into registers when CR3 is written (§4.4.1); this walk reads
them from memory, as QEMU's TCG does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from farjump_contracts import PTE_P

from .errors import DecodeError, NonCanonicalError
from .paging import (FOUR_LEVEL, LEVEL_NAMES, PagingEntry, PagingFormat, canonical, cr3_table,
                     decode_entry, indices, sign_extend)

_U64 = (1 << 64) - 1
ReadTable = Callable[[int], bytes]


def _table_reader(read_table: ReadTable, fmt: PagingFormat) -> Callable[[int, int], bytes]:
    """Wrap *read_table* with a per-call cache and uniform errors; returns the bytes of
    the table at *addr* (from its offset in the page to the page's end)."""
    cache: dict[int, bytes | str] = {}  # page bytes, or failure reason

    def read(addr: int, level: int) -> bytes:
        name = LEVEL_NAMES[level]
        page = addr & ~0xFFF
        if page not in cache:
            try:
                data = bytes(read_table(page))
                if len(data) != 4096:
                    data = f"got {len(data)} bytes instead of 4096"
            except Exception as exc:  # reader errors of any kind
                data = str(exc) or type(exc).__name__
            cache[page] = data
        data = cache[page]
        if isinstance(data, str):
            raise DecodeError(f"cannot read {name} at 0x{addr:x}: {data}")
        return data[addr & 0xFFF:]

    return read


def _entry_at(table: bytes, index: int, size: int) -> int:
    return int.from_bytes(table[index * size:index * size + size], "little")


def _check_format(fmt: PagingFormat, cr3: int) -> None:
    if not isinstance(fmt, PagingFormat):
        raise DecodeError(f"unknown paging format {fmt!r}")
    if not 0 <= cr3 <= _U64:
        raise DecodeError(f"CR3 0x{cr3:x} is not a 64-bit value")


@dataclass(frozen=True)
class WalkStep:
    level_name: str
    index: int
    table_addr: int
    entry_addr: int
    entry: PagingEntry

    def to_dict(self) -> dict:
        return {"level_name": self.level_name, "index": self.index,
                "table_addr": self.table_addr, "entry_addr": self.entry_addr,
                "entry": self.entry.to_dict()}


@dataclass(frozen=True)
class Walk:
    """Result of translating one linear address.

    ``phys``/``page_size`` are None when the walk faulted; ``fault`` then says why.
    ``writable``/``user`` are the AND and ``nx`` the OR of the entries walked (nx only
    with EFER.NXE). ``format`` is the paging format's name ("32-bit", "PAE", "4-level",
    "5-level"); ``pkey`` the leaf's protection key when protection keys are on.
    """

    vaddr: int
    cr3: int
    steps: list[WalkStep]
    phys: int | None
    page_size: int | None
    writable: bool
    user: bool
    nx: bool
    fault: str | None
    format: str = "4-level"
    pkey: int | None = None

    @property
    def leaf(self) -> PagingEntry | None:
        return self.steps[-1].entry if self.phys is not None else None

    def to_dict(self) -> dict:
        return {"vaddr": self.vaddr, "cr3": self.cr3, "format": self.format,
                "steps": [s.to_dict() for s in self.steps],
                "phys": self.phys, "page_size": self.page_size,
                "writable": self.writable, "user": self.user, "nx": self.nx,
                "pkey": self.pkey, "fault": self.fault}


def walk(read_table: ReadTable, cr3: int, vaddr: int, nxe: bool = True,
         maxphyaddr: int = 52, unreadable: str = "raise", fmt: PagingFormat = FOUR_LEVEL,
         pse: bool = True, pkeys: bool = False) -> Walk:
    """Translate *vaddr* through the *fmt* tables rooted at *cr3*.

    Each table is read at most once; reader exceptions become DecodeError("cannot read
    PD at 0x...: ..."). A not-present entry or one with reserved bits set ends the walk
    with ``fault`` set (no exception); an address the format cannot translate
    (non-canonical, or above 4 GiB for 32-bit and PAE paging) raises NonCanonicalError.
    With ``unreadable="fault"`` a lower table that cannot be read also ends the walk
    with ``fault``; the top table must always be readable. *pse*/*pkeys*: see
    :func:`~.paging.decode_entry`.
    """
    if unreadable not in ("raise", "fault"):
        raise DecodeError(f"unreadable={unreadable!r}: must be 'raise' or 'fault'")
    _check_format(fmt, cr3)
    if not canonical(vaddr, fmt):
        if fmt.va_bits == 32:
            raise NonCanonicalError(f"0x{vaddr:x} is not a 32-bit linear address "
                                    f"({fmt.name} paging)")
        raise NonCanonicalError(f"0x{vaddr:x} is not a canonical address "
                                f"(bits 63:{fmt.va_bits - 1} must all be equal)")
    read = _table_reader(read_table, fmt)
    table_addr = cr3_table(cr3, fmt, maxphyaddr)
    steps: list[WalkStep] = []
    writable = user = True
    nx = False
    for level, index in zip(fmt.levels, indices(vaddr, fmt)):
        try:
            table = read(table_addr, level)
        except DecodeError as exc:
            if unreadable == "raise" or not steps:
                raise
            return Walk(vaddr, cr3, steps, None, None, writable, user, nx,
                        f"{exc}; {steps[-1].level_name} entry {steps[-1].index} "
                        "points there", fmt.name)
        entry = decode_entry(_entry_at(table, index, fmt.entry_size), level, maxphyaddr,
                             nxe, fmt, pse, pkeys)
        name = LEVEL_NAMES[level]
        steps.append(WalkStep(name, index, table_addr,
                              table_addr + index * fmt.entry_size, entry))
        fault = None
        if not entry.present:
            fault = f"{name} entry {index} not present"
        elif entry.reserved_bits_set:
            fault = (f"{name} entry {index} has reserved bits "
                     f"0x{entry.reserved_bits_set:x} set")
        if fault:
            return Walk(vaddr, cr3, steps, None, None, writable, user, nx, fault,
                        fmt.name)
        writable = writable and entry.writable
        user = user and entry.user
        nx = nx or entry.nx
        if entry.leaf:
            size = fmt.span(level)
            phys = entry.addr + (vaddr & (size - 1))
            return Walk(vaddr, cr3, steps, phys, size, writable, user, nx, None,
                        fmt.name, entry.pkey)
        table_addr = entry.addr
    raise AssertionError("unreachable: level 1 entries are leaves")


# --------------------------------------------------------------------------
# Whole-tree dump
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """A run of contiguous virtual -> contiguous physical mappings with the same page
    size, effective permissions and protection key. ``accessed``/``dirty`` are True only
    if every page in the run has the bit."""

    virt: int
    phys: int
    size: int
    page_size: int
    writable: bool
    user: bool
    nx: bool
    global_: bool
    accessed: bool
    dirty: bool
    pkey: int | None = None

    @property
    def end(self) -> int:
        return self.virt + self.size

    def to_dict(self) -> dict:
        return {"virt": self.virt, "phys": self.phys, "size": self.size,
                "page_size": self.page_size, "writable": self.writable,
                "user": self.user, "nx": self.nx, "global": self.global_,
                "accessed": self.accessed, "dirty": self.dirty, "pkey": self.pkey}


@dataclass(frozen=True)
class PageMap:
    cr3: int
    ranges: list[Range]
    problems: list[str]
    format: str = "4-level"

    def to_dict(self) -> dict:
        return {"cr3": self.cr3, "format": self.format,
                "ranges": [r.to_dict() for r in self.ranges],
                "problems": list(self.problems)}


def identity_mapped(pagemap: PageMap, pages) -> bool:
    """Does *pagemap* map each 4 KiB page of *pages* (physical addresses) at the same
    virtual address, i.e. was reading linear address X reading physical address X?
    fj pt reads tables that way through the gdbstub when it can (no PhyMemMode round
    trips) and keeps the answer only if the answer itself says the reads were right."""
    spans = sorted((r.virt, r.end, r.phys) for r in pagemap.ranges)
    for page in pages:
        if not any(virt <= page and page + 4096 <= end and phys + (page - virt) == page
                   for virt, end, phys in spans):
            return False
    return True


def ranges_plain(read_table: ReadTable, cr3: int, nxe: bool = True, maxphyaddr: int = 52,
                 fmt: PagingFormat = FOUR_LEVEL, pse: bool = True,
                 pkeys: bool = False) -> PageMap:
    """All present mappings under *cr3*, merged into maximal runs: the reference
    implementation, one :func:`~.paging.decode_entry` per present entry (obviously
    right, slow: ~5 us an entry). :func:`~.pagefast.ranges` gives the same result faster; the tests
    and ``set fj-pt-fast off`` compare the two.

    Each table is read once. Entries with reserved bits set and tables that cannot be
    read are skipped and described in ``problems``.
    """
    _check_format(fmt, cr3)
    read = _table_reader(read_table, fmt)
    out: list[Range] = []
    problems: list[str] = []
    cur: list = []  # the open run, as a mutable list of Range fields

    def emit(virt, phys, size, w, u, x, g, a, d, k):
        if cur and cur[0] + cur[2] == virt and cur[1] + cur[2] == phys \
                and cur[3] == size and cur[4:8] == [w, u, x, g] and cur[10] == k:
            cur[2] += size
            cur[8] = cur[8] and a
            cur[9] = cur[9] and d
            return
        flush()
        cur.extend([virt, phys, size, size, w, u, x, g, a, d, k])

    def flush():
        if cur:
            out.append(Range(*cur))
            cur.clear()

    def visit(table_addr, level, base, w, u, x):
        name = LEVEL_NAMES[level]
        try:
            table = read(table_addr, level)
        except DecodeError as exc:
            problems.append(str(exc))
            return
        size = fmt.entry_size
        for index in range(fmt.entries(level)):
            value = _entry_at(table, index, size)
            if not value & PTE_P:
                continue
            entry = decode_entry(value, level, maxphyaddr, nxe, fmt, pse, pkeys)
            virt = base + index * fmt.span(level)
            if entry.reserved_bits_set:
                flush()
                problems.append(
                    f"{name}[{index}] at 0x{table_addr + index * size:x} "
                    f"(virt 0x{sign_extend(virt, fmt):x}) = 0x{value:0{size * 2}x}: "
                    f"reserved bits 0x{entry.reserved_bits_set:x} set")
                continue
            ew, eu, ex = w and entry.writable, u and entry.user, x or entry.nx
            if entry.leaf:
                emit(sign_extend(virt, fmt), entry.addr, fmt.span(level),
                     ew, eu, ex, entry.global_, entry.accessed, entry.dirty, entry.pkey)
            else:
                visit(entry.addr, level - 1, virt, ew, eu, ex)

    visit(cr3_table(cr3, fmt, maxphyaddr), fmt.top, 0, True, True, False)
    flush()
    return PageMap(cr3=cr3, ranges=out, problems=problems, format=fmt.name)

