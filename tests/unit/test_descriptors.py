"""Segment descriptors, worked out by hand from Intel SDM Vol. 3A §3.4.5
(Figure 3-8), Table 3-1 (code/data types), Table 3-2 (system types) and
§7.2.3 (Figure 7-4, 16-byte TSS descriptor)."""

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.descriptors import (
    UNUSED_SLOT0, decode_descriptor, decode_gdt, real_mode_segment, segment_from_cache)
from fjgdb.decoders.errors import DecodeError
from fjgdb.render.descriptors import format_gdt, format_segments


def q(value: int) -> bytes:
    return struct.pack("<Q", value)


def test_flat_32bit_code():
    # 0x00cf9a000000ffff: limit 15:0 = 0xffff, base 0; byte 5 = 0x9a ->
    # P=1, DPL=0, S=1, type 0xa (code, execute/read, not accessed);
    # byte 6 = 0xcf -> G=1, D=1, L=0, AVL=0, limit 19:16 = 0xf.
    # raw limit 0xfffff with G=1 -> (0xfffff << 12) | 0xfff = 0xffffffff.
    d = decode_descriptor(q(0x00CF9A000000FFFF), 1, long_mode=False)
    assert d.type == "code"
    assert d.type_name == "code, execute/read"
    assert d.type_bits == 0xA
    assert (d.base, d.raw_limit, d.limit) == (0, 0xFFFFF, 0xFFFFFFFF)
    assert d.granularity and d.db and not d.long and not d.avl
    assert d.present and d.dpl == 0
    assert d.readable is True and d.conforming is False
    assert d.writable is None and d.expand_down is None
    assert d.accessed is False
    assert (d.index, d.selector, d.size) == (1, 8, 8)
    assert d.raw == 0x00CF9A000000FFFF


def test_64bit_code():
    # 0x00af9a000000ffff: byte 6 = 0xaf -> G=1, D=0, L=1: 64-bit code
    # (SDM §5.2.1: L=1 requires D=0).
    d = decode_descriptor(q(0x00AF9A000000FFFF), 1, long_mode=True)
    assert d.type == "code" and d.long and not d.db
    assert d.size == 8


def test_flat_data_rw():
    # 0x00cf92000000ffff: type 0x2 = data, read/write; D/B=1 (B, 32-bit).
    d = decode_descriptor(q(0x00CF92000000FFFF), 2, long_mode=False)
    assert d.type == "data"
    assert d.type_name == "data, read/write"
    assert d.writable is True and d.expand_down is False
    assert d.readable is True and d.conforming is None
    assert d.selector == 0x10 and d.limit == 0xFFFFFFFF


def test_16bit_code_with_4k_granularity():
    # 0x008f9a000000ffff: byte 6 = 0x8f -> G=1, D=0, L=0: 16-bit code whose
    # limit is still 0xfffff 4-KiB units = 0xffffffff bytes.
    d = decode_descriptor(q(0x008F9A000000FFFF), 3, long_mode=False)
    assert d.type == "code" and not d.db and not d.long
    assert d.granularity and d.limit == 0xFFFFFFFF


def test_byte_granular_expand_down_dpl3():
    # base 0x12345678 split as 31:24=0x12 (byte 7), 23:16=0x34 (byte 4),
    # 15:0=0x5678 (bytes 2-3); limit 0xffff; byte 5 = P|DPL3|S|type 6 =
    # 0x80|0x60|0x10|0x6 = 0xf6 (data, read/write, expand-down);
    # byte 6 = 0x40 (G=0, B=1, limit 19:16 = 0) -> limit stays 0xffff.
    raw = 0x1240F634_5678FFFF
    d = decode_descriptor(q(raw), 4, long_mode=False)
    assert d.base == 0x12345678
    assert d.limit == d.raw_limit == 0xFFFF and not d.granularity
    assert d.dpl == 3
    assert d.type_name == "data, read/write, expand-down"
    assert d.expand_down is True


def test_accessed_conforming_code():
    # type 0xf = code, execute/read, conforming, accessed.
    d = decode_descriptor(q(0x00CF9F000000FFFF), 1, long_mode=False)
    assert d.type_name == "code, execute/read, conforming"
    assert d.accessed is True and d.conforming is True


# 64-bit TSS at 0xffffffff81234000, limit 0x67 (104-byte TSS - 1):
#   low:  base 31:24 = 0x81 (byte 7), byte 6 = 0x00 (G=0, limit 19:16 = 0),
#         byte 5 = 0x89 (P=1, DPL=0, S=0, type 9 = 64-bit TSS available),
#         base 23:16 = 0x23, base 15:0 = 0x4000, limit 15:0 = 0x0067
#   high: base 63:32 = 0xffffffff, rest zero.
TSS_LOW = 0x81008923_40000067
TSS_HIGH = 0x00000000_FFFFFFFF


def test_64bit_tss_16_bytes_base_above_4g():
    d = decode_descriptor(q(TSS_LOW) + q(TSS_HIGH), 5, long_mode=True)
    assert d.type == "system"
    assert d.type_name == "64-bit TSS (available)"
    assert d.base == 0xFFFFFFFF81234000
    assert d.limit == 0x67 and d.size == 16
    assert d.raw == TSS_LOW and d.raw_high == TSS_HIGH
    assert d.accessed is None and d.readable is None and d.writable is None


def test_tss_busy_name():
    # type 0xb = busy: byte 5 = 0x8b
    d = decode_descriptor(q(TSS_LOW | (0x2 << 40)) + q(TSS_HIGH), 5, True)
    assert d.type_name == "64-bit TSS (busy)"


def test_32bit_tss_legacy_8_bytes():
    d = decode_descriptor(q(TSS_LOW), 5, long_mode=False)
    assert d.type_name == "32-bit TSS (available)"
    assert d.base == 0x81234000 and d.size == 8


def test_ldt_long_and_legacy():
    # LDT at 0x5000, limit 0xfff: byte 5 = 0x82 (P=1, S=0, type 2).
    low = 0x00008200_50000FFF
    d = decode_descriptor(q(low) + q(0), 6, long_mode=True)
    assert (d.type_name, d.base, d.limit, d.size) == ("LDT", 0x5000, 0xFFF, 16)
    d = decode_descriptor(q(low), 6, long_mode=False)
    assert (d.type_name, d.size) == ("LDT", 8)


def test_legacy_gate_names():
    # type 0xe in a GDT, legacy = 32-bit interrupt gate; type 0xc call gate
    d = decode_descriptor(q(0x00008E00_00080000), 7, long_mode=False)
    assert d.type_name == "32-bit interrupt gate"
    d = decode_descriptor(q(0x00008C00_00080000), 7, long_mode=False)
    assert d.type_name == "32-bit call gate"


def test_null():
    d = decode_descriptor(bytes(8), 0, long_mode=True)
    assert d.type == "null" and d.type_name == "null" and not d.present


def test_length_errors():
    with pytest.raises(DecodeError):
        decode_descriptor(bytes(7), 0, False)
    # a TSS needs 16 bytes in long mode
    with pytest.raises(DecodeError):
        decode_descriptor(q(TSS_LOW), 5, long_mode=True)
    # a code segment is never 16 bytes
    with pytest.raises(DecodeError):
        decode_descriptor(q(0x00AF9A000000FFFF) + q(0), 1, long_mode=True)
    # upper half of a 16-byte descriptor must have type bits 12:8 == 0
    with pytest.raises(DecodeError):
        decode_descriptor(q(TSS_LOW) + q(1 << 40), 5, long_mode=True)


GDT64 = (q(0) + q(0x00AF9A000000FFFF) + q(0x00CF92000000FFFF)
         + q(TSS_LOW) + q(TSS_HIGH))


def test_gdt_long_mode_with_tss():
    # 5 slots: limit = 5*8 - 1 = 0x27; the TSS eats slots 3 and 4.
    t = decode_gdt(GDT64, 0x8070, 0x27, long_mode=True)
    assert [e.index for e in t.entries] == [0, 1, 2, 3]
    assert [e.selector for e in t.entries] == [0, 8, 0x10, 0x18]
    assert [e.type for e in t.entries] == ["null", "code", "data", "system"]
    assert t.entries[3].base == 0xFFFFFFFF81234000
    d = t.to_dict()
    assert d["base"] == 0x8070 and d["limit"] == 0x27
    json.dumps(d)  # JSON-ready
    text = format_gdt(t)
    assert "64-bit TSS (available)" in text and "0xffffffff81234000" in text
    assert len(text.splitlines()) == 2 + 4


def test_gdt_limit_handling():
    with pytest.raises(DecodeError):
        decode_gdt(GDT64[:-1], 0, 0x27, True)     # fewer than limit+1 bytes
    # limit+1 = 20: two whole entries, 4-byte tail ignored
    t = decode_gdt(GDT64, 0, 19, True)
    assert len(t.entries) == 2
    # limit cuts the TSS in half: decoded from 8 bytes with a note
    t = decode_gdt(GDT64, 0, 0x1F, True)
    assert t.entries[-1].size == 8 and "truncated" in t.entries[-1].note
    # legacy mode: every slot is 8 bytes
    t = decode_gdt(GDT64, 0, 0x27, False)
    assert len(t.entries) == 5


def test_gdt_bad_upper_half_is_noted_not_fatal():
    table = q(0) + q(TSS_LOW) + q(0x1F << 40)
    t = decode_gdt(table, 0, len(table) - 1, True)
    assert t.entries[1].size == 16 and "upper half" in t.entries[1].note


def test_gdt_slot0_is_never_a_descriptor():
    """Slot 0 of a GDT is not used by the CPU (SDM Vol. 3A 3.4.2): Linux's GDT pointer there
    (limit 0x2f, base 0x8d7010) is shown as data, and bytes that look like a 16-byte TSS
    never swallow slot 1; an LDT's slot 0 is a descriptor."""
    linux = q(0x0000_008D_7010_002F) + q(0x00AF9A000000FFFF)
    t = decode_gdt(linux, 0, len(linux) - 1, True)
    e = t.entries[0]
    assert (e.type, e.type_name, e.raw, e.size) == ("null", UNUSED_SLOT0,
                                                   0x0000_008D_7010_002F, 8)
    assert not e.present and e.base == 0
    assert [x.type for x in t.entries] == ["null", "code"]
    line = format_gdt(t).splitlines()[2]
    assert UNUSED_SLOT0 in line and "0x0000008d7010002f" in line and "reserved" not in line
    tss0 = q(TSS_LOW) + q(TSS_HIGH) + q(0x00AF9A000000FFFF)
    t = decode_gdt(tss0, 0, len(tss0) - 1, True)
    assert [(x.index, x.size) for x in t.entries] == [(0, 8), (1, 8), (2, 8)]
    assert t.entries[0].type == "null" and t.entries[2].type == "code"
    # an empty slot 0 stays a plain null; an LDT decodes its slot 0
    assert decode_gdt(GDT64, 0, 0x27, True).entries[0].type_name == "null"
    ldt = decode_gdt(tss0, 0, len(tss0) - 1, True, gdt=False)
    assert ldt.entries[0].type == "system" and ldt.entries[0].size == 16


def test_segment_cache_from_qemu_flags():
    # QEMU 'CS =0008 0000000000000000 ffffffff 00af9b00': flags 0x00af9b00 ->
    # type 0xb (code exec/read accessed), S=1, DPL 0, P, L=1, D=0, G=1.
    s = segment_from_cache("CS", 0x08, 0, 0xFFFFFFFF, 0x00AF9B00)
    assert s.name == "cs"
    assert s.type == "code" and s.type_name == "code, execute/read"
    assert s.long and not s.db and s.granularity and s.present
    assert s.accessed is True and s.dpl == 0
    assert (s.index, s.ti, s.rpl) == (1, 0, 0)
    # user data selector 0x2b = index 5, GDT, RPL 3
    s = segment_from_cache("ss", 0x2B, 0, 0xFFFFFFFF, 0x00CFF300)
    assert (s.index, s.ti, s.rpl, s.dpl) == (5, 0, 3, 3)
    s = segment_from_cache("tr", 0x40, 0x1000, 0x67, 0x8B00, long_mode=True)
    assert s.type == "system" and s.type_name == "64-bit TSS (busy)"
    assert s.accessed is None
    d = s.to_dict()
    assert d["type_name"] == "64-bit TSS (busy)" and d["index"] == 8
    json.dumps(d)


def test_real_mode_segment():
    s = real_mode_segment("ds", 0x07C0)
    assert (s.base, s.limit) == (0x7C00, 0xFFFF)
    assert s.type == "data" and s.writable
    assert real_mode_segment("cs", 0xF000).type == "code"
    assert "0x07c0" in format_segments({"ds": s})


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=20), st.integers(0, 8191),
       st.booleans())
def test_decode_descriptor_random(raw, index, long_mode):
    try:
        d = decode_descriptor(raw, index, long_mode)
    except DecodeError:
        return
    assert d.size == len(raw)
    json.dumps(d.to_dict())


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=200), st.integers(-2, 0x10001),
       st.booleans())
def test_decode_gdt_random(table, limit, long_mode):
    try:
        t = decode_gdt(table, 0x1000, limit, long_mode)
    except DecodeError:
        return
    assert sum(e.size for e in t.entries) <= limit + 1
    format_gdt(t)
