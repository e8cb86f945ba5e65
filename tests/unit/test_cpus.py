"""Several CPUs: QEMU 7.2's 'info registers -a' (CPU#n blocks), the CPU#n header of a
single dump, the run state fj cpus shows, GDB thread -> cpu_index. Real captures
(fixtures/README.md) plus random text (hypothesis)."""
import os

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.cpus import cpu_of_thread, run_state
from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.qemuregs import parse_info_registers, parse_info_registers_all
from fjgdb.decoders.snapshot import build_snapshot

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


def test_all_cpus_of_farjump_at_ap_start():
    cpus = parse_info_registers_all(load("info_registers_all_ap_start_smp4.txt"))
    assert list(cpus) == [0, 1, 2, 3]
    assert all(q.cpu == n for n, q in cpus.items())
    snaps = {n: build_snapshot(q) for n, q in cpus.items()}
    assert (snaps[0].mode.mode, snaps[0].mode.bits) == ("long", 64)
    assert cpus[0].long_format and not cpus[1].long_format
    # The AP at its SIPI entry: CS = 0100h (vector 1), IP = 0, linear 0x1000.
    assert (snaps[1].mode.mode, snaps[1].cs.selector, snaps[1].pc, snaps[1].linear_pc) == \
        ("real", 0x100, 0, 0x1000)
    assert run_state(cpus[1]) == "running" and run_state(cpus[0]) == "running"
    for n in (2, 3):        # parked by SeaBIOS: halted in 32-bit protected mode
        assert (snaps[n].mode.mode, snaps[n].mode.bits, snaps[n].linear_pc) == \
            ("protected", 32, 0xFD09A)
        assert run_state(cpus[n]) == "halted"


def test_waiting_for_sipi_is_the_halted_reset_state():
    cpus = parse_info_registers_all(load("info_registers_all_reset_smp2.txt"))
    assert run_state(cpus[0]) == "running"      # the BSP at the reset vector, not halted
    assert run_state(cpus[1]) == "waiting for SIPI"


def test_single_dump_keeps_its_cpu_header():
    text = load("info_registers_all_ap_start_smp4.txt")
    assert parse_info_registers(text).cpu == 0          # the first block
    second = text[text.index("CPU#1"):]
    assert parse_info_registers(second).cpu == 1
    plain = load("info_registers_real_reset.txt")
    assert parse_info_registers(plain).cpu == 0         # QEMU 7.2 heads every dump
    assert parse_info_registers(plain.replace("CPU#0\n", "", 1)).cpu is None


def test_the_blocks_are_parsed_alike():
    text = load("info_registers_all_ap_start_smp4.txt")
    cpus = parse_info_registers_all(text)
    assert parse_info_registers(text[text.index("CPU#2"):text.index("CPU#3")]) == cpus[2]


def test_refusals():
    with pytest.raises(DecodeError, match="no CPU#n header"):
        parse_info_registers_all(load("info_registers_real_reset.txt").replace("CPU#0\n", ""))
    text = load("info_registers_all_reset_smp2.txt")
    with pytest.raises(DecodeError, match="CPU#0 twice"):
        parse_info_registers_all(text + text[text.index("CPU#0"):text.index("CPU#1")])
    broken = text.replace("CS =f000 ffff0000 0000ffff 00009b00", "CS =broken", 1)
    with pytest.raises(DecodeError, match="CPU#0: .*CS"):
        parse_info_registers_all(broken)


def test_thread_numbering():
    assert [cpu_of_thread(t) for t in (1, 2, 4)] == [0, 1, 3]
    with pytest.raises(ValueError):
        cpu_of_thread(0)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="CPU#0123456789abcdefEAXRIP=: \n", max_size=400))
def test_random_text_parses_or_raises_decode_error(text):
    try:
        cpus = parse_info_registers_all(text)
    except DecodeError:
        return
    assert all(isinstance(n, int) for n in cpus)
