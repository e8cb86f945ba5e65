"""Parsing QEMU 7.2 'info registers' (target/i386/cpu-dump.c) from real
captures (see fixtures/README.md)."""

import json
import os

import pytest
from hypothesis import given, settings, strategies as st

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.mode import cpu_mode
from fjgdb.decoders.qemuregs import parse_info_registers


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


def test_real_mode_reset_state():
    r = parse_info_registers(load("info_registers_real_reset.txt"))
    assert not r.long_format
    assert r.rip == 0xFFF0 and r.eip == 0xFFF0 and r.rflags == 0x2
    assert r.gprs["edx"] == 0x00060FB1 and r.reg("rdx") == 0x00060FB1
    assert set(r.gprs) == {"eax", "ebx", "ecx", "edx", "esi", "edi", "ebp",
                           "esp"}
    # CS =f000 ffff0000 0000ffff 00009b00: the reset CS cache
    cs = r.segments["cs"]
    assert (cs.selector, cs.base, cs.limit, cs.flags) == \
        (0xF000, 0xFFFF0000, 0xFFFF, 0x9B00)
    assert cs.type == "code" and not cs.db
    assert (r.gdt_base, r.gdt_limit, r.idt_base, r.idt_limit) == \
        (0, 0xFFFF, 0, 0xFFFF)
    assert (r.cr0, r.cr2, r.cr3, r.cr4, r.efer) == (0x60000010, 0, 0, 0, 0)
    assert r.cpl == 0 and not r.halted and r.a20 and not r.smm
    assert r.dr["dr7"] == 0x400
    assert list(r.segments) == ["es", "cs", "ss", "ds", "fs", "gs", "ldt",
                                "tr"]
    m = cpu_mode(r.cr0, r.cr4, r.efer, r.cs, r.rflags)
    assert (m.mode, m.bits) == ("real", 16)
    json.dumps(r.to_dict())


def test_monitor_transcript_with_prompt_and_escapes():
    a = parse_info_registers(load("info_registers_real_reset.txt"))
    b = parse_info_registers(
        load("info_registers_real_reset_monitor_transcript.txt"))
    assert a == b


def test_protected_mode_seabios():
    r = parse_info_registers(load("info_registers_prot32_seabios.txt"))
    assert not r.long_format and r.halted
    assert r.rip == 0x12839 and r.rflags == 0x246
    assert r.gprs["ebp"] == 0x9CCC2F10
    # CS =0008 07f3d000 ffffffff 00cf9f00: type 0xf = code, execute/read,
    # conforming, accessed; D=1 -> 32-bit
    cs = r.cs
    assert (cs.selector, cs.base, cs.limit) == (0x8, 0x07F3D000, 0xFFFFFFFF)
    assert cs.type_name == "code, execute/read, conforming" and cs.db
    assert r.segments["ds"].type_name == "data, read/write"
    assert r.segments["tr"].type_name == "32-bit TSS (busy)"
    assert r.segments["ldt"].type_name == "LDT"
    assert (r.gdt_base, r.gdt_limit) == (0x9CD30, 0x47)
    assert (r.idt_base, r.idt_limit) == (0x07F5CFB0, 0x7FF)
    assert r.cr0 == 0x11
    m = cpu_mode(r.cr0, r.cr4, r.efer, r.cs, r.rflags)
    assert (m.mode, m.bits) == ("protected", 32)


def test_long_mode_ovmf():
    r = parse_info_registers(load("info_registers_long64_ovmf.txt"))
    assert r.long_format
    assert r.rip == 0x7F1058A and r.rflags == 0x6
    assert r.gprs["rax"] == 0xAF and r.gprs["r8"] == 0xAF
    assert r.gprs["r15"] == 0x7F134D0 and len(r.gprs) == 16
    assert r.reg("eax") == 0xAF
    # CS =0018 0000000000000000 ffffffff 00af9b00: L=1 -> 64-bit code
    assert r.cs.selector == 0x18 and r.cs.long and not r.cs.db
    assert r.segments["tr"].type_name == "64-bit TSS (busy)"
    assert (r.gdt_base, r.gdt_limit) == (0xFFFFFEE0, 0x27)
    assert (r.idt_base, r.idt_limit) == (0x3B94D70, 0x21F)
    assert (r.cr0, r.cr3, r.cr4, r.efer) == (0x80010033, 0x7801000, 0x660,
                                             0xD00)
    m = cpu_mode(r.cr0, r.cr4, r.efer, r.cs, r.rflags)
    assert (m.mode, m.bits, m.submode) == ("long", 64, "64-bit")
    assert m.nxe and m.pae and m.paging


def test_compat_mode_constructed():
    r = parse_info_registers(load("info_registers_compat32_constructed.txt"))
    assert not r.long_format and r.cpl == 3
    assert r.segments["tr"].base == 0xFFFFFE0000003000
    assert r.gdt_base == 0xFFFFFE0000001000 and r.cr3 == 0x1234000
    m = cpu_mode(r.cr0, r.cr4, r.efer, r.cs, r.rflags)
    assert (m.mode, m.bits, m.submode) == ("long", 32, "compatibility")


def test_not_info_registers():
    with pytest.raises(DecodeError):
        parse_info_registers("hello world\n")
    with pytest.raises(DecodeError):
        parse_info_registers("(qemu) info registers\nCPU#0\n")
    text = load("info_registers_long64_ovmf.txt")
    cut = "\n".join(l for l in text.splitlines() if not l.startswith("TR "))
    with pytest.raises(DecodeError, match="TR"):
        parse_info_registers(cut)


def test_first_cpu_of_several():
    a = load("info_registers_prot32_seabios.txt")
    b = load("info_registers_long64_ovmf.txt").replace("CPU#0", "CPU#1")
    r = parse_info_registers(a + b)
    assert not r.long_format and r.rip == 0x12839


_LINES = load("info_registers_long64_ovmf.txt").splitlines()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_random_text(text):
    try:
        parse_info_registers(text)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_LINES), max_size=30),
       st.text(alphabet="0123456789abcdefRAXEIP= \n", max_size=60))
def test_random_mixed_lines(lines, noise):
    try:
        parse_info_registers("\n".join(lines) + noise)
    except DecodeError:
        pass
