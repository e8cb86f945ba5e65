"""IDT gates, worked out by hand from Intel SDM Vol. 3A §6.11 (Figure 6-2)
and §6.14.1 (Figure 6-8, 64-bit gates)."""

import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.idt import decode_gate, decode_idt
from fjgdb.render.idt import format_idt


def q(value: int) -> bytes:
    return struct.pack("<Q", value)


# 64-bit interrupt gate, handler 0xffffffff81000abc, selector 0x08, IST 1:
#   offset 15:0 = 0x0abc, selector 0x0008, byte 4 = IST 1,
#   byte 5 = 0x8e (P=1, DPL 0, type 0xe), offset 31:16 = 0x8100,
#   second quadword: offset 63:32 = 0xffffffff.
INT64 = q(0x81008E01_00080ABC) + q(0x00000000_FFFFFFFF)
# 64-bit trap gate, DPL 3, handler 0x401000: byte 5 = 0xef (P, DPL 3, 0xf).
TRAP64_DPL3 = q(0x0040EF00_00081000) + q(0)
# 32-bit interrupt gate, handler 0x00101234, selector 0x08: byte 5 = 0x8e.
INT32 = q(0x00108E00_00081234)


def test_64bit_interrupt_gate_ist1():
    g = decode_gate(INT64, 14, long_mode=True)
    assert g.gate_type == "interrupt" and g.bits == 64
    assert g.offset == 0xFFFFFFFF81000ABC
    assert g.selector == 0x08 and g.ist == 1 and g.dpl == 0 and g.present
    assert g.note is None
    assert g.raw == int.from_bytes(INT64, "little")


def test_64bit_trap_gate_dpl3():
    g = decode_gate(TRAP64_DPL3, 3, long_mode=True)
    assert (g.gate_type, g.bits, g.dpl, g.ist) == ("trap", 64, 3, 0)
    assert g.offset == 0x401000


def test_32bit_interrupt_gate():
    g = decode_gate(INT32, 32, long_mode=False)
    assert (g.gate_type, g.bits, g.offset, g.selector, g.ist) == \
        ("interrupt", 32, 0x00101234, 0x08, 0)


def test_legacy_task_and_16bit_gates():
    # task gate: type 5, byte 5 = 0x85, TSS selector 0x28, offset unused
    g = decode_gate(q(0x00008500_00280000), 8, long_mode=False)
    assert (g.gate_type, g.selector, g.offset, g.bits) == ("task", 0x28, 0, 0)
    # 16-bit trap gate: type 7 -> byte 5 = 0x87
    g = decode_gate(q(0x00008700_F0001234), 1, long_mode=False)
    assert (g.gate_type, g.bits, g.selector, g.offset) == \
        ("trap", 16, 0xF000, 0x1234)


def test_empty_reserved_not_present():
    assert decode_gate(bytes(16), 0, True).gate_type == "empty"
    # task gate type is reserved in IA-32e mode
    g = decode_gate(q(0x00008500_00280000) + q(0), 8, long_mode=True)
    assert g.gate_type == "reserved"
    # P=0 interrupt gate still decodes, present False
    g = decode_gate(q(0x00000E00_00081000) + q(0), 9, long_mode=True)
    assert g.gate_type == "interrupt" and not g.present
    # reserved upper dword set -> note, no exception
    g = decode_gate(INT64[:12] + b"\x01\x00\x00\x00", 1, True)
    assert g.note and "reserved" in g.note


def test_wrong_length():
    with pytest.raises(DecodeError):
        decode_gate(INT32, 0, long_mode=True)
    with pytest.raises(DecodeError):
        decode_gate(INT64, 0, long_mode=False)


def test_decode_idt_and_format():
    table = INT64 + bytes(16) + TRAP64_DPL3
    t = decode_idt(table, 0xFFFF800000001000, len(table) - 1, True)
    assert [g.gate_type for g in t.gates] == ["interrupt", "empty", "trap"]
    assert [g.vector for g in t.gates] == [0, 1, 2]
    json.dumps(t.to_dict())
    text = format_idt(t, symbolize=lambda a: {0x401000: "trap_handler"}
                      .get(a))
    assert "trap_handler" in text and "0xffffffff81000abc" in text
    assert "#DE" in text and "1 empty" in text
    with pytest.raises(DecodeError):
        decode_idt(table[:-1], 0, len(table) - 1, True)
    # limit 0x17 in legacy mode: 3 gates
    t = decode_idt(INT32 * 3, 0, 0x17, False)
    assert len(t.gates) == 3 and t.gates[2].vector == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=20), st.integers(0, 255),
       st.booleans())
def test_decode_gate_random(raw, vector, long_mode):
    try:
        g = decode_gate(raw, vector, long_mode)
    except DecodeError:
        return
    assert g.bits in (0, 16, 32, 64)
    json.dumps(g.to_dict())


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(-1, 0x10001),
       st.booleans())
def test_decode_idt_random(table, limit, long_mode):
    try:
        t = decode_idt(table, 0, limit, long_mode)
    except DecodeError:
        return
    format_idt(t, show_empty=True)


def test_exception_table_comes_from_the_contract():
    from fjgdb.decoders.idt import ERROR_CODE_VECTORS, EXCEPTIONS, exception_info
    from fjgdb.render.idt import exception_label
    assert [e.vector for e in EXCEPTIONS] == list(range(32))
    assert ERROR_CODE_VECTORS == {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
    assert {e.vector for e in EXCEPTIONS if e.has_error_code} == ERROR_CODE_VECTORS
    assert exception_info(14).name == "Page Fault" and exception_info(32) is None
    assert [exception_label(v) for v in (0, 2, 8, 14, 15, 21, 31, 32)] == \
        ["#DE", "NMI", "#DF", "#PF", "", "#CP", "", ""]
