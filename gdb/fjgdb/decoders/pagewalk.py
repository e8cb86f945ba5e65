"""Page walks and the whole-tree dump, for every format of :mod:`.paging`.

``read_table(phys)`` returns the 4096 bytes of the 4-KiB-aligned page at *phys*; a PAE
PDPT (32 bytes, 32-byte aligned, SDM §4.4.1) is read from the page that holds it. Real
CPUs load the four PAE PDPTEs into registers when CR3 is written (§4.4.1); this walk reads
them from memory, as QEMU's TCG does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import compress, repeat
from operator import and_ as _and
from typing import Callable

from farjump_contracts import PTE_A, PTE_D, PTE_G, PTE_NX, PTE_P, PTE_PS, PTE_U, PTE_W

from .errors import DecodeError, NonCanonicalError
from .paging import (BITS32, FORMATS, FOUR_LEVEL, LEVEL_NAMES, PAE, PagingEntry, PagingFormat,
                     canonical, cr3_table, decode_entry, indices, sign_extend)

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


def ranges_plain(read_table: ReadTable, cr3: int, nxe: bool = True, maxphyaddr: int = 52,
                 fmt: PagingFormat = FOUR_LEVEL, pse: bool = True,
                 pkeys: bool = False) -> PageMap:
    """All present mappings under *cr3*, merged into maximal runs: the reference
    implementation, one :func:`~.paging.decode_entry` per present entry (obviously
    right, slow: ~5 us an entry). :func:`ranges` gives the same result faster; the tests
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


# --------------------------------------------------------------------------
# The same dump, fast: integer operations on whole tables
# --------------------------------------------------------------------------

class _Level:
    """What :func:`ranges` needs to know of one level of one format, worked out once per
    call from :func:`~.paging.decode_entry` itself (so the two cannot disagree): the
    reserved-bit and address masks of a table entry and of a page entry, and which
    bits of a page entry's value carry its frame (a run of pages whose values step by
    the page size in those bits only is one contiguous range)."""

    __slots__ = ("fmt", "level", "name", "count", "unpack", "span", "large_ok", "rsvd", "addr",
                 "rsvd_large", "addr_large", "frame_large", "pse36", "perms")

    def __init__(self, fmt: PagingFormat, level: int, nxe: bool, maxphyaddr: int,
                 pse: bool, pkeys: bool):
        size = fmt.entry_size
        ones = (1 << size * 8) - 1
        self.fmt, self.level, self.name = fmt, level, LEVEL_NAMES[level]
        self.count = fmt.entries(level)
        self.unpack = struct.Struct(f"<{self.count}{'Q' if size == 8 else 'I'}").unpack_from
        self.span = fmt.span(level)
        dec = lambda v: decode_entry(v, level, maxphyaddr, nxe, fmt, pse, pkeys)  # noqa: E731
        self.large_ok = dec(ones).large
        self.pse36 = self.large_ok and fmt is BITS32
        self.rsvd_large = self.addr_large = self.frame_large = 0
        if self.large_ok:
            big = dec(ones)
            self.rsvd_large, self.addr_large = big.reserved_bits_set, big.addr
            # the value bits that hold the frame: the address bits at or above the page
            # size (for PSE-36 only bits 31:22; bits 39:32 sit in 20:13 and end a run)
            self.frame_large = 0xFFC00000 if self.pse36 else big.addr
            small = dec(ones & ~PTE_PS)     # PS is never reserved where it maps a page
        else:
            small = dec(ones)               # where PS is reserved (PML4E, PML5E), it stays
        self.rsvd, self.addr = small.reserved_bits_set, small.addr
        # R/W, U/S and XD as decode_entry reads them: a PAE PDPTE restricts nothing, and
        # 32-bit entries have no XD bit
        if fmt is PAE and level == 3:
            self.perms = None
        else:
            self.perms = (PTE_W, PTE_U, PTE_NX if nxe and fmt is not BITS32 else 0)


_LEVELS: dict = {}


def _levels(fmt: PagingFormat, nxe: bool, maxphyaddr: int, pse: bool,
            pkeys: bool) -> dict:
    """Every level's :class:`_Level`: a pure function of its arguments, kept for the
    four formats of :mod:`.paging` (PagingFormat holds dicts: not hashable)."""
    key = (fmt.name, nxe, maxphyaddr, pse, pkeys)
    levels = _LEVELS.get(key)
    if levels is None or levels[fmt.top].fmt is not fmt:
        levels = {lv: _Level(fmt, lv, nxe, maxphyaddr, pse, pkeys) for lv in fmt.levels}
        if FORMATS.get(fmt.name) is fmt and len(_LEVELS) < 256:
            _LEVELS[key] = levels
    return levels


def ranges(read_table: ReadTable, cr3: int, nxe: bool = True, maxphyaddr: int = 52,
           fmt: PagingFormat = FOUR_LEVEL, pse: bool = True,
           pkeys: bool = False) -> PageMap:
    """All present mappings under *cr3*, merged into maximal runs (the result of
    :func:`ranges_plain`, which the tests compare it with).

    Each table is read once and unpacked whole (``struct``); entries are plain integers,
    and a run of page entries whose values step by exactly the page size (same flags,
    contiguous frames: the 512 2-MiB PDEs of an identity map) is merged without looking
    at each entry's fields. Entries with reserved bits set and tables that cannot be
    read are skipped and described in ``problems``.
    """
    _check_format(fmt, cr3)
    if not 32 <= maxphyaddr <= 52:
        return ranges_plain(read_table, cr3, nxe, maxphyaddr, fmt, pse, pkeys)
    read = _table_reader(read_table, fmt)
    levels = _levels(fmt, bool(nxe), maxphyaddr, bool(pse), bool(pkeys))
    keyed = pkeys and fmt.top >= 4
    esize = fmt.entry_size
    hole = fmt.va_bits > 32
    out: list[Range] = []
    problems: list[str] = []
    # the open run: virt, phys, size, page size, w, u, x, g, a, d, key (None: no run)
    run = [None]

    def flush():
        if run[0] is not None:
            out.append(Range(*run))
            run[0] = None

    def visit(table_addr, lv, base, w, u, x):
        try:
            table = read(table_addr, lv.level)
        except DecodeError as exc:
            problems.append(str(exc))
            return
        values = lv.unpack(table)
        span, level = lv.span, lv.level
        lower = levels.get(level - 1)
        perms = lv.perms
        count = lv.count
        # the indices of the present entries, found at C speed (most entries are 0)
        present = list(compress(range(count), map(_and, values, repeat(PTE_P))))
        pos, npresent = 0, len(present)
        while pos < npresent:
            index = present[pos]
            pos += 1
            value = values[index]
            large = lv.large_ok and value & PTE_PS
            if value & (lv.rsvd_large if large else lv.rsvd):
                flush()
                entry = decode_entry(value, level, maxphyaddr, nxe, fmt, pse, pkeys)
                virt = base + index * span
                problems.append(
                    f"{lv.name}[{index}] at 0x{table_addr + index * esize:x} "
                    f"(virt 0x{sign_extend(virt, fmt):x}) = 0x{value:0{esize * 2}x}: "
                    f"reserved bits 0x{entry.reserved_bits_set:x} set")
                continue
            if perms is None:
                ew, eu, ex = w, u, x
            else:
                ew = w and bool(value & perms[0])
                eu = u and bool(value & perms[1])
                ex = x or bool(value & perms[2])
            virt = base + index * span
            if large:
                if lv.pse36:
                    high = min(maxphyaddr, 40) - 32
                    addr = (value & 0xFFC00000) | \
                        ((value >> 13) & ((1 << high) - 1)) << 32
                else:
                    addr = value & lv.addr_large
                frame = lv.frame_large
            elif level == 1:
                addr = value & lv.addr
                frame = lv.addr
            else:
                visit(value & lv.addr, lower, virt, ew, eu, ex)
                continue
            # a page: how many entries after it continue it (value + n * span: the same
            # flags, the next frame). Often all the rest of the table (an identity map):
            # tried first, compared at C speed; else entry by entry.
            rest = count - index
            if rest > 1 and values[count - 1] == value + (rest - 1) * span and \
                    values[index:] == tuple(range(value, value + rest * span, span)):
                end = count
            else:
                end, expect = index + 1, value + span
                while end < count and values[end] == expect:
                    end += 1
                    expect += span
            # only the frame bits may differ, checked on the last one (the values
            # between lie in between): a carry out of them ends the run at one page
            if end > index + 1 and (value + (end - index - 1) * span ^ value) & ~frame:
                end = index + 1
            n = end - index
            pos += n - 1          # every entry of the run is present
            if hole:
                virt = sign_extend(virt, fmt)
            g = bool(value & PTE_G)
            a = bool(value & PTE_A)
            d = bool(value & PTE_D)
            k = value >> 59 & 0xF if keyed else None
            if run[0] is not None and run[0] + run[2] == virt and run[1] + run[2] == addr \
                    and run[3] == span and run[4] == ew and run[5] == eu and run[6] == ex \
                    and run[7] == g and run[10] == k:
                run[2] += n * span
                run[8] = run[8] and a
                run[9] = run[9] and d
            else:
                flush()
                run[:] = [virt, addr, n * span, span, ew, eu, ex, g, a, d, k]

    visit(cr3_table(cr3, fmt, maxphyaddr), levels[fmt.top], 0, True, True, False)
    flush()
    return PageMap(cr3=cr3, ranges=out, problems=problems, format=fmt.name)
