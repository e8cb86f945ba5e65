"""4-level paging, worked out by hand from Intel SDM Vol. 3A §4.5
(Tables 4-15..4-20, Figure 4-11 reserved bits) and §4.6 (access rights).

Fake physical memory (table address -> 4096 bytes):

  CR3 = 0x1000 (PML4)
    PML4[0]   = 0x2000 | P W U                    -> PDPT 0x2000
      PDPT[0] = 0x40000000 | P W A D PS           1 GiB page, supervisor
      PDPT[1] = 0x3000 | P W U                    -> PD 0x3000
        PD[0] = 0x200000 | P W PS G               2 MiB page, supervisor
        PD[1] = 0x4000 | P W U                    -> PT 0x4000
          PT[0] = 0x5000 | P U A D NX             read-only user NX
          PT[1] = 0x6000 | P U A NX               (contiguous with PT[0])
          PT[2] = 0x9000 | P U NX                 (phys not contiguous)
          PT[3] = 0                                not present
          PT[4] = 0xa000 | P W U                  writable, executable
        PD[5] = 0x400000 | 0x2000 | P W PS        bit 13 reserved in 2M PDE
    PML4[2]   = 0xb000 | P W PS                   PS reserved in a PML4E
    PML4[511] = 0x7000 | P W                      higher half
      PDPT[510] = 0x8000 | P W                    -> PD 0x8000
        PD[0] = 0x000000 | P W PS                 2 MiB at 0xffffffff80000000
        PD[1] = 0x200000 | P W PS                 contiguous -> one 4M range
"""

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError, NonCanonicalError
from fjgdb.decoders.paging import (PageMap, Range, canonical, decode_entry, identity_mapped,
                                  ranges, split, walk)
from fjgdb.render.paging import format_ranges, format_walk

P, W, U, A, D, PS, G = 0x1, 0x2, 0x4, 0x20, 0x40, 0x80, 0x100
NX = 1 << 63
K4, M2, G1 = 1 << 12, 1 << 21, 1 << 30


def table(entries: dict) -> bytes:
    data = bytearray(4096)
    for index, value in entries.items():
        struct.pack_into("<Q", data, index * 8, value)
    return bytes(data)


MEM = {
    0x1000: table({0: 0x2000 | P | W | U, 2: 0xB000 | P | W | PS,
                   511: 0x7000 | P | W}),
    0x2000: table({0: 0x40000000 | P | W | A | D | PS, 1: 0x3000 | P | W | U}),
    0x3000: table({0: 0x200000 | P | W | PS | G, 1: 0x4000 | P | W | U,
                   5: 0x400000 | 0x2000 | P | W | PS}),
    0x4000: table({0: 0x5000 | P | U | A | D | NX, 1: 0x6000 | P | U | A | NX,
                   2: 0x9000 | P | U | NX, 4: 0xA000 | P | W | U}),
    0x7000: table({510: 0x8000 | P | W}),
    0x8000: table({0: 0x000000 | P | W | PS, 1: 0x200000 | P | W | PS}),
}


class Reader:
    """read_table that counts reads per table."""

    def __init__(self, mem=MEM):
        self.mem, self.calls = mem, {}

    def __call__(self, addr):
        self.calls[addr] = self.calls.get(addr, 0) + 1
        if addr not in self.mem:
            raise IOError("no memory there")
        return self.mem[addr]


def test_decode_entry_levels():
    # PML4E: addr bits 51:12
    e = decode_entry(0x2000 | P | W | U, 4)
    assert e.present and e.writable and e.user and not e.leaf
    assert e.addr == 0x2000 and e.reserved_bits_set == 0
    # PS=1 in a PML4E is reserved (bit 7)
    assert decode_entry(0xB000 | P | PS, 4).reserved_bits_set == 0x80
    # 1-GiB PDPTE: frame is bits 51:30; PAT (bit 12) allowed;
    # bits 29:13 reserved
    e = decode_entry(0x40000000 | 0x1000 | P | PS, 3)
    assert e.large and e.leaf and e.pat and e.addr == 0x40000000
    assert e.page_size == G1 and e.reserved_bits_set == 0
    assert decode_entry(0x40000000 | 0x2000 | P | PS, 3) \
        .reserved_bits_set == 0x2000
    assert decode_entry(0x40000000 | (1 << 29) | P | PS, 3) \
        .reserved_bits_set == 1 << 29
    # 2-MiB PDE: frame bits 51:21, bits 20:13 reserved (bit 21 is address)
    e = decode_entry(0x200000 | (1 << 20) | P | PS, 2)
    assert e.addr == 0x200000 and e.reserved_bits_set == 1 << 20
    assert decode_entry(0x600000 | P | PS, 2).addr == 0x600000
    # PTE: bit 7 is PAT, not PS; G and D meaningful
    e = decode_entry(0x5000 | P | PS | G | D | NX, 1)
    assert e.pat and not e.large and e.global_ and e.dirty and e.nx
    assert e.page_size == K4 and e.addr == 0x5000
    # G/D ignored in a non-leaf entry
    e = decode_entry(0x3000 | P | G | D, 2)
    assert not e.global_ and not e.dirty
    # MAXPHYADDR 36: bits 51:36 reserved
    e = decode_entry((1 << 40) | 0x1000 | P, 1, maxphyaddr=36)
    assert e.reserved_bits_set == 1 << 40 and e.addr == 0x1000
    # XD is reserved without EFER.NXE
    assert decode_entry(0x1000 | P | NX, 1, nxe=False).reserved_bits_set == NX
    # not present: everything else ignored
    assert decode_entry(0xFFFF_FFFF_FFFF_FFFE, 4).reserved_bits_set == 0
    json.dumps(e.to_dict())
    with pytest.raises(DecodeError):
        decode_entry(0, 5)
    with pytest.raises(DecodeError):
        decode_entry(1 << 64, 1)


def test_canonical_split():
    assert canonical(0x00007FFFFFFFFFFF) and canonical(0xFFFF800000000000)
    assert not canonical(0x0000800000000000)
    assert split(0xFFFFFFFF80001234) == (511, 510, 0, 1, 0x234)
    assert split(0x40201ABC) == (0, 1, 1, 1, 0xABC)


def test_walk_1g_page():
    r = Reader()
    w = walk(r, 0x1000, 0x12345678)
    # PDPT[0] maps 1 GiB at 0x40000000: phys = 0x40000000 + 0x12345678
    assert w.phys == 0x52345678 and w.page_size == G1 and w.fault is None
    assert [s.level_name for s in w.steps] == ["PML4", "PDPT"]
    assert w.steps[1].entry_addr == 0x2000
    assert w.writable and not w.user and not w.nx   # PDPT[0] has U=0


def test_walk_2m_page():
    w = walk(Reader(), 0x1000, 0x40001234)
    assert (w.phys, w.page_size) == (0x201234, M2)
    assert w.steps[2].table_addr == 0x3000 and w.steps[2].index == 0


def test_walk_4k_page_effective_rights():
    w = walk(Reader(), 0x1000, 0x40201ABC)
    # PT[1] = 0x6000: phys = 0x6000 + 0xabc; R/W is AND -> read-only,
    # U/S all 1 -> user, XD is OR -> NX.
    assert (w.phys, w.page_size) == (0x6ABC, K4)
    assert not w.writable and w.user and w.nx
    assert w.steps[3].entry_addr == 0x4000 + 1 * 8
    json.dumps(w.to_dict())
    text = format_walk(w)
    assert "0x6abc" in text and "PT[1]" in text


def test_walk_higher_half():
    w = walk(Reader(), 0x1000, 0xFFFFFFFF80201234)
    # PD[1] of 0x8000 maps 2 MiB at 0x200000 -> 0x200000 + 0x1234
    assert w.phys == 0x201234 and w.page_size == M2 and not w.user


def test_walk_faults_are_results():
    w = walk(Reader(), 0x1000, 0x40203000)
    assert w.phys is None and w.fault == "PT entry 3 not present"
    w = walk(Reader(), 0x1000, 0x40A00000)      # PD index 5
    assert w.fault == "PD entry 5 has reserved bits 0x2000 set"
    w = walk(Reader(), 0x1000, 0x0000008000000000)  # PML4 index 1
    assert w.fault == "PML4 entry 1 not present" and len(w.steps) == 1
    # without NXE the XD bit is reserved
    w = walk(Reader(), 0x1000, 0x40201ABC, nxe=False)
    assert w.fault == "PT entry 1 has reserved bits 0x8000000000000000 set"
    assert "fault" in format_walk(w)


def test_walk_errors():
    with pytest.raises(NonCanonicalError):
        walk(Reader(), 0x1000, 0x0000800000000000)
    with pytest.raises(DecodeError, match=r"cannot read PML4 at 0x5000: "):
        walk(Reader(), 0x5000, 0)   # no table at 0x5000 in MEM
    bad = dict(MEM)
    bad[0x3000] = b"short"
    with pytest.raises(DecodeError, match=r"cannot read PD at 0x3000"):
        walk(Reader(bad), 0x1000, 0x40000000)


def test_walk_reads_each_table_once():
    r = Reader()
    walk(r, 0x1000, 0x40201ABC)
    assert r.calls == {0x1000: 1, 0x2000: 1, 0x3000: 1, 0x4000: 1}
    # self-referencing table: PML4[0] points back at the PML4
    selfref = {0x1000: table({0: 0x1000 | P | W})}
    r = Reader(selfref)
    w = walk(r, 0x1000, 0)
    assert w.phys == 0x1000 and r.calls == {0x1000: 1}


def test_ranges():
    r = Reader()
    pm = ranges(r, 0x1000)
    got = [(x.virt, x.phys, x.size, x.page_size, x.writable, x.user, x.nx,
            x.global_, x.accessed, x.dirty) for x in pm.ranges]
    assert got == [
        (0x0, 0x40000000, G1, G1, True, False, False, False, True, True),
        (0x40000000, 0x200000, M2, M2, True, False, False, True, False,
         False),
        # PT[0] and PT[1] merge: accessed in both, dirty only in PT[0]
        (0x40200000, 0x5000, 2 * K4, K4, False, True, True, False, True,
         False),
        (0x40202000, 0x9000, K4, K4, False, True, True, False, False, False),
        (0x40204000, 0xA000, K4, K4, True, True, False, False, False, False),
        # two 2 MiB pages, virt and phys contiguous -> one 4 MiB range
        (0xFFFFFFFF80000000, 0x0, 2 * M2, M2, True, False, False, False,
         False, False),
    ]
    assert len(pm.problems) == 2
    assert "PD[5]" in pm.problems[0] and "0x2000" in pm.problems[0]
    assert "PML4[2]" in pm.problems[1] and "0x80" in pm.problems[1]
    # every reachable table read exactly once; 0xb000 never read
    assert r.calls == {a: 1 for a in (0x1000, 0x2000, 0x3000, 0x4000,
                                      0x7000, 0x8000)}
    d = pm.to_dict()
    json.dumps(d)
    assert d["ranges"][-1]["virt"] == 0xFFFFFFFF80000000
    assert set(d["ranges"][0]) == {"virt", "phys", "size", "page_size",
                                   "writable", "user", "nx", "global",
                                   "accessed", "dirty", "pkey"}
    text = format_ranges(pm)
    assert "0xffffffff80000000" in text and "4M" in text and "1G" in text


def test_ranges_unreadable_table_is_a_problem():
    mem = dict(MEM)
    del mem[0x4000]
    pm = ranges(Reader(mem), 0x1000)
    assert any("cannot read PT at 0x4000" in p for p in pm.problems)


@st.composite
def random_memory(draw):
    """A few random tables whose entries mostly point at each other."""
    addrs = [0x1000 * i for i in range(1, 5)]
    mem = {}
    for addr in addrs:
        entries = draw(st.dictionaries(
            st.integers(0, 511),
            st.one_of(st.integers(0, 2**64 - 1),
                      st.builds(lambda a, f: a | f, st.sampled_from(addrs),
                                st.integers(0, 0x1FF))),
            max_size=6))
        mem[addr] = table(entries)
    return mem


@settings(max_examples=150, deadline=None)
@given(random_memory(), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.booleans())
def test_walk_random_tables(mem, cr3, vaddr, nxe):
    try:
        w = walk(Reader(mem), cr3 & 0x7000, vaddr, nxe=nxe)
    except DecodeError:
        return
    format_walk(w)
    assert (w.phys is None) == (w.fault is not None)


@settings(max_examples=150, deadline=None)
@given(random_memory(), st.booleans())
def test_ranges_random_tables(mem, nxe):
    r = Reader(mem)
    pm = ranges(r, 0x1000, nxe=nxe)
    assert all(n == 1 for n in r.calls.values())
    format_ranges(pm)


@settings(max_examples=300, deadline=None)
@given(st.integers(-5, 2**64 + 5), st.integers(0, 5))
def test_decode_entry_random(value, level):
    try:
        decode_entry(value, level)
    except DecodeError:
        pass


def test_ranges_header_counts_in_singular_and_plural():
    import dataclasses
    pm = ranges(Reader(MEM), 0x1000)
    assert len(pm.ranges) > 1
    assert f": {len(pm.ranges)} ranges\n" in format_ranges(pm)
    one = dataclasses.replace(pm, ranges=pm.ranges[:1])
    assert format_ranges(one).startswith(f"CR3 0x{pm.cr3:x} (4-level paging): 1 range\n")


def test_identity_mapped_says_whether_each_table_page_is_at_its_own_address():
    """fj pt's check of its linear = physical reads through the gdbstub."""
    def rng(virt, phys, size):
        return Range(virt, phys, size, 0x200000, True, False, False, False, True, True)
    ident = PageMap(0x10000, [rng(0, 0, 0x200000), rng(0x200000, 0x200000, 0x3fe00000)], [])
    assert identity_mapped(ident, [0x10000, 0x11000, 0x1ff000, 0x3ffff000])
    assert identity_mapped(ident, [])
    assert not identity_mapped(ident, [0x40000000])                    # beyond the map
    moved = PageMap(0x10000, [rng(0, 0x200000, 0x200000)], [])
    assert not identity_mapped(moved, [0x10000])                      # mapped elsewhere
    # a page that starts inside a range and runs past its end
    edge = PageMap(0x10000, [rng(0x10000, 0x10000, 0x800)], [])
    assert not identity_mapped(edge, [0x10000])
    # split runs (other flags) still cover the page: each range checked on its own
    split = PageMap(0x10000, [rng(0, 0, 0x11000), rng(0x11000, 0x11000, 0x1000)], [])
    assert identity_mapped(split, [0x10000, 0x11000])
    assert not identity_mapped(PageMap(0, [], []), [0x10000])
