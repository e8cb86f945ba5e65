"""fjgdb.decoders.triple on captured triple faults (fixtures/why/, see fixtures/README.md)
and on constructed states for the rules the captures do not reach."""
import dataclasses
from pathlib import Path

import pytest

from fjgdb.decoders.qemuregs import parse_info_registers
from fjgdb.decoders.triple import (delivery_problem, error_code_text, escalation,
                                   explain, mode_of, parse_log)
from fjgdb.render.why import render_text

FIX = Path(__file__).parent / "fixtures" / "why"


def load(name):
    log = (FIX / f"{name}.int.log").read_text()
    regs = parse_info_registers((FIX / f"{name}.regs.txt").read_text())
    low = (FIX / f"{name}.low.bin").read_bytes()

    def read(addr, size):
        return low[addr:addr + size] if addr + size <= len(low) else None
    return log, regs, read


def test_no_triple_fault_is_none():
    log, _, _ = load("pm_selector")
    assert parse_log(log[:log.index("Triple fault")]) is None
    assert parse_log("") is None


@pytest.mark.parametrize("name", ["real", "pm_selector", "lm_selector", "kernel_pf"])
def test_chain_shape(name):
    log, _, _ = load(name)
    chain = parse_log(log)
    first = 14 if name == "kernel_pf" else 13
    assert chain.raised == (first, 13, 8, 13)
    assert chain.during == (None, first, 13, 8)
    # real mode: QEMU logs no v= line at all; elsewhere the first fault and the #DF
    logged = [lg.vector if lg else None for lg in chain.logged]
    assert logged == ([None] * 4 if name == "real" else [first, None, 8, None])


def test_real_mode():
    log, regs, read = load("real")
    e = explain(parse_log(log), regs, read, b"\xcc")
    assert e.triple and e.mode == "real"
    first, nested, df, last = e.steps
    assert first.vector == 13 and first.error_code is None
    assert "while delivering INT 3" in first.reason and "IDT limit" in first.reason
    assert "vector 13's 4-byte entry" in nested.reason
    assert "#DF" in nested.escalation and "Table 6-5" in nested.escalation
    assert df.vector == 8
    assert "vector 8's 4-byte entry" in last.reason and "shut" in last.escalation


@pytest.mark.parametrize("name, mode, size", [("pm_selector", "protected", 8),
                                              ("lm_selector", "compatibility", 16)])
def test_bad_selector_far_jump(name, mode, size):
    log, regs, read = load(name)
    e = explain(parse_log(log), regs, read)
    first, nested, _, last = e.steps
    assert e.mode == mode
    assert first.error_code == 0x40 and first.source == "log"
    assert "past the GDT limit 0x27" in first.reason
    # the IVT read as an IDT: its entries are not gates; #GP(vector*8 + IDT + EXT)
    assert nested.error_code == 13 * 8 + 3 and "not a gate" in nested.reason
    assert f"{mode} mode" in nested.reason
    assert last.error_code == 8 * 8 + 3
    assert len(bytes.fromhex(nested.reason.split("raw 0x")[1].split(",")[0])) == size


def test_kernel_empty_idt_page_fault():
    log, regs, read = load("kernel_pf")
    e = explain(parse_log(log), regs, read)
    first, nested, df, last = e.steps
    assert (first.vector, first.error_code) == (14, 0)
    assert e.cr2 == 0xBADC0DE0000
    assert nested.error_code == 14 * 8 + 3 and "IDT limit" in nested.reason
    assert "16-byte entry" in nested.reason and "64-bit mode" in nested.reason
    assert "#PF (page fault)" in nested.escalation
    text = render_text(e)
    assert "CR2=0xbadc0de0000" in text and "IDTR base 0x0 limit 0x0" in text


def test_escalation_table():
    assert escalation(13, 13) == "double fault"        # contributory, contributory
    assert escalation(14, 14) == "double fault"        # page fault, page fault
    assert escalation(14, 13) == "double fault"        # page fault, contributory
    assert escalation(13, 14) == "serial"              # contributory, page fault
    assert escalation(3, 13) == "serial"               # benign first
    assert escalation(8, 14) == "shutdown"
    assert escalation(8, 6) == "serial"                # a benign one during #DF


def test_error_codes():
    assert error_code_text(14, 0x11) == "protection violation, read, supervisor, " \
        "instruction fetch"
    assert error_code_text(13, 0x73) == "IDT index 14, external event"
    assert error_code_text(13, 0x40) == "GDT index 8"


def _gate(offset, selector, type_bits, present=True):
    lo = (offset & 0xFFFF) | selector << 16 | type_bits << 40 | int(present) << 47 \
        | (offset >> 16 & 0xFFFF) << 48
    return lo.to_bytes(8, "little") + (offset >> 32).to_bytes(8, "little")


def test_gate_checks_in_long_mode():
    _, regs, _ = load("kernel_pf")
    regs = dataclasses.replace(regs, idt_base=0x1000, idt_limit=0xFFF, gdt_base=0x2000,
                               gdt_limit=0x27)
    assert mode_of(regs).name == "64-bit"
    gdt = bytes(8) + (0x00CF9A000000FFFF).to_bytes(8, "little") \
        + (0x00AF9A000000FFFF).to_bytes(8, "little") + bytes(16)

    def mem(gate):
        def read(addr, size):
            if 0x2000 <= addr < 0x2000 + len(gdt):
                return gdt[addr - 0x2000:addr - 0x2000 + size]
            return gate if addr == 0x1000 + 14 * 16 else None
        return read
    ok = delivery_problem(14, regs, mem(_gate(0xFFFFFFFF80100000, 0x10, 0xE)))
    assert ok.fault is None and "valid interrupt gate" in ok.reason
    np = delivery_problem(14, regs, mem(_gate(0x1234, 0x10, 0xE, present=False)))
    assert (np.fault, np.error_code) == (11, 14 * 8 + 3)
    compat = delivery_problem(14, regs, mem(_gate(0x1234, 0x08, 0xE)))
    assert compat.fault == 13 and "L=0" in compat.reason and compat.error_code == 0x08 | 1
    past = delivery_problem(14, regs, mem(_gate(0x1234, 0x48, 0xE)))
    assert past.fault == 13 and "past the GDT limit" in past.reason
    unmapped = delivery_problem(14, regs, lambda a, n: None)
    assert unmapped.fault == 14 and "not mapped" in unmapped.reason
