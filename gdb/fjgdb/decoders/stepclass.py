"""What one x86 instruction can do to the state fj caches: :func:`classify`.

The per-stop cache (fjgdb.target.state) asks QEMU's monitor for the registers GDB does
not have (the descriptor caches, GDTR/IDTR/LDTR/TR, A20, halted, CPL) only when one
``stepi`` could have changed them. This module answers that question for the instruction
that was stepped, from its bytes alone (pure, no ``gdb``, no capstone):

* ``refresh``: it can change the mode or hidden state, or it was not understood: far
  jmp/call/ret, ``iret``, ``int``/``int3``/``into``/``int1``, ``syscall``/``sysret``,
  ``sysenter``/``sysexit``, ``lgdt``/``lidt``/``lldt``/``ltr``/``lmsw``/``clts``, ``mov``
  to a control or debug register, ``wrmsr``, ``rsm``, ``swapgs``, ``wr{fs,gs}base``,
  loads of a segment register (``mov sreg``, ``pop sreg``, ``lds``/``les``/``lss``/``lfs``/
  ``lgs``), port I/O (A20 through port 0x92 or the keyboard controller), ``hlt``,
  ``mwait``, ``enter``, ``ud2``, ``xsetbv``, instructions invalid in the mode, and
  anything this small decoder does not know (VEX/EVEX/XOP, 0F 38/0F 3A, most SSE).
* otherwise the PCs the next stop may have: the fall-through, a direct branch target (a
  near ``call`` only its target: stepping over it runs the callee), or for a near
  indirect branch (``ret``, ``jmp``/``call r/m``) any PC provided SP moved by exactly
  ``sp_delta`` (an exception would have pushed a frame instead). A PC anywhere else means
  an exception or interrupt was delivered: refresh.
* ``writes``: whether it may write memory (so a cached code window may be stale); pushes
  and calls count, and ``stack_only`` says when a push below SP is their only write.

All PCs are offsets in CS (IP/EIP/RIP, as GDB's $pc), masked to the operand size of
the instruction (16-bit code wraps at 64 KiB).

Why over 400 lines: it is one x86 opcode table (legacy map and 0F map) with ModRM/SIB
lengths; split, its halves would only make sense together.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_LEN = 15

_SEG_PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65}
_PREFIXES = _SEG_PREFIXES | {0x66, 0x67, 0xF0, 0xF2, 0xF3}


@dataclass(frozen=True)
class Step:
    """The answer for one instruction; ``length`` is None when it was not decoded."""

    length: int | None
    refresh: bool
    reason: str = ""                     # why refresh (for tests and debugging)
    targets: tuple[int, ...] = ()        # allowed next PCs besides the fall-through
    fall_through: bool = True            # may the next PC be pc + length
    indirect: bool = False               # next PC anywhere if SP moved by sp_delta
    sp_delta: int = 0
    writes: bool = True                  # may write memory (stack included)
    stack_only: bool = False             # its only write is a push below SP (push, call)
    repeats: bool = False                # REP string: may stay at its own PC

    def allows(self, pc: int, new_pc: int, old_sp: int, new_sp: int, sp_mask: int,
               pc_mask: int) -> bool:
        """May one execution of this instruction at *pc* have led to *new_pc* (with SP
        *old_sp* -> *new_sp*) without an exception, an interrupt or a mode change?"""
        if self.refresh or self.length is None:
            return False
        new_pc &= pc_mask
        if self.indirect:
            return (old_sp + self.sp_delta - new_sp) & sp_mask == 0
        if self.fall_through and new_pc == (pc + self.length) & pc_mask:
            return True
        if self.repeats and new_pc == pc & pc_mask:
            return True
        return new_pc in self.targets


def _refresh(reason: str, length: int | None = None) -> Step:
    return Step(length, True, reason)


class _Bytes:
    def __init__(self, code: bytes):
        self.code = code
        self.i = 0

    def take(self, n: int = 1) -> int:
        if self.i + n > len(self.code) or self.i + n > MAX_LEN:
            raise IndexError
        v = int.from_bytes(self.code[self.i:self.i + n], "little")
        self.i += n
        return v

    def signed(self, n: int) -> int:
        v = self.take(n)
        return v - (1 << (8 * n)) if v >> (8 * n - 1) else v


def _modrm(b: _Bytes, asize: int) -> tuple[int, int, int]:
    """Consume a ModRM byte, its SIB and displacement; returns (mod, reg, rm)."""
    m = b.take()
    mod, reg, rm = m >> 6, m >> 3 & 7, m & 7
    if mod == 3:
        return mod, reg, rm
    if asize == 16:
        if mod == 1:
            b.take(1)
        elif mod == 2 or (mod == 0 and rm == 6):
            b.take(2)
        return mod, reg, rm
    if rm == 4:
        sib = b.take()
        if mod == 0 and sib & 7 == 5:
            b.take(4)
    if mod == 1:
        b.take(1)
    elif mod == 2 or (mod == 0 and rm == 5):
        b.take(4)
    return mod, reg, rm


def classify(code: bytes, bits: int, pc: int = 0) -> Step:
    """Classify the instruction at the start of *code* (up to 15 bytes) in *bits*-bit
    code at *pc* (see the module docstring). Never raises: what it cannot decode is
    ``refresh``."""
    if bits not in (16, 32, 64):
        return _refresh("unknown code width")
    try:
        return _classify(_Bytes(bytes(code)), bits, pc)
    except IndexError:
        return _refresh("truncated or longer than 15 bytes")


def _classify(b: _Bytes, bits: int, pc: int) -> Step:   # noqa: C901 - one opcode table
    long = bits == 64
    osize_p = asize_p = rep = False
    rex = 0
    while True:
        op = b.take()
        if op in _PREFIXES:
            rex = 0                       # a legacy prefix after REX cancels it
            if op == 0x66:
                osize_p = True
            elif op == 0x67:
                asize_p = True
            elif op in (0xF2, 0xF3):
                rep = True
            continue
        if long and 0x40 <= op <= 0x4F:
            rex = op
            continue
        break
    w = bool(rex & 8)
    if long:
        osize = 64 if w else 16 if osize_p else 32
        asize = 32 if asize_p else 64
    else:
        osize = (32 if osize_p else 16) if bits == 16 else (16 if osize_p else 32)
        asize = (32 if asize_p else 16) if bits == 16 else (16 if asize_p else 32)
    z = 2 if osize == 16 else 4                      # imm16/32
    # near branches: 64-bit code uses 64-bit RIP (a 0x66 prefix there differs by vendor)
    pc_mask = (1 << 64) - 1 if long else (0xFFFF if osize == 16 else 0xFFFFFFFF)
    stack = 8 if long and not osize_p else 2 if osize == 16 else 4   # push/pop/call width

    def plain(mem: bool = False) -> Step:
        return Step(b.i, False, writes=mem)

    def rm_plain(writes_mem: bool) -> Step:
        mod, _reg, _rm = _modrm(b, asize)
        return Step(b.i, False, writes=writes_mem and mod != 3)

    def rel(n: int, call: bool = False) -> Step:
        d = b.signed(n)
        if long and osize_p:
            return _refresh("near branch with an operand-size prefix in 64-bit code", b.i)
        target = (pc + b.i + d) & pc_mask
        if call:
            return Step(b.i, False, targets=(target,), fall_through=False, writes=True,
                        stack_only=True)
        return Step(b.i, False, targets=(target,), writes=False)

    def invalid64(name: str) -> Step | None:
        return _refresh(f"{name} (invalid in 64-bit code)", b.i) if long else None

    if op == 0x0F:
        return _two_byte(b, bits, pc, asize, osize, z, rep, rel, rm_plain, plain, stack)

    lo = op & 7
    if op < 0x40 and lo < 6:              # add/or/adc/sbb/and/sub/xor/cmp
        if lo < 4:
            return rm_plain(lo < 2 and op & 0xF8 != 0x38)
        b.take(1 if lo == 4 else z)
        return plain()
    if op in (0x06, 0x0E, 0x16, 0x1E):   # push es/cs/ss/ds
        return invalid64("push sreg") or Step(b.i, False, writes=True)
    if op in (0x07, 0x17, 0x1F):
        return _refresh("pop sreg", b.i)
    if op in (0x27, 0x2F, 0x37, 0x3F):
        return invalid64("BCD adjust") or plain()
    if 0x40 <= op <= 0x4F:                # inc/dec r (not long: REX was taken above)
        return plain()
    if 0x50 <= op <= 0x57:
        return Step(b.i, False, writes=True, stack_only=True)
    if 0x58 <= op <= 0x5F:
        return plain()
    if op in (0x60, 0x61):
        return invalid64("pusha/popa") or Step(b.i, False, writes=op == 0x60)
    if op == 0x62:
        return _refresh("bound/EVEX", b.i)
    if op == 0x63:                        # arpl (writes r/m) / movsxd (64-bit)
        return rm_plain(not long)
    if op == 0x68:
        b.take(z)
        return Step(b.i, False, writes=True, stack_only=True)
    if op == 0x69:
        _modrm(b, asize)
        b.take(z)
        return plain()
    if op == 0x6A:
        b.take(1)
        return Step(b.i, False, writes=True, stack_only=True)
    if op == 0x6B:
        _modrm(b, asize)
        b.take(1)
        return plain()
    if 0x6C <= op <= 0x6F:
        return _refresh("ins/outs (port I/O)", b.i)
    if 0x70 <= op <= 0x7F:
        return rel(1)
    if op in (0x80, 0x81, 0x82, 0x83):
        if op == 0x82 and long:
            return _refresh("0x82 (invalid in 64-bit code)", b.i)
        mod, reg, _rm = _modrm(b, asize)
        b.take(z if op == 0x81 else 1)
        return Step(b.i, False, writes=mod != 3 and reg != 7)
    if op in (0x84, 0x85, 0x8A, 0x8B):
        return rm_plain(False)
    if op in (0x86, 0x87, 0x88, 0x89, 0x8C):
        return rm_plain(True)
    if op == 0x8D:
        mod, _reg, _rm = _modrm(b, asize)
        return _refresh("lea with a register operand (#UD)", b.i) if mod == 3 else plain()
    if op == 0x8E:
        return _refresh("mov sreg", b.i)
    if op == 0x8F:
        mod, reg, _rm = _modrm(b, asize)
        if reg != 0:
            return _refresh("XOP or invalid 0x8F", b.i)
        return Step(b.i, False, writes=mod != 3)
    if 0x90 <= op <= 0x99 or op in (0x9B, 0x9E, 0x9F):
        return plain()
    if op == 0x9A:
        return _refresh("far call", None if long else min(b.i + 2 + z, MAX_LEN))
    if op == 0x9C:
        return Step(b.i, False, writes=True, stack_only=True)
    if op == 0x9D:
        return plain()
    if 0xA0 <= op <= 0xA3:
        b.take(asize // 8)
        return plain(op >= 0xA2)
    if 0xA4 <= op <= 0xAF:                # movs cmps test stos lods scas
        if op in (0xA8, 0xA9):
            b.take(1 if op == 0xA8 else z)
            return plain()
        return Step(b.i, False, writes=op in (0xA4, 0xA5, 0xAA, 0xAB), repeats=rep)
    if 0xB0 <= op <= 0xB7:
        b.take(1)
        return plain()
    if 0xB8 <= op <= 0xBF:
        b.take(8 if w else z)
        return plain()
    if op in (0xC0, 0xC1):
        mod, _reg, _rm = _modrm(b, asize)
        b.take(1)
        return Step(b.i, False, writes=mod != 3)
    if op in (0xC2, 0xC3):
        imm = b.take(2) if op == 0xC2 else 0
        if long and osize_p:
            return _refresh("ret with an operand-size prefix in 64-bit code", b.i)
        return Step(b.i, False, fall_through=False, indirect=True, sp_delta=stack + imm,
                    writes=False)
    if op in (0xC4, 0xC5):
        return _refresh("les/lds or VEX", None)
    if op in (0xC6, 0xC7):
        mod, reg, _rm = _modrm(b, asize)
        if reg != 0:
            return _refresh("xabort/xbegin or invalid", None)
        b.take(1 if op == 0xC6 else z)
        return Step(b.i, False, writes=mod != 3)
    if op == 0xC8:
        return _refresh("enter", min(b.i + 3, MAX_LEN))
    if op == 0xC9:
        return plain()
    if op in (0xCA, 0xCB):
        return _refresh("far ret", None)
    if op in (0xCC, 0xCD, 0xCE, 0xCF):
        return _refresh({0xCC: "int3", 0xCD: "int", 0xCE: "into", 0xCF: "iret"}[op], None)
    if 0xD0 <= op <= 0xD3:
        mod, _reg, _rm = _modrm(b, asize)
        return Step(b.i, False, writes=mod != 3)
    if op in (0xD4, 0xD5):
        b.take(1)
        return invalid64("aam/aad") or plain()
    if op == 0xD6:
        return invalid64("salc") or plain()
    if op == 0xD7:
        return plain()
    if 0xD8 <= op <= 0xDF:                # x87: stores count as writes
        return rm_plain(True)
    if 0xE0 <= op <= 0xE3:                # loop/loopz/loopnz/jcxz
        return rel(1)
    if op in (0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF):
        return _refresh("in/out (port I/O)", None)
    if op == 0xE8:
        return rel(z if not long else 4, call=True)
    if op == 0xE9:
        return rel(z if not long else 4)
    if op == 0xEA:
        return _refresh("far jmp", None)
    if op == 0xEB:
        return rel(1)
    if op == 0xF1:
        return _refresh("int1", None)
    if op == 0xF4:
        return _refresh("hlt", None)
    if op in (0xF5, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD):
        return plain()
    if op in (0xF6, 0xF7):
        mod, reg, _rm = _modrm(b, asize)
        if reg in (0, 1):
            b.take(1 if op == 0xF6 else z)
        return Step(b.i, False, writes=mod != 3 and reg in (2, 3))
    if op == 0xFE:
        mod, reg, _rm = _modrm(b, asize)
        if reg > 1:
            return _refresh("invalid 0xFE", b.i)
        return Step(b.i, False, writes=mod != 3)
    if op == 0xFF:
        mod, reg, _rm = _modrm(b, asize)
        if reg in (0, 1):
            return Step(b.i, False, writes=mod != 3)
        if reg in (2, 4):                 # call/jmp near indirect
            if long and osize_p:
                return _refresh("indirect branch with an operand-size prefix", b.i)
            call = reg == 2
            return Step(b.i, False, fall_through=False, indirect=True,
                        sp_delta=-stack if call else 0, writes=call, stack_only=call)
        if reg == 6:
            return Step(b.i, False, writes=True, stack_only=True)
        return _refresh("far call/jmp through memory" if reg in (3, 5) else "invalid 0xFF",
                        b.i)
    return _refresh(f"opcode 0x{op:02x}", None)


def _two_byte(b: _Bytes, bits, pc, asize, osize, z, rep, rel, rm_plain, plain, stack):  # noqa: C901
    op = b.take()
    if op == 0x00:
        mod, reg, _rm = _modrm(b, asize)
        if reg in (0, 1):                 # sldt/str
            return Step(b.i, False, writes=mod != 3)
        if reg in (4, 5):                 # verr/verw
            return plain()
        return _refresh("lldt/ltr" if reg in (2, 3) else "0F 00 /" + str(reg), b.i)
    if op == 0x01:
        mod, reg, rm = _modrm(b, asize)
        if mod != 3:
            if reg in (0, 1, 4):          # sgdt/sidt/smsw
                return Step(b.i, False, writes=True)
            if reg == 7:                  # invlpg
                return plain()
            return _refresh({2: "lgdt", 3: "lidt", 6: "lmsw"}.get(reg, "0F 01 /5"), b.i)
        if reg == 4:                      # smsw r
            return plain()
        if (reg, rm) in ((7, 1), (2, 0)):     # rdtscp, xgetbv
            return plain()
        return _refresh({(7, 0): "swapgs", (1, 1): "mwait", (2, 1): "xsetbv",
                         (6, 0): "lmsw"}.get((reg, rm), f"0F 01 {0xC0 | reg << 3 | rm:02x}"),
                        b.i)
    if op in (0x02, 0x03):                # lar/lsl
        return rm_plain(False)
    if op in (0x05, 0x07, 0x34, 0x35):
        return _refresh({0x05: "syscall", 0x07: "sysret", 0x34: "sysenter",
                         0x35: "sysexit"}[op], b.i)
    if op == 0x06:
        return _refresh("clts", b.i)
    if op in (0x08, 0x09, 0x31, 0x32, 0x33, 0xA2) or 0xC8 <= op <= 0xCF:
        return plain()                    # invd wbinvd rdtsc rdmsr rdpmc cpuid bswap
    if op == 0x0B:
        return _refresh("ud2", b.i)
    if op == 0x0D or 0x18 <= op <= 0x1F:  # prefetch, hint nops, endbr
        return rm_plain(False)
    if op in (0x20, 0x21):                # mov r, cr/dr
        b.take()                          # ModRM alone: its mod is ignored, the operand is
        return plain()                    # always a register (SDM Vol. 2B, MOV CR/DR)
    if op in (0x22, 0x23):
        return _refresh("mov to cr" if op == 0x22 else "mov to dr", b.i)
    if op == 0x30:
        return _refresh("wrmsr", b.i)
    if op == 0xAA:
        return _refresh("rsm", b.i)
    if 0x40 <= op <= 0x4F:                # cmovcc
        return rm_plain(False)
    if 0x80 <= op <= 0x8F:
        return rel(z if bits != 64 else 4)
    if 0x90 <= op <= 0x9F:                # setcc
        return rm_plain(True)
    if op in (0xA0, 0xA8):                # push fs/gs
        return Step(b.i, False, writes=True)
    if op in (0xA1, 0xA9):
        return _refresh("pop fs/gs", b.i)
    if op in (0xA3, 0xBC, 0xBD, 0xAF, 0xB6, 0xB7, 0xBE, 0xBF) or (op == 0xB8 and rep):
        return rm_plain(False)            # bt bsf bsr imul movzx movsx popcnt
    if op in (0xA4, 0xAC):                # shld/shrd imm8
        mod, _reg, _rm = _modrm(b, asize)
        b.take(1)
        return Step(b.i, False, writes=mod != 3)
    if op in (0xA5, 0xAD, 0xAB, 0xB3, 0xBB, 0xB0, 0xB1, 0xC0, 0xC1):
        return rm_plain(True)             # shld/shrd cl, bts btr btc, cmpxchg, xadd
    if op == 0xAE:
        mod, reg, _rm = _modrm(b, asize)
        if mod == 3:
            if rep and reg <= 3:          # rdfsbase rdgsbase / wrfsbase wrgsbase
                return _refresh("wrfsbase/wrgsbase", b.i) if reg >= 2 else plain()
            if reg in (5, 6, 7):          # lfence mfence sfence
                return plain()
            return _refresh("0F AE with a register operand", b.i)
        return Step(b.i, False, writes=True)   # fxsave stmxcsr xsave clflush ...
    if op in (0xB2, 0xB4, 0xB5):
        return _refresh("lss/lfs/lgs", b.i)
    if op == 0xBA:
        mod, reg, _rm = _modrm(b, asize)
        b.take(1)
        if reg < 4:
            return _refresh("invalid 0F BA", b.i)
        return Step(b.i, False, writes=mod != 3 and reg != 4)
    if op == 0xC7:
        mod, reg, _rm = _modrm(b, asize)
        if mod != 3 and reg == 1:         # cmpxchg8b/16b
            return Step(b.i, False, writes=True)
        if mod == 3 and reg in (6, 7):    # rdrand/rdseed
            return plain()
        return _refresh("0F C7 /" + str(reg), b.i)
    return _refresh(f"opcode 0F {op:02x}", None)
