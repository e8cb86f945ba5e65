"""4-level paging (IA-32e paging with CR4.LA57 = 0).

References (Intel SDM Vol. 3A):
  * §4.5   4-Level Paging and 5-Level Paging (Figure 4-8/4-9/4-10)
  * Table 4-15..4-20  formats of PML4E, PDPTE, PDE and PTE
  * §4.6   Access rights (R/W and U/S are ANDed, XD is ORed over levels)
  * Figure 4-11 reserved bits: 51:M (MAXPHYADDR), PS in a PML4E, bits
    29:13 of a 1-GiB PDPTE, bits 20:13 of a 2-MiB PDE, XD if EFER.NXE=0.

Levels are numbered like the SDM's table depth: 4 = PML4, 3 = PDPT,
2 = PD, 1 = PT.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from farjump_contracts import (PTE_A, PTE_D, PTE_G, PTE_NX, PTE_P, PTE_PAT, PTE_PAT_LARGE,
                                PTE_PCD, PTE_PS, PTE_PWT, PTE_U, PTE_W)

from .errors import DecodeError, NonCanonicalError

LEVEL_NAMES = {4: "PML4", 3: "PDPT", 2: "PD", 1: "PT"}
# Bytes mapped by one entry at each level.
ENTRY_SPAN = {4: 1 << 39, 3: 1 << 30, 2: 1 << 21, 1: 1 << 12}
_U64 = (1 << 64) - 1


def _mask(hi: int, lo: int) -> int:
    """Bits hi..lo inclusive (empty if hi < lo)."""
    return ((1 << (hi + 1)) - 1) & ~((1 << lo) - 1) if hi >= lo else 0


@dataclass(frozen=True)
class PagingEntry:
    """A decoded paging-structure entry (SDM Vol. 3A Tables 4-15..4-20).

    ``large`` is the PS bit where it exists (PDPTE: 1 GiB page, PDE: 2 MiB
    page). ``addr`` is the next table's physical address, or the page frame
    for a leaf. ``global_``/``dirty``/``pat`` are only meaningful for leaves
    and False otherwise. ``reserved_bits_set`` is the mask of reserved bits
    that are 1 (0 for a non-present entry, whose other bits are ignored).
    """

    value: int
    level: int
    present: bool
    writable: bool
    user: bool
    pwt: bool
    pcd: bool
    accessed: bool
    dirty: bool
    large: bool
    global_: bool
    pat: bool
    nx: bool
    addr: int
    reserved_bits_set: int

    @property
    def leaf(self) -> bool:
        return self.level == 1 or self.large

    @property
    def page_size(self) -> int | None:
        return ENTRY_SPAN[self.level] if self.leaf else None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["global"] = d.pop("global_")
        d["leaf"] = self.leaf
        return d


def decode_entry(value: int, level: int, maxphyaddr: int = 52,
                 nxe: bool = True) -> PagingEntry:
    """Decode one 64-bit paging entry at *level* (4 = PML4 ... 1 = PT).

    *maxphyaddr* is CPUID.80000008H:EAX[7:0] (bits 51:M are reserved);
    with *nxe* False, bit 63 (XD) is reserved.
    """
    if not 0 <= value <= _U64:
        raise DecodeError(f"paging entry 0x{value:x} is not a 64-bit value")
    if level not in LEVEL_NAMES:
        raise DecodeError(f"paging level {level} not in 1..4")
    if not 32 <= maxphyaddr <= 52:
        raise DecodeError(f"MAXPHYADDR {maxphyaddr} not in 32..52")
    bit = lambda mask: bool(value & mask)  # noqa: E731
    present = bit(PTE_P)
    ps = bit(PTE_PS) if level in (2, 3, 4) else False
    large = ps and level in (2, 3)
    leaf = level == 1 or large
    top = maxphyaddr - 1
    reserved = _mask(51, maxphyaddr)
    if not nxe:
        reserved |= PTE_NX
    if level == 4:
        reserved |= PTE_PS  # PS must be 0 in a PML4E
        addr = value & _mask(top, 12)
    elif large:
        low = 30 if level == 3 else 21
        reserved |= _mask(low - 1, 13)
        addr = value & _mask(top, low)
    else:
        addr = value & _mask(top, 12)
    return PagingEntry(
        value=value, level=level, present=present, writable=bit(PTE_W),
        user=bit(PTE_U), pwt=bit(PTE_PWT), pcd=bit(PTE_PCD), accessed=bit(PTE_A),
        dirty=bit(PTE_D) if leaf else False, large=large,
        global_=bit(PTE_G) if leaf else False,
        pat=(bit(PTE_PAT_LARGE) if large else bit(PTE_PAT) if level == 1 else False),
        nx=bit(PTE_NX) if nxe else False, addr=addr,
        reserved_bits_set=value & reserved if present else 0)


def canonical(vaddr: int) -> bool:
    """True if *vaddr* is canonical for 48-bit linear addresses (§3.3.7.1)."""
    if not 0 <= vaddr <= _U64:
        raise DecodeError(f"address 0x{vaddr:x} is not a 64-bit value")
    top = vaddr >> 47
    return top == 0 or top == (1 << 17) - 1


def sign_extend(vaddr: int) -> int:
    """Make a 48-bit linear address canonical (copy bit 47 upwards)."""
    vaddr &= (1 << 48) - 1
    return vaddr | (_U64 ^ ((1 << 48) - 1)) if vaddr >> 47 else vaddr


def split(vaddr: int) -> tuple[int, int, int, int, int]:
    """(PML4 index, PDPT index, PD index, PT index, page offset)."""
    if not 0 <= vaddr <= _U64:
        raise DecodeError(f"address 0x{vaddr:x} is not a 64-bit value")
    return (vaddr >> 39 & 511, vaddr >> 30 & 511, vaddr >> 21 & 511,
            vaddr >> 12 & 511, vaddr & 0xFFF)


ReadTable = Callable[[int], bytes]


def _table_reader(read_table: ReadTable) -> Callable[[int, int], bytes]:
    """Wrap *read_table* with a per-call cache and uniform errors."""
    cache: dict[int, bytes | str] = {}  # table bytes, or failure reason

    def read(addr: int, level: int) -> bytes:
        name = LEVEL_NAMES[level]
        if addr not in cache:
            try:
                data = bytes(read_table(addr))
                if len(data) != 4096:
                    data = f"got {len(data)} bytes instead of 4096"
            except Exception as exc:  # reader errors of any kind
                data = str(exc) or type(exc).__name__
            cache[addr] = data
        data = cache[addr]
        if isinstance(data, str):
            raise DecodeError(f"cannot read {name} at 0x{addr:x}: {data}")
        return data

    return read


def _entry_at(table: bytes, index: int) -> int:
    return int.from_bytes(table[index * 8:index * 8 + 8], "little")


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

    ``phys``/``page_size`` are None when the walk faulted; ``fault`` then
    says why. ``writable``/``user`` are the AND and ``nx`` the OR of the
    entries walked (nx only with EFER.NXE).
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

    @property
    def leaf(self) -> PagingEntry | None:
        return self.steps[-1].entry if self.phys is not None else None

    def to_dict(self) -> dict:
        return {"vaddr": self.vaddr, "cr3": self.cr3,
                "steps": [s.to_dict() for s in self.steps],
                "phys": self.phys, "page_size": self.page_size,
                "writable": self.writable, "user": self.user, "nx": self.nx,
                "fault": self.fault}


def walk(read_table: ReadTable, cr3: int, vaddr: int, nxe: bool = True,
         maxphyaddr: int = 52, unreadable: str = "raise") -> Walk:
    """Translate *vaddr* through the tables rooted at *cr3*.

    ``read_table(phys)`` must return the 4096 bytes of the table at *phys*;
    its exceptions become DecodeError("cannot read PD at 0x...: ...").
    Each table is read at most once. A not-present entry or one with
    reserved bits set ends the walk with ``fault`` set (no exception);
    a non-canonical *vaddr* raises NonCanonicalError. With
    ``unreadable="fault"`` a PDPT/PD/PT that cannot be read also ends the
    walk with ``fault`` (the steps show the entry that points at it); the
    PML4 itself must always be readable.
    """
    if unreadable not in ("raise", "fault"):
        raise DecodeError(f"unreadable={unreadable!r}: must be 'raise' or 'fault'")
    if not canonical(vaddr):
        raise NonCanonicalError(f"0x{vaddr:x} is not a canonical address "
                                "(bits 63:47 must all be equal)")
    if not 0 <= cr3 <= _U64:
        raise DecodeError(f"CR3 0x{cr3:x} is not a 64-bit value")
    read = _table_reader(read_table)
    indices = split(vaddr)
    table_addr = cr3 & _mask(maxphyaddr - 1, 12)
    steps: list[WalkStep] = []
    writable = user = True
    nx = False
    for level, index in zip((4, 3, 2, 1), indices):
        try:
            table = read(table_addr, level)
        except DecodeError as exc:
            if unreadable == "raise" or not steps:
                raise
            return Walk(vaddr, cr3, steps, None, None, writable, user, nx,
                        f"{exc}; {steps[-1].level_name} entry {steps[-1].index} "
                        "points there")
        entry = decode_entry(_entry_at(table, index), level, maxphyaddr, nxe)
        name = LEVEL_NAMES[level]
        steps.append(WalkStep(name, index, table_addr, table_addr + index * 8,
                              entry))
        fault = None
        if not entry.present:
            fault = f"{name} entry {index} not present"
        elif entry.reserved_bits_set:
            fault = (f"{name} entry {index} has reserved bits "
                     f"0x{entry.reserved_bits_set:x} set")
        if fault:
            return Walk(vaddr, cr3, steps, None, None, writable, user, nx,
                        fault)
        writable = writable and entry.writable
        user = user and entry.user
        nx = nx or entry.nx
        if entry.leaf:
            size = ENTRY_SPAN[level]
            phys = entry.addr + (vaddr & (size - 1))
            return Walk(vaddr, cr3, steps, phys, size, writable, user, nx,
                        None)
        table_addr = entry.addr
    raise AssertionError("unreachable: level 1 entries are leaves")


# --------------------------------------------------------------------------
# Whole-tree dump
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """A run of contiguous virtual -> contiguous physical mappings with the
    same page size and effective permissions. ``accessed``/``dirty`` are
    True only if every page in the run has the bit."""

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

    @property
    def end(self) -> int:
        return self.virt + self.size

    def to_dict(self) -> dict:
        return {"virt": self.virt, "phys": self.phys, "size": self.size,
                "page_size": self.page_size, "writable": self.writable,
                "user": self.user, "nx": self.nx, "global": self.global_,
                "accessed": self.accessed, "dirty": self.dirty}


@dataclass(frozen=True)
class PageMap:
    cr3: int
    ranges: list[Range]
    problems: list[str]

    def to_dict(self) -> dict:
        return {"cr3": self.cr3, "ranges": [r.to_dict() for r in self.ranges],
                "problems": list(self.problems)}


def ranges(read_table: ReadTable, cr3: int, nxe: bool = True,
           maxphyaddr: int = 52) -> PageMap:
    """All present mappings under *cr3*, merged into maximal runs.

    Each table is read once. Entries with reserved bits set and tables that
    cannot be read are skipped and described in ``problems``.
    """
    if not 0 <= cr3 <= _U64:
        raise DecodeError(f"CR3 0x{cr3:x} is not a 64-bit value")
    read = _table_reader(read_table)
    out: list[Range] = []
    problems: list[str] = []
    cur: list = []  # the open run, as a mutable list of Range fields

    def emit(virt, phys, size, w, u, x, g, a, d):
        if cur and cur[0] + cur[2] == virt and cur[1] + cur[2] == phys \
                and cur[3] == size and cur[4:8] == [w, u, x, g]:
            cur[2] += size
            cur[8] = cur[8] and a
            cur[9] = cur[9] and d
            return
        flush()
        cur.extend([virt, phys, size, size, w, u, x, g, a, d])

    def flush():
        if cur:
            out.append(Range(*cur[:2], cur[2], *cur[3:]))
            cur.clear()

    def visit(table_addr, level, base, w, u, x):
        name = LEVEL_NAMES[level]
        try:
            table = read(table_addr, level)
        except DecodeError as exc:
            problems.append(str(exc))
            return
        for index in range(512):
            value = _entry_at(table, index)
            if not value & PTE_P:
                continue
            entry = decode_entry(value, level, maxphyaddr, nxe)
            virt = base + index * ENTRY_SPAN[level]
            if entry.reserved_bits_set:
                flush()
                problems.append(
                    f"{name}[{index}] at 0x{table_addr + index * 8:x} "
                    f"(virt 0x{sign_extend(virt):x}) = 0x{value:016x}: "
                    f"reserved bits 0x{entry.reserved_bits_set:x} set")
                continue
            ew, eu, ex = w and entry.writable, u and entry.user, \
                x or entry.nx
            if entry.leaf:
                emit(sign_extend(virt), entry.addr, ENTRY_SPAN[level],
                     ew, eu, ex, entry.global_, entry.accessed, entry.dirty)
            else:
                visit(entry.addr, level - 1, virt, ew, eu, ex)

    visit(cr3 & _mask(maxphyaddr - 1, 12), 4, 0, True, True, False)
    flush()
    return PageMap(cr3=cr3, ranges=out, problems=problems)
