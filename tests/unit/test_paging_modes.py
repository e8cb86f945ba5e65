"""32-bit, PAE and 5-level paging, and protection keys, worked out by hand from Intel SDM
Vol. 3A §4.3 (32-bit: Tables 4-4..4-6, PSE-36), §4.4 (PAE: Table 4-8 PDPTE), §4.5
(5-level) and §4.6.2 (protection keys); plus a hypothesis fuzz that builds a random
mapping in each format and checks the walk and the range dump find exactly it."""

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError, NonCanonicalError
from fjgdb.decoders.paging import (BITS32, FIVE_LEVEL, FOUR_LEVEL, PAE, canonical,
                                   decode_entry, indices, paging_format, ranges,
                                   sign_extend, walk)
from fjgdb.render.paging import format_ranges, format_walk

P, W, U, A, D, PS, G = 0x1, 0x2, 0x4, 0x20, 0x40, 0x80, 0x100
NX = 1 << 63
K4, M2, M4, G1 = 1 << 12, 1 << 21, 1 << 22, 1 << 30


def page(entries: dict, size: int = 8, offset: int = 0) -> bytes:
    data = bytearray(4096)
    for index, value in entries.items():
        struct.pack_into("<Q" if size == 8 else "<I", data, offset + index * size, value)
    return bytes(data)


def test_format_selection():
    assert paging_format(False, True, True, True) is None
    assert paging_format(True, False, False, False) is BITS32
    assert paging_format(True, True, False, True) is PAE      # LA57 needs IA-32e mode
    assert paging_format(True, True, True, False) is FOUR_LEVEL
    assert paging_format(True, True, True, True) is FIVE_LEVEL


# ---- 32-bit paging ---------------------------------------------------------------------
MEM32 = {
    # CR3 0x1000: PD. PD[0] -> PT 0x2000; PD[1] 4 MiB page at 0x400000 (G D A);
    # PD[2] 4 MiB page with PSE-36 bits 20:13 = 0x03 -> physical 0x3_00800000;
    # PD[3] 4 MiB with bit 21 (reserved) set; PD[768] user 4 MiB at 0 (higher half)
    0x1000: page({0: 0x2000 | P | W | U, 1: 0x400000 | P | W | PS | G | A | D,
                  2: 0x800000 | (0x03 << 13) | P | PS, 3: 0xC00000 | (1 << 21) | P | PS,
                  768: 0x000000 | P | W | U | PS}, 4),
    0x2000: page({0: 0x5000 | P | U | A, 1: 0x6000 | P | U | A, 5: 0x7000 | P | W | PS}, 4),
}


def test_32bit_entries():
    e = decode_entry(0x2000 | P | W | U, 2, fmt=BITS32)
    assert not e.leaf and e.addr == 0x2000 and e.writable and e.user
    e = decode_entry(0x800000 | (0x03 << 13) | P | PS | (1 << 12), 2, maxphyaddr=40,
                     fmt=BITS32)
    assert e.large and e.addr == 0x3_00800000 and e.pat and e.page_size == M4
    assert e.reserved_bits_set == 0 and not e.nx
    # MAXPHYADDR 36: bits 20:17 (physical 39:36) are reserved
    e = decode_entry(0x800000 | (0x1F << 13) | P | PS, 2, maxphyaddr=36, fmt=BITS32)
    assert e.reserved_bits_set == 0x10 << 13 and e.addr == 0xF_00800000
    assert decode_entry(0xC00000 | (1 << 21) | P | PS, 2, fmt=BITS32).reserved_bits_set \
        == 1 << 21
    # CR4.PSE=0: PS is ignored, the PDE points at a page table
    e = decode_entry(0x400000 | P | PS, 2, fmt=BITS32, pse=False)
    assert not e.large and e.addr == 0x400000
    # PTE: bit 7 is PAT
    e = decode_entry(0x7000 | P | PS, 1, fmt=BITS32)
    assert e.pat and e.addr == 0x7000 and e.page_size == K4
    with pytest.raises(DecodeError):
        decode_entry(1 << 32, 1, fmt=BITS32)
    with pytest.raises(DecodeError):
        decode_entry(0, 3, fmt=BITS32)


def test_32bit_walks():
    read = MEM32.__getitem__
    w = walk(read, 0x1000, 0x1234, fmt=BITS32)
    assert w.phys == 0x6234 and w.page_size == K4 and not w.writable and w.user
    assert [s.level_name for s in w.steps] == ["PD", "PT"]
    assert w.steps[1].entry_addr == 0x2000 + 1 * 4
    w = walk(read, 0x1000, 0x400000 + 0x12345, fmt=BITS32)
    assert w.phys == 0x412345 and w.page_size == M4 and w.leaf.global_
    w = walk(read, 0x1000, 0x800000 + 0x10, fmt=BITS32, maxphyaddr=40)
    assert w.phys == 0x3_00800010 and not w.user
    w = walk(read, 0x1000, 0xC0000000 + 0x1000, fmt=BITS32)
    assert w.phys == 0x1000 and w.user and w.steps[0].index == 768
    assert "reserved" in walk(read, 0x1000, 0xC00000, fmt=BITS32).fault
    assert "not present" in walk(read, 0x1000, 0x2000, fmt=BITS32).fault
    with pytest.raises(NonCanonicalError):
        walk(read, 0x1000, 1 << 32, fmt=BITS32)
    text = format_walk(walk(read, 0x1000, 0x1234, fmt=BITS32))
    assert "(32-bit paging)" in text and "PD 0, PT 1" in text and "=> phys 0x6234" in text


def test_32bit_ranges():
    pm = ranges(MEM32.__getitem__, 0x1000, fmt=BITS32, maxphyaddr=40)
    got = [(r.virt, r.phys, r.size, r.page_size, r.writable, r.user) for r in pm.ranges]
    assert got == [(0, 0x5000, 2 * K4, K4, False, True),
                   (0x5000, 0x7000, K4, K4, True, False),
                   (0x400000, 0x400000, M4, M4, True, False),
                   (0x800000, 0x3_00800000, M4, M4, False, False),
                   (0xC0000000, 0, M4, M4, True, True)]
    assert len(pm.problems) == 1 and "PD[3]" in pm.problems[0]
    assert pm.format == "32-bit" and json.dumps(pm.to_dict())
    assert "(32-bit paging)" in format_ranges(pm)


# ---- PAE -----------------------------------------------------------------------------
# CR3 = 0x1020: the PDPT is 32 bytes at 0x1020 (CR3 bits 31:5), not page-aligned.
MEMPAE = {
    0x1000: page({0: 0x2000 | P, 3: 0x3000 | P | W}, 8, 0x20),   # W reserved in a PDPTE
    0x2000: page({0: 0x4000 | P | W | U, 1: 0x200000 | P | W | PS | NX,
                  2: 0x400000 | (1 << 13) | P | PS}),
    0x4000: page({0: 0x9000 | P | W | U | NX, 1: 0xA000 | P | U}),
}


def test_pae_walks():
    read = MEMPAE.__getitem__
    w = walk(read, 0x1020, 0x1234, fmt=PAE)
    assert w.phys == 0xA234 and w.user and not w.writable and not w.nx
    assert [s.level_name for s in w.steps] == ["PDPT", "PD", "PT"]
    assert w.steps[0].table_addr == 0x1020 and w.steps[0].entry_addr == 0x1020
    w = walk(read, 0x1020, 0x0, fmt=PAE)
    assert w.phys == 0x9000 and w.writable and w.nx
    w = walk(read, 0x1020, 0x200000 + 0x5, fmt=PAE)
    assert w.phys == 0x200005 and w.page_size == M2 and w.nx and not w.user
    assert "reserved bits 0x2000" in walk(read, 0x1020, 0x400000, fmt=PAE).fault
    # PDPT[3] has R/W set: bits 2:1 of a PDPTE are reserved
    assert "PDPT entry 3 has reserved bits 0x2" in walk(read, 0x1020, 0xC0000000,
                                                       fmt=PAE).fault
    assert "not present" in walk(read, 0x1020, 0x40000000, fmt=PAE).fault
    # without EFER.NXE, bit 63 is reserved
    assert "reserved" in walk(read, 0x1020, 0x0, fmt=PAE, nxe=False).fault
    pm = ranges(read, 0x1020, fmt=PAE)
    assert [(r.virt, r.phys, r.size) for r in pm.ranges] == \
        [(0, 0x9000, K4), (0x1000, 0xA000, K4), (0x200000, 0x200000, M2)]
    assert len(pm.problems) == 2
    assert "PDPT 0, PD 0, PT 1" in format_walk(walk(read, 0x1020, 0x1234, fmt=PAE))


# ---- 5-level paging and protection keys ------------------------------------------------
MEM5 = {
    0x1000: page({0: 0x2000 | P | W | U, 511: 0x6000 | P | W}),
    0x2000: page({1: 0x3000 | P | W | U}),
    0x3000: page({0: 0x40000000 | P | W | U | PS | (5 << 59)}),
    0x6000: page({511: 0x7000 | P | W}),
    0x7000: page({510: 0x8000 | P | W}),
    0x8000: page({0: 0x200000 | P | W | PS}),
}


def test_five_level():
    read = MEM5.__getitem__
    v = 1 << 39                                   # PML5 0, PML4 1, PDPT 0
    w = walk(read, 0x1000, v + 0x1234, fmt=FIVE_LEVEL, pkeys=True)
    assert w.phys == 0x40001234 and w.page_size == G1 and w.pkey == 5
    assert [s.level_name for s in w.steps] == ["PML5", "PML4", "PDPT"]
    assert walk(read, 0x1000, v, fmt=FIVE_LEVEL).pkey is None   # keys off: bits ignored
    top = 0xFFFFFFFF80000000                       # 57-bit sign extension
    w = walk(read, 0x1000, top + 0x10, fmt=FIVE_LEVEL)
    assert w.phys == 0x200010 and [s.index for s in w.steps] == [511, 511, 510, 0]
    assert canonical(0xFF00000000000000, FIVE_LEVEL)
    assert not canonical(0xFF00000000000000, FOUR_LEVEL)
    assert not canonical(0x0100000000000000, FIVE_LEVEL)
    with pytest.raises(NonCanonicalError):
        walk(read, 0x1000, 0x0100000000000000, fmt=FIVE_LEVEL)
    pm = ranges(read, 0x1000, fmt=FIVE_LEVEL, pkeys=True)
    assert [(r.virt, r.phys, r.size, r.pkey) for r in pm.ranges] == \
        [(v, 0x40000000, G1, 5), (top, 0x200000, M2, 0)]
    assert "key 5" in format_ranges(pm) and "PKEY=5" in format_walk(
        walk(read, 0x1000, v, fmt=FIVE_LEVEL, pkeys=True))
    # PS is reserved in a PML5E
    assert decode_entry(0x1000 | P | PS, 5, fmt=FIVE_LEVEL).reserved_bits_set == PS


# ---- fuzz: a random mapping in each format is found by the walk and the dump -----------
SIZES = {"32-bit": (K4, M4), "PAE": (K4, M2), "4-level": (K4, M2, G1),
         "5-level": (K4, M2, G1)}


@st.composite
def mapping(draw):
    fmt = draw(st.sampled_from([BITS32, PAE, FOUR_LEVEL, FIVE_LEVEL]))
    size = draw(st.sampled_from(SIZES[fmt.name]))
    vbits = fmt.va_bits
    vaddr = draw(st.integers(0, (1 << vbits) - 1)) & ~(size - 1)
    vaddr = sign_extend(vaddr, fmt)
    phys = draw(st.integers(1, (1 << (32 if fmt is BITS32 and size == K4 else 39)) - 1)) \
        & ~(size - 1)
    w, u = draw(st.booleans()), draw(st.booleans())
    return fmt, size, vaddr, phys or size, w, u


def build(fmt, size, vaddr, phys, w, u):
    """Tables mapping exactly one page: vaddr -> phys, at pages 0x10000, 0x11000..."""
    mem, table = {}, 0x10000
    cr3 = table + (0x40 if fmt is PAE else 0)
    addr = cr3
    leaf_level = {K4: 1, M2: 2, M4: 2, G1: 3}[size]
    flags = P | (W if w else 0) | (U if u else 0)
    for level, index in zip(fmt.levels, indices(vaddr, fmt)):
        pg = addr & ~0xFFF
        if level == leaf_level:
            value = phys | flags | (PS if level > 1 else 0)
            if fmt is BITS32 and size == M4:
                value = (phys & 0xFFC00000) | ((phys >> 32) << 13) | flags | PS
        else:
            nxt = table + 0x1000 * (fmt.top - level + 1)
            value = nxt | (P if fmt is PAE and level == 3 else P | W | U)
        mem[pg] = page({index: value}, fmt.entry_size, addr & 0xFFF)
        if level == leaf_level:
            break
        addr = nxt
    return cr3, mem


@settings(max_examples=300, deadline=None)
@given(mapping(), st.integers(0, (1 << 30) - 1))
def test_random_mapping_found(m, offset):
    fmt, size, vaddr, phys, w, u = m
    cr3, mem = build(*m)
    off = offset & (size - 1)
    res = walk(mem.__getitem__, cr3, vaddr + off, fmt=fmt, maxphyaddr=40)
    assert res.fault is None, res.fault
    assert res.phys == phys + off and res.page_size == size
    assert res.writable == w and res.user == u
    pm = ranges(mem.__getitem__, cr3, fmt=fmt, maxphyaddr=40)
    assert [(r.virt, r.phys, r.size) for r in pm.ranges] == [(vaddr, phys, size)]
    assert pm.problems == []
    json.dumps(res.to_dict())
    format_walk(res)
    format_ranges(pm)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([BITS32, PAE, FOUR_LEVEL, FIVE_LEVEL]),
       st.dictionaries(st.integers(0, 511), st.integers(0, 2**64 - 1), max_size=24),
       st.integers(0, 2**64 - 1))
def test_random_tables_never_crash(fmt, entries, vaddr):
    """Random entries in a table that maps onto itself where an entry points at 0x1000."""
    mem = {0x1000: page(entries)}
    try:
        res = walk(mem.__getitem__, 0x1000, vaddr, fmt=fmt, unreadable="fault")
    except NonCanonicalError:
        assert not canonical(vaddr, fmt)
        return
    assert (res.fault is None) == (res.phys is not None)
    format_walk(res)
    pm = ranges(mem.__getitem__, 0x1000, fmt=fmt)
    json.dumps(pm.to_dict())
    assert all(canonical(r.virt, fmt) for r in pm.ranges)
