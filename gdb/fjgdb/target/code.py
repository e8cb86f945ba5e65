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


def next_instructions(count: int) -> list[Instruction]:
    """Up to *count* instructions from the newest frame's PC, one at a time: unreadable
    memory ends the list with an instruction saying so."""
    insns = []
    frame = gdb.newest_frame()
    arch = frame.architecture()
    addr = int(frame.pc())
    for _ in range(count):
        try:
            d = arch.disassemble(addr)[0]
        except gdb.error as e:
            msg = "; ".join(p.strip() for p in str(e).splitlines() if p.strip())
            insns.append(Instruction(addr, 0, f"(cannot disassemble: {msg})", None, True))
            break
        insns.append(Instruction(d["addr"], d["length"], d["asm"],
                                 STATE.symbolize(d["addr"])))
        addr = d["addr"] + max(1, d["length"])
    return insns
