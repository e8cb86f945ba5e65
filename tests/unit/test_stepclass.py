"""classify: could one instruction change the mode or hidden CPU state (the per-stop
cache's fast path), which PCs may follow it, and does it write memory. Checked by hand,
against Capstone on every instruction of farjump's own stages and kernel, and on random
bytes (hypothesis): never raises, lengths agree with Capstone whenever it is not
'refresh', and every instruction of the mode-changing kinds is 'refresh'."""
from pathlib import Path

import capstone
import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.stepclass import Step, classify

ROOT = Path(__file__).resolve().parents[2]
MODES = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}

#: Capstone mnemonics of instructions that may change the mode or state fj caches
#: beyond GDB's registers: each must be classified 'refresh'.
MUST_REFRESH = {
    "ljmp", "lcall", "retf", "retfq", "iret", "iretd", "iretq", "int", "int3", "into",
    "int1", "syscall", "sysret", "sysretq", "sysenter", "sysexit", "sysexitq", "lgdt",
    "lidt", "lldt", "ltr", "lmsw", "clts", "wrmsr", "rsm", "swapgs", "wrfsbase",
    "wrgsbase", "hlt", "in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd",
    "lds", "les", "lss", "lfs", "lgs", "mwait", "xsetbv", "ud2", "enter", "ud0", "ud1",
}


def cs_insn(code: bytes, bits: int):
    md = capstone.Cs(capstone.CS_ARCH_X86, MODES[bits])
    return next(md.disasm(code, 0, 1), None)


def must_refresh(insn) -> bool:
    m = insn.mnemonic.split()[-1]          # "rep movsb" -> movsb; "lock add" -> add
    if m in MUST_REFRESH:
        return True
    if m == "mov" and any(r in insn.op_str.split(",")[0]
                          for r in ("cr", "dr", "ds", "es", "ss", "fs", "gs", "cs")):
        return insn.op_str.split(",")[0].strip() in (
            "ds", "es", "ss", "fs", "gs", "cs") or insn.op_str.startswith(("cr", "dr"))
    if m == "pop" and insn.op_str.strip() in ("ds", "es", "ss", "fs", "gs"):
        return True
    # far jumps and calls are ljmp/lcall in capstone; a ':' in a near one's operand is a
    # segment override (jmp word ptr gs:[di - 0x23])
    return False


# ---- by hand --------------------------------------------------------------------------------
@pytest.mark.parametrize("hexcode,bits,reason", [
    ("ea007c0000", 16, "far jmp"), ("66ea00100000 0800", 16, "far jmp"),
    ("ff2e0010", 16, "far call/jmp through memory"), ("cb", 32, "far ret"),
    ("48cf", 64, "iret"), ("cd10", 16, "int"), ("cc", 64, "int3"), ("0f05", 64, "syscall"),
    ("0f07", 64, "sysret"), ("0f34", 32, "sysenter"), ("0f35", 32, "sysexit"),
    ("0f0116 0060", 16, "lgdt"), ("0f011d00000000", 32, "lidt"), ("0f00d0", 32, "lldt/ltr"),
    ("0f00d8", 64, "lldt/ltr"), ("0f22c0", 32, "mov to cr"), ("440f22c0", 64, "mov to cr"),
    ("0f30", 64, "wrmsr"), ("0faa", 32, "rsm"), ("8ed8", 16, "mov sreg"),
    ("1f", 32, "pop sreg"), ("e692", 16, "in/out (port I/O)"), ("f4", 64, "hlt"),
    ("0f01f8", 64, "swapgs"), ("f3480faed0", 64, "wrfsbase/wrgsbase"),
    ("0f01f0", 32, "lmsw"), ("0f06", 32, "clts"), ("0f23c0", 64, "mov to dr"),
    ("c5f877", 64, "les/lds or VEX"), ("0fb2", 32, "lss/lfs/lgs"), ("0f", 32, "truncated or longer than 15 bytes"),
])
def test_refresh_kinds(hexcode, bits, reason):
    s = classify(bytes.fromhex(hexcode.replace(" ", "")), bits, 0x7c00)
    assert s.refresh and s.reason == reason
    assert not s.allows(0x7c00, 0x7c05, 0, 0, 0xFFFF, 0xFFFF)


def test_plain_falls_through_only():
    s = classify(bytes.fromhex("4889e5"), 64, 0xffffffff80100000)     # mov rbp, rsp
    assert (s.length, s.refresh, s.writes) == (3, False, False)
    assert s.allows(0xffffffff80100000, 0xffffffff80100003, 0x100, 0x100, -1 % 2**64, -1 % 2**64)
    # anywhere else (an exception handler) is not explained by the instruction
    assert not s.allows(0xffffffff80100000, 0xffffffff80100a00, 0x100, 0x80, -1 % 2**64,
                        -1 % 2**64)


def test_memory_writes():
    assert classify(bytes.fromhex("c70500100000ffffffff"), 32).writes   # mov [0x1000], imm
    assert not classify(bytes.fromhex("8b0500100000"), 32).writes       # mov eax, [0x1000]
    assert not classify(bytes.fromhex("3b0500100000"), 32).writes       # cmp eax, [..]
    assert not classify(bytes.fromhex("390500100000"), 32).writes       # cmp [..], eax
    assert classify(bytes.fromhex("010500100000"), 32).writes           # add [..], eax
    assert classify(bytes.fromhex("55"), 64).writes                     # push rbp
    assert classify(bytes.fromhex("f3aa"), 32).writes                   # rep stosb


def test_branches_16bit_wrap_and_targets():
    s = classify(bytes.fromhex("ebfe"), 16, 0x7c10)                     # jmp $
    assert s.targets == (0x7c10,) and s.allows(0x7c10, 0x7c10, 0, 0, 0xFFFF, 0xFFFF)
    s = classify(bytes.fromhex("e9fdff"), 16, 0xFFFE)                   # jmp $ (rel16 -3)
    assert s.targets == ((0xFFFE + 3 - 3) & 0xFFFF,)
    s = classify(bytes.fromhex("e90500"), 16, 0xFFFE)                   # jmp +5: wraps IP
    assert s.targets == (0x0006,)
    s = classify(bytes.fromhex("7405"), 32, 0x8000)                     # jz +5
    assert s.allows(0x8000, 0x8002, 0, 0, 2**32 - 1, 2**32 - 1)
    assert s.allows(0x8000, 0x8007, 0, 0, 2**32 - 1, 2**32 - 1)
    assert not s.allows(0x8000, 0x8006, 0, 0, 2**32 - 1, 2**32 - 1)


def test_call_is_its_target_only():
    # a near call's fall-through is where 'nexti' ends after the whole callee ran
    s = classify(bytes.fromhex("e810000000"), 64, 0x1000)
    assert s.targets == (0x1015,) and not s.fall_through
    assert not s.allows(0x1000, 0x1005, 0x2000, 0x1ff8, 2**64 - 1, 2**64 - 1)
    assert s.allows(0x1000, 0x1015, 0x2000, 0x1ff8, 2**64 - 1, 2**64 - 1)


def test_indirect_branches_check_the_stack():
    ret = classify(bytes.fromhex("c3"), 64, 0x1000)
    assert ret.indirect and ret.sp_delta == 8
    assert ret.allows(0x1000, 0x5555, 0x2000, 0x2008, 2**64 - 1, 2**64 - 1)
    # an exception during the ret pushes a frame: SP went down, not up
    assert not ret.allows(0x1000, 0x5555, 0x2000, 0x1fd8, 2**64 - 1, 2**64 - 1)
    assert classify(bytes.fromhex("c20400"), 16).sp_delta == 6          # ret 4, 16-bit
    assert classify(bytes.fromhex("66c3"), 16).sp_delta == 4            # o32 ret
    assert classify(bytes.fromhex("ffd0"), 64).sp_delta == -8           # call rax
    assert classify(bytes.fromhex("ffe0"), 32).sp_delta == 0            # jmp eax


def test_rep_may_stay():
    s = classify(bytes.fromhex("f3a4"), 32, 0x9000)                     # rep movsb
    assert s.repeats and s.allows(0x9000, 0x9000, 0, 0, 2**32 - 1, 2**32 - 1)
    assert not classify(bytes.fromhex("a4"), 32, 0x9000).allows(
        0x9000, 0x9000, 0, 0, 2**32 - 1, 2**32 - 1)


def test_invalid_in_64bit_code():
    for code in ("06", "60", "27", "d40a", "ea00000000 0800", "9a000000000800"):
        assert classify(bytes.fromhex(code.replace(" ", "")), 64).refresh


def test_never_more_than_15_bytes_and_bad_width():
    assert classify(b"\x66" * 16, 32).refresh
    assert classify(b"\x90", 8).refresh
    assert classify(b"", 64).refresh


# ---- against Capstone on farjump's own code -------------------------------------------------
def _code_sections(path: Path, bits: int):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            if sec["sh_flags"] & 4 and sec["sh_type"] == "SHT_PROGBITS":   # SHF_EXECINSTR
                yield sec["sh_addr"], sec.data()


@pytest.mark.parametrize("elf,bits", [("build/kernel.elf", 64), ("build/stage1.elf", 16)])
def test_agrees_with_capstone_on_farjump(elf, bits):
    path = ROOT / elf
    if not path.exists():
        pytest.skip(f"{elf} not built ('make')")
    md = capstone.Cs(capstone.CS_ARCH_X86, MODES[bits])
    checked = refreshed = 0
    for addr, data in _code_sections(path, bits):
        for insn in md.disasm(data, addr):
            off = insn.address - addr
            s = classify(data[off:off + 15], bits, insn.address)
            if must_refresh(insn):
                assert s.refresh, (hex(insn.address), insn.mnemonic, insn.op_str)
            if s.refresh:
                refreshed += 1
                continue
            checked += 1
            assert s.length == insn.size, (hex(insn.address), insn.mnemonic, insn.op_str)
    # the kernel's C is plain code: most of it must take the fast path
    assert checked > 5 * refreshed, (checked, refreshed)


# ---- random bytes ---------------------------------------------------------------------------
@settings(max_examples=3000, deadline=None)
@given(st.binary(min_size=0, max_size=16), st.sampled_from([16, 32, 64]),
       st.integers(0, 2**32 - 1))
def test_fuzz_against_capstone(code, bits, pc):
    s = classify(code, bits, pc)
    assert isinstance(s, Step)
    insn = cs_insn(code, bits)
    if insn is not None and must_refresh(insn):
        assert s.refresh, (code.hex(), bits, insn.mnemonic, insn.op_str)
    if not s.refresh:
        assert 1 <= s.length <= min(15, len(code))
        # capstone decodes it too, with the same length (capstone refuses a few that the
        # CPU accepts; those do not count)
        if insn is not None:
            assert insn.size == s.length, (code.hex(), bits, insn.mnemonic, insn.op_str)
        assert all(0 <= t < 2**64 for t in s.targets)


# Found by the fuzzer: mov from cr/dr ignores ModRM's mod (no displacement follows), and a
# segment override in a near jump is not a far jump.
@pytest.mark.parametrize("hexcode,bits", [
    ("0f2181971d02b4", 32), ("0f216f6c4eb8184158dab7f45db0", 16), ("0f206901f46ee6efbc6d", 32),
    ("0f21bc057d98d3addf9ca31fba868c", 32), ("0f2079b5cfd2eb", 16), ("65ff65dd", 16)])
def test_fuzz_findings(hexcode, bits):
    test_fuzz_against_capstone.hypothesis.inner_test(bytes.fromhex(hexcode), bits, 0x1000)
