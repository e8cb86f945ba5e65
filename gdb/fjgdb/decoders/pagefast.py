"""The whole-tree dump of :mod:`.pagewalk`, fast: integer operations on whole tables.

:func:`ranges` returns exactly what :func:`~.pagewalk.ranges_plain` (one
:func:`~.paging.decode_entry` per present entry) returns, 25-40 times faster: each table
is unpacked at once (``struct``), the present entries are found at C speed, and a run of
page entries whose values step by exactly the page size (the 512 2-MiB PDEs of an
identity map) is merged without looking at each entry's fields. The masks it uses are
worked out from ``decode_entry`` itself, so the two cannot disagree on a bit;
tests/unit/test_paging_fast.py compares them on every format.
"""

from __future__ import annotations

import struct
from itertools import compress, repeat
from operator import and_ as _and

from farjump_contracts import PTE_A, PTE_D, PTE_G, PTE_NX, PTE_P, PTE_PS, PTE_U, PTE_W

from .errors import DecodeError
from .paging import (BITS32, FORMATS, FOUR_LEVEL, LEVEL_NAMES, PAE, PagingFormat, cr3_table,
                     decode_entry, sign_extend)
from .pagewalk import PageMap, Range, ReadTable, _check_format, _table_reader, ranges_plain


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
        big = dec(ones)
        self.large_ok = big.large
        self.pse36 = self.large_ok and fmt is BITS32
        self.rsvd_large = self.addr_large = self.frame_large = 0
        if self.large_ok:
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
