"""Find the instructions that can change the CPU's mode, in code bytes (fj tour and fj
transitions on a boot without farjump's symbols).

A linear sweep with Capstone in the current width (16, 32 or 64) over a window of code
(x86 instruction streams resynchronise within a few instructions after data). Reported:

* ``mode``: instructions that can change the mode, the code width or the paging format
  (SDM Vol. 3A §10.9, §10.8.5, §4.1.2): ``mov cr0``/``mov cr4`` (PE, PG, PAE, LA57),
  ``wrmsr`` (EFER.LME), ``lgdt`` (the table the next far transfer loads CS from), far
  ``jmp``/``call``/``ret``, ``iret``, ``sysret``/``sysexit``;
* ``leave``: near transfers that may leave the window (indirect ``jmp``/``call``, or a
  direct one whose target is outside it), so that the watcher can scan again there.

Limits: code reached only through a near ``ret``, an interrupt or an exception is not
followed; a window that starts inside data may misdecode its first instructions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DecodeError

from . import lazycs

_FAR = {"ljmp", "lcall", "retf", "lret", "retfq", "lretq", "lretl", "iret", "iretd",
        "iretq", "sysret", "sysretq", "sysexit", "sysexitq"}
_IMM = re.compile(r"^(0x[0-9a-f]+|\d+)$")
_FARPTR = re.compile(r"^(0x[0-9a-f]+|\d+)\s*:\s*(0x[0-9a-f]+|\d+)$")


@dataclass(frozen=True)
class Candidate:
    addr: int          # linear address of the instruction
    size: int
    kind: str          # "mode" or "leave"
    text: str          # e.g. "mov cr0, eax"

    def to_dict(self) -> dict:
        return {"addr": self.addr, "size": self.size, "kind": self.kind, "text": self.text}


def classify(mnemonic: str, op_str: str, window: tuple[int, int], addr_base: int = 0) -> \
        str | None:
    """'mode', 'leave' or None for one instruction (Capstone Intel syntax)."""
    m, ops = mnemonic.lower(), op_str.lower().strip()
    if m == "mov" and re.match(r"^cr[034],", ops):
        return "mode" if not ops.startswith("cr3") else None
    if m in ("wrmsr", "lgdt") or m in _FAR:
        return "mode"
    if m in ("jmp", "call"):
        if _FARPTR.match(ops) or ops.startswith(("far ", "fword", "ptr16")) or \
                "far" in ops.split(" ptr")[0]:
            return "mode"
        imm = _IMM.match(ops)
        if imm is None:
            return "leave"                     # indirect: register or memory
        target = addr_base + int(imm.group(1), 0)
        return None if window[0] <= target < window[1] else "leave"
    return None


def scan(code: bytes, addr: int, bits: int, linear_base: int = 0,
         window: tuple[int, int] | None = None) -> list[Candidate]:
    """Candidates in *code*, which starts at address *addr* as the code sees it (IP in
    16-bit code); their ``addr`` is linear (*linear_base* + address). *window* is the
    range of code addresses (as *addr*) considered "inside" for near transfers; default
    the bytes given."""
    capstone = lazycs.capstone()
    if capstone is None:
        raise DecodeError("python3-capstone is not installed")
    if bits not in (16, 32, 64):
        raise DecodeError(f"code width {bits} is not 16, 32 or 64")
    mode = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}[bits]
    md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    md.skipdata = True
    window = window or (addr, addr + len(code))
    out = []
    for insn in md.disasm(bytes(code), addr):
        if insn.id == 0:          # skipped data byte
            continue
        kind = classify(insn.mnemonic, insn.op_str, window)
        if kind:
            text = f"{insn.mnemonic} {insn.op_str}".strip()
            out.append(Candidate(linear_base + insn.address, insn.size, kind, text))
    return out
