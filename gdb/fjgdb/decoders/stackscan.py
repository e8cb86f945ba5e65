"""Stack depth of straight-line 16/32/64-bit code (pure: Capstone, no ``gdb``).

Used by the farjump frame unwinder for code that has no CFI (real-mode, 32-bit and
64-bit NASM code):
the bytes pushed between a function's first instruction and the PC.
"""
from __future__ import annotations

import functools

from . import lazycs

_PREFIXES = {0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0xF0}
_SP = {"sp", "esp", "rsp"}


def _osize(insn, width: int) -> int:
    for b in insn.bytes:
        if b == 0x66:
            return 2 if width == 8 else 6 - width    # 2 <-> 4; 8 -> 2
        if b not in _PREFIXES:
            break
    return width


@functools.lru_cache(maxsize=None)
def _engine(bits: int):
    """One Capstone decoder per width (making one costs ~0.5 ms); None without capstone."""
    capstone = lazycs.capstone()
    if capstone is None:
        return None
    return capstone.Cs(capstone.CS_ARCH_X86, {16: capstone.CS_MODE_16,
                                              32: capstone.CS_MODE_32,
                                              64: capstone.CS_MODE_64}[bits])


@functools.lru_cache(maxsize=512)      # pure: the unwinder asks again at every stop
def stack_delta(code: bytes, start: int, pc: int, bits: int) -> int | None:
    """Bytes pushed between *start* and *pc* by straight-line code, None if unknown.

    *code* holds the bytes from *start* on (at least up to *pc*). push/pop (operand
    size from the mode and a 0x66 prefix), pusha/popa, pushf/popf and ``sub/add sp,
    imm`` are counted; branches are ignored (straight-line scan); anything else that
    writes SP (mov/lea/and/leave/enter, pop sp) or a scan that does not land exactly on
    *pc* gives None.
    """
    md = _engine(bits)
    if md is None:
        return None
    width = bits // 8
    delta = 0
    end = start
    for insn in md.disasm(code, start):
        if insn.address >= pc:
            break
        end = insn.address + insn.size
        m = insn.mnemonic
        ops = [o.strip() for o in insn.op_str.split(",")] if insn.op_str else []
        size = _osize(insn, width)
        if m.startswith("pusha"):
            delta += 8 * size
        elif m.startswith("popa"):
            delta -= 8 * size
        elif m.startswith("pushf"):
            delta += size
        elif m.startswith("popf"):
            delta -= size
        elif m == "push":
            delta += size
        elif m == "pop":
            if ops and ops[0] in _SP:
                return None
            delta -= size
        elif m in ("sub", "add") and ops and ops[0] in _SP:
            try:
                imm = int(ops[1], 0)
            except (IndexError, ValueError):
                return None
            delta += imm if m == "sub" else -imm
        elif m in ("enter", "leave"):
            return None
        elif ops and ops[0] in _SP and m not in ("cmp", "test"):
            return None                  # mov sp, ... / lea / and: depth unknown
    if end != pc:
        return None                      # the scan did not land on the PC exactly
    return delta
