"""x86 paging structures: the four formats, their entries and linear addresses.

References (Intel SDM Vol. 3A, chapter 4):
  * §4.3   32-bit paging (Figure 4-2/4-3; Tables 4-4..4-6: CR3, PDE, PTE; a 4-MiB PDE
           carries physical bits 39:32 in bits 20:13, "PSE-36", bit 21 reserved)
  * §4.4   PAE paging (Table 4-8: a PDPTE has only P, PWT, PCD and the address; bits
           2:1 and 8:5 are reserved; Tables 4-9..4-11; CR3 bits 31:5 locate the PDPT)
  * §4.5   4-level and 5-level paging (Tables 4-14..4-20, Figure 4-11 reserved bits:
           51:M, PS in a PML4E/PML5E, bits 29:13 of a 1-GiB PDPTE, 20:13 of a 2-MiB PDE)
  * §4.6.2 protection keys: bits 62:59 of a leaf (IA-32e paging, CR4.PKE / CR4.PKS)
  * §4.6   access rights: R/W and U/S are ANDed, XD ORed over the levels walked

Levels are numbered like the SDM's table depth: 5 = PML5, 4 = PML4, 3 = PDPT, 2 = PD,
1 = PT. The walk and the whole-tree dump are in :mod:`.pagewalk`, the fast dump in
:mod:`.pagefast` (re-exported here).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from farjump_contracts import (PTE_A, PTE_D, PTE_G, PTE_NX, PTE_P, PTE_PAT, PTE_PAT_LARGE,
                                PTE_PCD, PTE_PS, PTE_PWT, PTE_U, PTE_W)

from .errors import DecodeError

LEVEL_NAMES = {5: "PML5", 4: "PML4", 3: "PDPT", 2: "PD", 1: "PT"}
_U64 = (1 << 64) - 1


def _mask(hi: int, lo: int) -> int:
    """Bits hi..lo inclusive (empty if hi < lo)."""
    return ((1 << (hi + 1)) - 1) & ~((1 << lo) - 1) if hi >= lo else 0


@dataclass(frozen=True)
class PagingFormat:
    """One of the SDM's paging modes. ``shifts[level]`` is the lowest linear-address bit
    indexing a table at that level and ``index_bits[level]`` how many bits index it;
    ``large_levels`` the levels whose PS bit maps a page; ``entry_size`` 4 or 8 bytes;
    ``va_bits`` the width of a linear address (canonical above 32)."""

    name: str
    top: int
    shifts: dict
    index_bits: dict
    large_levels: tuple
    entry_size: int
    va_bits: int

    @property
    def levels(self) -> tuple:
        return tuple(range(self.top, 0, -1))

    def span(self, level: int) -> int:
        """Bytes mapped by one entry at *level*."""
        return 1 << self.shifts[level]

    def entries(self, level: int) -> int:
        return 1 << self.index_bits[level]


FOUR_LEVEL = PagingFormat("4-level", 4, {4: 39, 3: 30, 2: 21, 1: 12},
                          {4: 9, 3: 9, 2: 9, 1: 9}, (3, 2), 8, 48)
FIVE_LEVEL = PagingFormat("5-level", 5, {5: 48, 4: 39, 3: 30, 2: 21, 1: 12},
                          {5: 9, 4: 9, 3: 9, 2: 9, 1: 9}, (3, 2), 8, 57)
PAE = PagingFormat("PAE", 3, {3: 30, 2: 21, 1: 12}, {3: 2, 2: 9, 1: 9}, (2,), 8, 32)
BITS32 = PagingFormat("32-bit", 2, {2: 22, 1: 12}, {2: 10, 1: 10}, (2,), 4, 32)
FORMATS = {f.name: f for f in (BITS32, PAE, FOUR_LEVEL, FIVE_LEVEL)}
#: Bytes mapped by one 4-level entry (kept for callers written for 4-level paging).
ENTRY_SPAN = {level: FOUR_LEVEL.span(level) for level in FOUR_LEVEL.levels}


def paging_format(paging: bool, pae: bool, lma: bool, la57: bool) -> PagingFormat | None:
    """The format CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57 select (SDM Table 4-1); None
    with paging off. LA57 matters only in IA-32e mode."""
    if not paging:
        return None
    if not pae:
        return BITS32
    if not lma:
        return PAE
    return FIVE_LEVEL if la57 else FOUR_LEVEL


@dataclass(frozen=True)
class PagingEntry:
    """A decoded paging-structure entry.

    ``large`` is the PS bit where it maps a page (4 MiB / 2 MiB PDE, 1 GiB PDPTE).
    ``addr`` is the next table's physical address, or the page frame for a leaf
    (for a 4 MiB page including PSE-36 bits 39:32). ``global_``/``dirty``/``pat`` are
    only meaningful for leaves and False otherwise; ``pkey`` is the protection key of a
    leaf when protection keys are enabled, else None. A PAE PDPTE has no R/W, U/S or
    XD bits: it is decoded as writable and user (it restricts nothing). ``reserved_bits_set``
    is the mask of reserved bits that are 1 (0 for a non-present entry).
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
    page_size_bytes: int | None = None
    pkey: int | None = None

    @property
    def leaf(self) -> bool:
        return self.level == 1 or self.large

    @property
    def page_size(self) -> int | None:
        return self.page_size_bytes if self.leaf else None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("page_size_bytes")
        d["global"] = d.pop("global_")
        d["leaf"] = self.leaf
        return d


def decode_entry(value: int, level: int, maxphyaddr: int = 52, nxe: bool = True,
                 fmt: PagingFormat = FOUR_LEVEL, pse: bool = True,
                 pkeys: bool = False) -> PagingEntry:
    """Decode one paging entry at *level* of *fmt*.

    *maxphyaddr* is CPUID.80000008H:EAX[7:0] (bits 51:M are reserved); with *nxe*
    False, bit 63 (XD) is reserved. *pse* is CR4.PSE (32-bit paging only: without it a
    PDE's PS bit is ignored). *pkeys*: CR4.PKE or CR4.PKS, bits 62:59 of a leaf are its
    protection key (IA-32e paging only).
    """
    if not 0 <= value <= (_U64 if fmt.entry_size == 8 else 0xFFFFFFFF):
        raise DecodeError(f"paging entry 0x{value:x} is not a {fmt.entry_size * 8}-bit value")
    if level not in fmt.shifts:
        raise DecodeError(f"paging level {level} not in 1..{fmt.top} ({fmt.name} paging)")
    if not 32 <= maxphyaddr <= 52:
        raise DecodeError(f"MAXPHYADDR {maxphyaddr} not in 32..52")
    bit = lambda mask: bool(value & mask)  # noqa: E731
    present = bit(PTE_P)
    ps = bit(PTE_PS) if level > 1 else False
    large = ps and level in fmt.large_levels and (pse or fmt is not BITS32)
    leaf = level == 1 or large
    writable, user, nx, pkey = bit(PTE_W), bit(PTE_U), False, None
    if fmt is BITS32:
        reserved = 0
        if large:   # PSE-36: bits 20:13 are physical bits 39:32 (up to MAXPHYADDR, <= 40)
            high = min(maxphyaddr, 40) - 32
            reserved = (1 << 21) | _mask(20, 13 + high)
            addr = (value & 0xFFC00000) | ((value >> 13) & _mask(high - 1, 0)) << 32
        else:
            addr = value & 0xFFFFF000
    else:
        top = maxphyaddr - 1
        reserved = _mask(51, maxphyaddr)
        if fmt is PAE and level == 3:   # PDPTE (Table 4-8)
            reserved |= _mask(2, 1) | _mask(8, 5) | PTE_NX
            writable, user = True, True
        elif not nxe:
            reserved |= PTE_NX
        else:
            nx = bit(PTE_NX)
        if level >= 4 or (level == 3 and fmt is PAE):
            reserved |= PTE_PS if level >= 4 else 0   # PS must be 0 in a PML4E/PML5E
            addr = value & _mask(top, 12)
        elif large:
            low = fmt.shifts[level]
            reserved |= _mask(low - 1, 13)
            addr = value & _mask(top, low)
        else:
            addr = value & _mask(top, 12)
        if pkeys and leaf and fmt.top >= 4:
            pkey = value >> 59 & 0xF
    return PagingEntry(
        value=value, level=level, present=present, writable=writable,
        user=user, pwt=bit(PTE_PWT), pcd=bit(PTE_PCD), accessed=bit(PTE_A),
        dirty=bit(PTE_D) if leaf else False, large=large,
        global_=bit(PTE_G) if leaf else False,
        pat=(bit(PTE_PAT_LARGE) if large else bit(PTE_PAT) if level == 1 else False),
        nx=nx, addr=addr,
        reserved_bits_set=value & reserved if present else 0,
        page_size_bytes=fmt.span(level) if leaf else None, pkey=pkey)


def canonical(vaddr: int, fmt: PagingFormat = FOUR_LEVEL) -> bool:
    """True if *vaddr* is canonical for *fmt* (§3.3.7.1: bits 63:va_bits-1 equal); a
    32-bit format takes any address below 4 GiB."""
    if not 0 <= vaddr <= _U64:
        raise DecodeError(f"address 0x{vaddr:x} is not a 64-bit value")
    if fmt.va_bits == 32:
        return vaddr <= 0xFFFFFFFF
    top = vaddr >> (fmt.va_bits - 1)
    return top == 0 or top == (1 << (65 - fmt.va_bits)) - 1


def sign_extend(vaddr: int, fmt: PagingFormat = FOUR_LEVEL) -> int:
    """Make a linear address canonical (copy bit va_bits-1 upwards); 32-bit formats:
    the low 32 bits."""
    if fmt.va_bits == 32:
        return vaddr & 0xFFFFFFFF
    width = fmt.va_bits
    vaddr &= (1 << width) - 1
    return vaddr | (_U64 ^ ((1 << width) - 1)) if vaddr >> (width - 1) else vaddr


def indices(vaddr: int, fmt: PagingFormat = FOUR_LEVEL) -> tuple:
    """The table index at each level of *fmt*, top first, then the page offset."""
    if not 0 <= vaddr <= _U64:
        raise DecodeError(f"address 0x{vaddr:x} is not a 64-bit value")
    return tuple(vaddr >> fmt.shifts[lv] & (fmt.entries(lv) - 1) for lv in fmt.levels) \
        + (vaddr & 0xFFF,)


def split(vaddr: int) -> tuple[int, int, int, int, int]:
    """(PML4 index, PDPT index, PD index, PT index, page offset) of 4-level paging."""
    return indices(vaddr, FOUR_LEVEL)


def cr3_table(cr3: int, fmt: PagingFormat, maxphyaddr: int = 52) -> int:
    """The physical address of the top table CR3 points at (Tables 4-3, 4-7, 4-12)."""
    if fmt is BITS32:
        return cr3 & 0xFFFFF000
    if fmt is PAE:
        return cr3 & 0xFFFFFFE0
    return cr3 & _mask(maxphyaddr - 1, 12)


from .pagewalk import (PageMap, Range, Walk, WalkStep,  # noqa: E402,F401
                       identity_mapped, ranges_plain, walk)
from .pagefast import ranges  # noqa: E402,F401
