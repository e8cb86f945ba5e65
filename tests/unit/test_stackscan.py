"""stack_delta: stack depth of straight-line 16/32-bit code (the unwinder's scan)."""
import pytest

from fjgdb.decoders.stackscan import stack_delta


def test_16bit_pusha_and_pushes():
    # pusha; push ax; push dword eax (66 50); lodsb
    code = bytes.fromhex("60" "50" "6650" "ac")
    assert stack_delta(code, 0x7c00, 0x7c00, 16) == 0
    assert stack_delta(code, 0x7c00, 0x7c01, 16) == 16
    assert stack_delta(code, 0x7c00, 0x7c02, 16) == 18
    assert stack_delta(code, 0x7c00, 0x7c04, 16) == 22


def test_32bit_push_pop_sub_add():
    # push ebp; push 5 (6a 05); sub esp, 8 (83 ec 08); pop eax; add esp, 4 (83 c4 04)
    code = bytes.fromhex("55" "6a05" "83ec08" "58" "83c404" "90")
    assert stack_delta(code, 0x8000, 0x8001, 32) == 4
    assert stack_delta(code, 0x8000, 0x8003, 32) == 8
    assert stack_delta(code, 0x8000, 0x8006, 32) == 16
    assert stack_delta(code, 0x8000, 0x8007, 32) == 12
    assert stack_delta(code, 0x8000, 0x800A, 32) == 8


def test_16bit_pushf_popa():
    code = bytes.fromhex("9c" "60" "61" "9d" "90")   # pushf; pusha; popa; popf
    assert stack_delta(code, 0, 2, 16) == 18
    assert stack_delta(code, 0, 4, 16) == 0


@pytest.mark.parametrize("code,pc", [
    ("bc007c" "90", 3),          # mov sp, 0x7c00: depth unknown
    ("c9" "90", 1),              # leave
    ("5c" "90", 1),              # pop sp
])
def test_sp_writes_are_unknown(code, pc):
    assert stack_delta(bytes.fromhex(code), 0, pc, 16) is None


def test_pc_inside_an_instruction_is_unknown():
    code = bytes.fromhex("b80100" "90")             # mov ax, 1 ; nop
    assert stack_delta(code, 0, 1, 16) is None


def test_64bit_code():
    """The unwinder scans 64-bit NASM code too: 8-byte pushes, a 66h push is 2 bytes,
    'mov rsp' makes the depth unknown."""
    code = bytes.fromhex("50" "6650" "4883ec10" "90")     # push rax; push ax; sub rsp,16
    assert stack_delta(code, 0, len(code) - 1, 64) == 8 + 2 + 16
    mov = bytes.fromhex("48c7c400700000" "90")           # mov rsp, 0x7000
    assert stack_delta(mov, 0, 7, 64) is None
