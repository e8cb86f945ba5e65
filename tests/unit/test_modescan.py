"""The sweep for mode-changing instructions (fjgdb.decoders.modescan), on hand-assembled
code (bytes from the SDM's opcode tables) and random bytes."""
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.modescan import classify, scan

MOV_CR0_EAX = bytes.fromhex("0f22c0")            # mov cr0, eax
MOV_CR3_EAX = bytes.fromhex("0f22d8")            # mov cr3, eax: not a mode change
WRMSR = bytes.fromhex("0f30")
LJMP16 = bytes.fromhex("66ea23020100" "0800")     # jmp dword 0x08:0x10223 (16-bit code)
RETFQ = bytes.fromhex("48cb")
CALL_REL = bytes.fromhex("e8fbff")               # call rel16 (16-bit code)
JMP_EAX = bytes.fromhex("ffe0")                  # jmp eax


def test_scan_16_bit():
    code = b"\x90" + MOV_CR0_EAX + LJMP16 + CALL_REL + MOV_CR3_EAX
    found = scan(code, 0, 16, linear_base=0x10200, window=(0, 0x10000))
    assert [(c.addr, c.kind) for c in found] == [(0x10201, "mode"), (0x10204, "mode")]
    assert found[0].text == "mov cr0, eax" and found[1].size == 8


def test_scan_32_and_64_bit():
    found = scan(WRMSR + JMP_EAX + b"\xc3", 0x100000, 32)
    assert [(c.addr, c.kind, c.text) for c in found] == [
        (0x100000, "mode", "wrmsr"), (0x100002, "leave", "jmp eax")]
    assert [(c.addr, c.text) for c in scan(RETFQ, 0x1000, 64)] == [(0x1000, "retfq")]
    # a direct call inside the window is not a candidate; outside it is
    assert classify("call", "0x1000", (0, 0x2000)) is None
    assert classify("call", "0x9000", (0, 0x2000)) == "leave"
    assert classify("ljmp", "0x10:0x100000", (0, 1)) == "mode"
    assert classify("iretd", "", (0, 1)) == "mode"
    assert classify("mov", "eax, cr0", (0, 1)) is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([16, 32, 64]), st.integers(0, 64))
def test_random_code_and_a_planted_mov_cr0(junk, bits, sled):
    """Random bytes never crash the sweep; a mov cr0 behind a NOP sled right after the
    given start is always found at its address (positive check)."""
    code = b"\x90" * sled + MOV_CR0_EAX + junk
    found = scan(code, 0x4000, bits)
    assert any(c.addr == 0x4000 + sled and c.text.startswith("mov cr0, ") for c in found)
    for c in found:
        assert 0x4000 <= c.addr < 0x4000 + len(code) and c.kind in ("mode", "leave")
