"""The next instructions at the PC, through GDB's disassembler (and so through farjump's
mode-aware one in 16/32-bit code), for the context panel."""
from __future__ import annotations

from dataclasses import dataclass

import gdb

from .state import STATE


@dataclass(frozen=True)
class Instruction:
    addr: int
    length: int
    asm: str
    symbol: str | None
    failed: bool = False        # the memory at addr could not be disassembled

    def to_dict(self) -> dict:
        if self.failed:
            return {"addr": self.addr, "length": self.length, "symbol": self.symbol,
                    "asm": self.asm}
        return {"addr": self.addr, "length": self.length, "asm": self.asm,
                "symbol": self.symbol}


#: 64-bit instructions already disassembled: (arch, address, their 15 bytes, flavor, width
#: setting, symbol generation) -> (length, text). GDB's text is a function of those (the
#: symbols name the branch targets), so a loop's instructions are decoded once.
_DECODED: dict = {}
_DECODED_MAX = 4096


def _decoded(arch, addr: int, context: tuple | None):
    """GDB's disassembly of the instruction at *addr*, from _DECODED when its bytes (from
    the per-stop code window) and *context* (architecture, settings, symbols) are the
    same; *context* is None outside 64-bit code (there $pc is the linear address the
    bytes are read at), and then nothing is kept."""
    key = None
    if context is not None:
        code = STATE.code(addr, 15)
        if code is not None and len(code) == 15:
            key = (addr, code) + context
            hit = _DECODED.get(key)
            if hit is not None:
                return hit
    d = arch.disassemble(addr)[0]
    hit = (d["addr"], d["length"], d["asm"])
    if key is not None:
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        _DECODED[key] = hit
    return hit


def next_instructions(count: int, pc: int | None = None) -> list[Instruction]:
    """Up to *count* instructions from the newest frame's PC (*pc*: that PC, known
    already), one at a time: unreadable memory ends the list with an instruction saying
    so."""
    insns = []
    if pc is None:
        frame = gdb.newest_frame()
        arch, pc = frame.architecture(), int(frame.pc())
    else:       # no gdb.Frame: making one makes GDB unwind the caller (fastpath.py)
        arch = gdb.selected_inferior().architecture()
    addr = pc & ((1 << 64) - 1)
    context = None
    whole = None
    if STATE.code_bits_or_none() == 64:
        context = (arch.name(), gdb.parameter("disassembly-flavor"),
                   gdb.parameter("fj-disassembler"), STATE.symbols_generation)
        code = STATE.code(addr, 15 * count)       # the whole panel's bytes, one lookup
        if code is not None and len(code) == 15 * count:
            whole = ("panel", addr, count, code) + context
            hit = _DECODED.get(whole)
            if hit is not None:
                return list(hit)
    for _ in range(count):
        try:
            at, length, asm = _decoded(arch, addr, context)
        except gdb.error as e:
            msg = "; ".join(p.strip() for p in str(e).splitlines() if p.strip())
            insns.append(Instruction(addr, 0, f"(cannot disassemble: {msg})", None, True))
            break
        insns.append(Instruction(at, length, asm, STATE.symbolize(at)))
        addr = at + max(1, length)
    if whole is not None and not any(i.failed for i in insns):
        _DECODED[whole] = tuple(insns)
    return insns
