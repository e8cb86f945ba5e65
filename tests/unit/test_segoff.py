"""SEG:OFF as fj break takes it (the disassembler's CS:IP comments), and QEMU's
qemu-system-i386 'info registers' (measured on QEMU 7.2, reset state)."""
import pytest
from hypothesis import given, strategies as st

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.qemuregs import parse_info_registers
from fjgdb.decoders.realmode import linear, parse_segoff
from fjgdb.decoders.snapshot import build_snapshot


def test_parse_segoff():
    assert parse_segoff("1020:006c") == (0x1020, 0x6C)
    assert parse_segoff("0xF000:0xE05B") == (0xF000, 0xE05B)
    assert parse_segoff(" 0:7c00 ") == (0, 0x7C00)
    assert parse_segoff("0x10200") is None and parse_segoff("&rm_entry") is None
    for bad in ("1:2:3", "xyz:0", "10000:0", "0:10000", ":"):
        with pytest.raises(DecodeError):
            parse_segoff(bad)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_segoff_round_trip(seg, off):
    assert parse_segoff(f"{seg:04x}:{off:04x}") == (seg, off)
    assert linear(*parse_segoff(f"{seg:x}:{off:x}")) == seg * 16 + off


I386_RESET = """CPU#0
EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000
EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
ES =0000 00000000 0000ffff 00009300
CS =f000 ffff0000 0000ffff 00009b00
SS =0000 00000000 0000ffff 00009300
DS =0000 00000000 0000ffff 00009300
FS =0000 00000000 0000ffff 00009300
GS =0000 00000000 0000ffff 00009300
LDT=0000 00000000 0000ffff 00008200
TR =0000 00000000 0000ffff 00008b00
GDT=     00000000 0000ffff
IDT=     00000000 0000ffff
CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000
DR0=00000000 DR1=00000000 DR2=00000000 DR3=00000000 
DR6=ffff0ff0 DR7=00000400
EFER=0000000000000000
FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80
"""


def test_qemu_system_i386_info_registers():
    q = parse_info_registers(I386_RESET)
    assert not q.long_format and q.rip == 0xFFF0 and q.reg("esp") == 0
    snap = build_snapshot(q)
    assert snap.real and snap.linear_pc == 0xFFFFFFF0 and snap.cs.selector == 0xF000
