"""The fast whole-tree dump (decoders/pagefast.py ranges: whole tables unpacked, runs
of page entries merged without decoding each one) against the reference (pagewalk.py
ranges_plain: one decode_entry per present entry) on every paging format: hand-made
tables with the cases the fast path special-cases, and random ones (hypothesis) built to
contain runs, carries out of the frame bits, reserved bits, PSE-36 frames, protection
keys and tables that point at each other."""

import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.paging import (BITS32, FIVE_LEVEL, FOUR_LEVEL, PAE, ranges,
                                   ranges_plain)

P, W, U, A, D, PS, G = 0x1, 0x2, 0x4, 0x20, 0x40, 0x80, 0x100
NX = 1 << 63
K4, M2, M4, G1 = 1 << 12, 1 << 21, 1 << 22, 1 << 30
FORMATS = (BITS32, PAE, FOUR_LEVEL, FIVE_LEVEL)


def page(entries: dict, size: int = 8, offset: int = 0) -> bytes:
    data = bytearray(4096)
    for index, value in entries.items():
        if offset + index * size + size <= 4096:
            struct.pack_into("<Q" if size == 8 else "<I", data, offset + index * size,
                             value & ((1 << size * 8) - 1))
    return bytes(data)


class Reader:
    def __init__(self, mem):
        self.mem, self.calls = mem, []

    def __call__(self, addr):
        self.calls.append(addr)
        if addr not in self.mem:
            raise OSError("no memory there")
        return self.mem[addr]


def both(mem, cr3, **kw):
    """(fast, plain) of the same tables; each reads every table it needs exactly once."""
    fast_reader, plain_reader = Reader(mem), Reader(mem)
    fast = ranges(fast_reader, cr3, **kw)
    plain = ranges_plain(plain_reader, cr3, **kw)
    assert sorted(fast_reader.calls) == sorted(plain_reader.calls)
    assert len(set(fast_reader.calls)) == len(fast_reader.calls)
    return fast, plain


def test_identity_map_of_512_2m_pages_is_one_range():
    """farjump's boot identity map: one PD of 512 2-MiB pages, then a 4-KiB PT."""
    mem = {0x1000: page({0: 0x2000 | P | W, 511: 0x4000 | P | W}),
           0x2000: page({0: 0x3000 | P | W}),
           0x3000: page({i: i * M2 | P | W | PS for i in range(512)}),
           0x4000: page({510: 0x5000 | P | W}),
           0x5000: page({0: 0x6000 | P | W}),
           0x6000: page({i: (0x100000 + i * K4) | P | (W if i >= 4 else 0) | NX * (i >= 4)
                         for i in range(60)})}
    fast, plain = both(mem, 0x1000)
    assert fast == plain
    assert [(r.virt, r.size, r.page_size) for r in fast.ranges] == [
        (0, G1, M2), (0xFFFFFFFF80000000, 4 * K4, K4), (0xFFFFFFFF80004000, 56 * K4, K4)]


def test_runs_that_must_break():
    """A run stops at: a flag change, a frame gap, a reserved bit, an accessed/dirty
    change (merged, ANDed), a carry out of the frame bits into XD / reserved bits."""
    top = (1 << 52) - M2          # the last 2-MiB frame with MAXPHYADDR 52
    pd = {0: 0 | P | W | PS, 1: M2 | P | W | PS, 2: 2 * M2 | P | PS,          # flags
          3: 5 * M2 | P | PS, 4: 6 * M2 | P | PS | A, 5: 7 * M2 | P | PS | A | D,   # gap, a/d
          6: 8 * M2 | P | PS | (1 << 13),                                  # reserved
          7: 9 * M2 | P | PS, 8: top | P | PS, 9: (top + M2) | P | PS,     # carry to bit 52
          10: (top + 2 * M2) | P | PS}
    mem = {0x1000: page({0: 0x2000 | P | W}), 0x2000: page({0: 0x3000 | P | W}),
           0x3000: page(pd)}
    fast, plain = both(mem, 0x1000, maxphyaddr=52)
    assert fast == plain and len(plain.problems) == 1
    # PD[3..5] differ only in A/D: one range, ANDed; PD[9] carried into bit 52
    # (ignored, not reserved): phys 0, a new range that PD[10] continues
    assert [(r.virt >> 21, r.size >> 21, r.accessed) for r in plain.ranges] == [
        (0, 2, False), (2, 1, False), (3, 3, False), (7, 1, False), (8, 1, False),
        (9, 2, False)]
    assert plain.ranges[-1].phys == 0
    pd36 = {**pd, 8: (1 << 36) - 2 * M2 | P | PS, 9: (1 << 36) - M2 | P | PS,
            10: (1 << 36) | P | PS}             # a carry into reserved bit 36
    mem[0x3000] = page(pd36)
    fast, plain = both(mem, 0x1000, maxphyaddr=36, nxe=False)
    assert fast == plain and len(plain.problems) == 2


def test_every_format_hand_made():
    pse36 = lambda phys: (phys & 0xFFC00000) | ((phys >> 32) << 13) | P | PS  # noqa: E731
    mem32 = {0x1000: page({0: pse36(0), 1: pse36(M4), 2: pse36(0x1_00000000 - M4),
                           3: pse36(0x1_00000000), 4: pse36(0x1_00400000),
                           5: 0x2000 | P | W | U, 6: 0xFFC00000 | P | PS | (1 << 21)}, 4),
             0x2000: page({i: (i * K4) | P | U for i in range(1024)}, 4)}
    for pse in (True, False):
        fast, plain = both(mem32, 0x1000, fmt=BITS32, maxphyaddr=40, pse=pse)
        assert fast == plain and fast.ranges
    mempae = {0x1000: page({0: 0x2000 | P, 3: 0x3000 | P | W}, 8, 0x20),
              0x2000: page({0: 0x4000 | P | W | U, 1: 0x200000 | P | W | PS | NX}),
              0x4000: page({i: (i * K4) | P | U | (NX if i & 1 else 0) for i in range(512)})}
    for nxe in (True, False):
        fast, plain = both(mempae, 0x1020, fmt=PAE, nxe=nxe)
        assert fast == plain and fast.ranges
    key = lambda k: k << 59  # noqa: E731
    mem5 = {0x1000: page({0: 0x2000 | P | W, 511: 0x2000 | P | W | U}),
            0x2000: page({0: 0x3000 | P | W, 511: 0x3000 | P}),
            0x3000: page({0: 0x4000 | P | W | U, 1: G1 | P | PS | key(3),
                          2: 2 * G1 | P | PS | key(3), 3: 3 * G1 | P | PS | key(4)}),
            0x4000: page({i: (i * M2) | P | PS | G for i in range(512)})}
    for fmt in (FOUR_LEVEL, FIVE_LEVEL):
        for pkeys in (True, False):
            fast, plain = both(mem5, 0x1000, fmt=fmt, pkeys=pkeys)
            assert fast == plain and fast.ranges


def test_bad_maxphyaddr_and_unreadable_tables_as_the_reference():
    mem = {0x1000: page({0: 0x2000 | P, 1: 0x9000 | P})}
    fast, plain = both(mem, 0x1000)
    assert fast == plain and len(plain.problems) == 2
    # out of range, the fast decoder leaves the answer to the reference (it delegates):
    # both refuse, in the reference's words
    for bad in (31, 53):
        for f in (ranges, ranges_plain):
            with pytest.raises(DecodeError, match=rf"^MAXPHYADDR {bad} not in 32\.\.52$"):
                f(Reader(mem), 0x1000, maxphyaddr=bad)


# ---- fuzz ---------------------------------------------------------------------------------
ADDRS = [0x1000 * i for i in range(1, 6)]
SPANS = [K4, M2, M4, G1]


@st.composite
def table_entries(draw):
    """A table's entries: random values, pointers to the other tables, and runs of
    pages stepping by a page size (some ending in a carry, some near 4 GiB)."""
    entries = draw(st.dictionaries(
        st.integers(0, 1023),
        st.one_of(st.integers(0, 2**64 - 1),
                  st.builds(lambda a, f: a | f, st.sampled_from(ADDRS),
                            st.integers(0, 0x1FF))),
        max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, 1023))
        n = draw(st.integers(1, 40))
        span = draw(st.sampled_from(SPANS))
        frame = draw(st.one_of(st.integers(0, 2**52 - 1),
                               st.sampled_from([0xFFC00000, 2**52 - 3 * span,
                                                2**40 - 2 * span, 2**32 - span]))) \
            & ~(span - 1)
        flags = draw(st.integers(0, 0x1FF)) | P
        high = draw(st.sampled_from([0, NX, 3 << 59, 1 << 13, 1 << 21, 1 << 51]))
        for i in range(n):
            entries[start + i] = ((frame + i * span) | flags | high) & (2**64 - 1)
    return entries


@st.composite
def memories(draw):
    fmt = draw(st.sampled_from(FORMATS))
    size = fmt.entry_size
    mem = {addr: page(draw(table_entries()), size) for addr in ADDRS[:-1]}
    if fmt is PAE:      # the PDPT at an offset in its page, CR3 bits 31:5
        offset = draw(st.sampled_from([0, 0x20, 0xFE0]))
        mem[0x1000] = page(draw(table_entries()), 8, offset)
        return fmt, mem, 0x1000 + offset
    return fmt, mem, 0x1000


@settings(max_examples=250, deadline=None)
@given(memories(), st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from([32, 36, 40, 46, 52]))
def test_fast_equals_plain_random(m, nxe, pse, pkeys, maxphyaddr):
    fmt, mem, cr3 = m
    fast, plain = both(mem, cr3, fmt=fmt, nxe=nxe, pse=pse, pkeys=pkeys,
                       maxphyaddr=maxphyaddr)
    assert fast == plain
    assert fast.to_dict() == plain.to_dict()
