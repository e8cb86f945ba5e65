"""Mode-aware disassembly for every x86 architecture GDB knows.

QEMU's x86-64 gdbstub pins GDB to i386:x86-64, so GDB's own disassembler decodes
real-mode and 32-bit code as 64-bit code; qemu-system-i386's pins it to i386 (32-bit),
so real-mode code is decoded as 32-bit; ``set architecture i8086`` there decodes
everything as 16-bit. This Python disassembler (GDB >= 13), registered for each of those
architectures, asks the cached CPU state (CR0.PE, EFER.LMA, CS.D/CS.L from QEMU's
descriptor cache) which mode runs *now* and decodes with Capstone whenever that width is
not the one GDB's architecture decodes; otherwise, or whenever the mode cannot be found
(not connected, monitor failure, capstone missing), it returns None so GDB's builtin
disassembler is used. It never raises.

With it, ``x/i``, ``display/i $pc``, ``disassemble``, ``stepi`` and TUI asm are right in
every mode. ``set disassembly-flavor att|intel`` is followed. Data placed inside code
and marked as such (``global name:data size``: stage 2's header) is shown as ``dd``
words, in every mode, so decoding resumes at the next instruction. In real mode each
instruction gets a trailing ``; CS:IP`` comment (``set fj-show-csip off`` hides it).
``set fj-disassembler auto|16|32|64|off`` forces a decoding width (``off``: GDB's
builtin).
"""
from __future__ import annotations

import re

import gdb
import gdb.disassembler

from ..decoders import lazycs
from ..target.arch import X86_ARCHES, builtin_bits
from ..target.errors import FjError
from ..target.state import STATE


_BRANCH = re.compile(r"^(j\w+|call\w?|loop\w*|jcxz|jecxz)$")
_TARGET = re.compile(r"^\$?(0x[0-9a-f]+|\d+)$")
_FAR = re.compile(r"^\$?(0x[0-9a-f]+|\d+)\s*[:,]\s*\$?(0x[0-9a-f]+|\d+)$")


class ShowCsIp(gdb.Parameter):
    """Show CS:IP as a trailing comment on real-mode instructions (fj disassembler).

    on (default): "xchg bx, bx ; 0000:7c00". off: just the instruction."""

    set_doc = "Set whether real-mode disassembly shows CS:IP."
    show_doc = "Show whether real-mode disassembly shows CS:IP."

    def __init__(self):
        super().__init__("fj-show-csip", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = True

    def get_show_string(self, svalue):
        return f"Showing CS:IP in real-mode disassembly is {svalue}."


class DisasmMode(gdb.Parameter):
    """Decoding width used by farjump's disassembler.

    auto (default): from CR0.PE, EFER.LMA and the CS descriptor cache, at every stop.
    16 / 32 / 64: decode that width (GDB's builtin when its architecture decodes that
    width: 64 under i386:x86-64, 32 under i386, 16 under i8086). off: GDB's builtin."""

    set_doc = "Set the instruction width farjump's disassembler decodes."
    show_doc = "Show the instruction width farjump's disassembler decodes."

    def __init__(self):
        super().__init__("fj-disassembler", gdb.COMMAND_DATA, gdb.PARAM_ENUM,
                         ["auto", "16", "32", "64", "off"])
        self.value = "auto"

    def get_show_string(self, svalue):
        return f"farjump's disassembler width is {svalue}."


class ModeAwareDisassembler(gdb.disassembler.Disassembler):
    def __init__(self, show_csip: ShowCsIp, width: DisasmMode):
        super().__init__("farjump-mode-aware")
        self._show_csip = show_csip
        self._width = width
        self._engines = {}
        self.calls = 0

    def _engine(self, bits: int, att: bool):
        key = (bits, att)
        md = self._engines.get(key)
        if md is None:
            capstone = lazycs.capstone()
            md = capstone.Cs(capstone.CS_ARCH_X86, {16: capstone.CS_MODE_16,
                                                    32: capstone.CS_MODE_32,
                                                    64: capstone.CS_MODE_64}[bits])
            if att:
                md.syntax = capstone.CS_OPT_SYNTAX_ATT
            self._engines[key] = md
        return md

    def __call__(self, info):
        try:
            return self._disassemble(info)
        except Exception:   # noqa: BLE001 - the builtin is always a valid answer
            return None

    def _bits(self) -> int | None:
        width = self._width.value
        if width == "off":
            return None
        if width in ("16", "32", "64"):
            return int(width)
        return STATE.code_bits_or_none()

    @staticmethod
    def _builtin(info):
        """GDB's own decoder, reading from the per-stop code window (one read per stop,
        or none after a stepi that wrote no memory: target/state.py)."""
        try:
            window = _Window(info, STATE.code(info.address, 15))
        except Exception:   # noqa: BLE001 - no window: GDB reads the memory itself
            return None
        if window.data is None:
            return None
        return gdb.disassembler.builtin_disassemble(info, window)

    def _read(self, info, linear: int) -> bytes:
        """Up to 15 bytes at *linear*, fewer near the end of readable memory."""
        try:
            code = STATE.code(linear, 15)
        except Exception:   # noqa: BLE001 - read below
            code = None
        if code is not None and len(code) == 15:
            return code
        if linear == info.address:
            reader = lambda n: info.read_memory(n, 0).tobytes()   # noqa: E731
        else:
            reader = lambda n: STATE.read_raw(linear, n)   # noqa: E731
        try:
            return reader(15)
        except (gdb.MemoryError, FjError):
            out = b""
            for n in range(1, 15):
                try:
                    out = reader(n)
                except (gdb.MemoryError, FjError):
                    break
            return out

    def _data(self, info):
        """Data inside code (a NASM ``global name:data size`` object, e.g. stage 2's header
        with its FJS2 magic) as ``dd``/``dw``/``db`` up to the object's end, so that the
        instruction after it (stage2_main) is decoded from its real start."""
        obj = STATE.symbols().code_data_at(info.address)
        if obj is None:
            return None
        left = obj.addr + obj.size - info.address
        size = 4 if left >= 4 else 2 if left >= 2 else 1
        value = int.from_bytes(info.read_memory(size, 0).tobytes(), "little")
        word = {4: "dd", 2: "dw", 1: "db"}[size]
        return gdb.disassembler.DisassemblerResult(
            size, f"{word:<6} 0x{value:0{2 * size}x}    ; data")

    def _disassemble(self, info):
        if self._width.value == "off":
            return None
        data = self._data(info)
        if data is not None:
            return data
        bits = self._bits()
        if bits not in (16, 32, 64) or bits == builtin_bits(info.architecture.name()):
            return self._builtin(info)
        if lazycs.capstone() is None:      # imported here, the first time it is needed
            return None
        self.calls += 1
        addr = info.address
        linear = addr
        csip = None
        real = False
        q = None
        if self._width.value == "auto":
            q = STATE.snapshot(allow_running=True)
            real = q.real
            cs = q.cs
            if real and addr <= 0xFFFF:
                # $pc is IP: the bytes are at CS.base + IP (QEMU's gdbstub reads linear)
                linear = cs.base + addr
                csip = (cs.selector, addr)
            elif real and cs.base <= addr <= cs.base + 0xFFFF:
                csip = (cs.selector, addr - cs.base)
        code = self._read(info, linear)
        if not code:
            return None
        att = gdb.parameter("disassembly-flavor") == "att"
        md = self._engine(bits, att)
        insn = next(md.disasm(code, addr, 1), None)
        if insn is None:
            return gdb.disassembler.DisassemblerResult(1, "(bad)")
        text = f"{insn.mnemonic:<6} {insn.op_str}".rstrip()
        sym = self._branch_symbol(insn, real, q)
        if sym:
            text += f" <{sym}>"
        if csip and self._show_csip.value:
            text = f"{text:<28} ; {csip[0]:04x}:{csip[1]:04x}"
        return gdb.disassembler.DisassemblerResult(insn.size, text)

    def _branch_symbol(self, insn, real: bool, q) -> str | None:
        if not _BRANCH.match(insn.mnemonic):
            return None
        op = insn.op_str.strip()
        m = _TARGET.match(op)
        if m:
            target = int(m.group(1), 0)
            if real and q is not None and target <= 0xFFFF:
                target += q.cs.base
            return STATE.symbolize(target)
        m = _FAR.match(op)
        if m:   # far branch: real mode seg*16+off; flat protected-mode segments assumed
            seg, off = int(m.group(1), 0), int(m.group(2), 0)
            return STATE.symbolize(seg * 16 + off if real else off)
        return None


class _Window:
    """A memory source for builtin_disassemble: the instruction's bytes from the code
    window, anything beyond them read as GDB would."""

    def __init__(self, info, data: bytes | None):
        self.info = info
        self.data = data

    def read_memory(self, length, offset):
        if 0 <= offset and offset + length <= len(self.data):
            return self.data[offset:offset + length]
        return self.info.read_memory(length, offset)


_INSTANCE: ModeAwareDisassembler | None = None


def install() -> ModeAwareDisassembler:
    global _INSTANCE
    if _INSTANCE is None:
        _INSTANCE = ModeAwareDisassembler(ShowCsIp(), DisasmMode())
        for arch in X86_ARCHES:
            gdb.disassembler.register_disassembler(_INSTANCE, arch)
    return _INSTANCE


def status() -> str:
    """What the load message says about the disassembler: the truth."""
    if not lazycs.available():
        return ("mode-aware disassembler NOT active (python3-capstone is missing): GDB "
                "decodes every mode as its architecture's width")
    return "mode-aware disassembler active."
