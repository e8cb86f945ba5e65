"""A frame unwinder for 16- and 32-bit code (real mode, 32-bit protected mode).

On qemu-system-x86_64 GDB only knows i386:x86-64, so its amd64 unwinder reads 8-byte return
addresses in 16/32-bit code: ``bt`` shows garbage frames and ``next`` over a ``call``
stops inside the callee (GDB cannot find the caller to put its step-resume breakpoint
in). This unwinder claims every frame while the CPU runs 16- or 32-bit code:

* the function is the nearest non-local label at or below the PC (NASM ``.x`` labels
  belong to their parent), from the ELF symbol tables;
* the stack depth at the PC is found by a linear scan of the function's code from its
  start to the PC (push/pop/pusha/popa/pushf/popf, ``sub/add sp, imm``), decoded with
  Capstone in the current mode;
* the word (2 or 4 bytes) above that is accepted as the return address only if the
  instruction before it is a ``call rel`` whose target is the function start;
  otherwise the frame is outermost (``bt`` ends there; 'finish' refuses).

Frame ids are (CFA, function start); outermost frames use a CFA above any stack
address, so they stay stable while the function pushes and pops.

For 64-bit code GDB's own DWARF/prologue unwinders run, except in a caller frame
(level > 0) whose PC is in NASM code (no DWARF function there): GDB's prologue analyser
would take whatever lies on the stack as a return address (lm_entry, which stage 2
*jumps* to, ended 'bt' with a bogus '0x0 in ?? ()' frame). The same call check decides:
a real caller, or outermost.
32-bit code under GDB's i386 or i8086 architecture (qemu-system-i386) is left to GDB's
own i386 unwinders, which read 4-byte frames; 16-bit code is claimed under every
architecture.
"""
from __future__ import annotations

import os

import gdb
from gdb.unwinder import Unwinder

from ..decoders import lazycs
from ..decoders.stackscan import stack_delta
from ..target.arch import builtin_bits, pc_sp_names
from ..target.errors import FjError
from ..target.state import STATE


_MAX_SCAN = 4096
DEBUG = bool(os.environ.get("FJ_DEBUG"))


class FrameId:
    """What create_unwind_info wants: sp and pc attributes holding gdb.Values."""

    _u64 = (None, None)         # (symbol generation, the type) - looked up once per files

    def __init__(self, sp: int, pc: int):
        gen, u64 = FrameId._u64
        if gen != STATE.symbols_generation or u64 is None:
            u64 = gdb.lookup_type("unsigned long")
            FrameId._u64 = (STATE.symbols_generation, u64)
        self.sp = gdb.Value(sp).cast(u64)
        self.pc = gdb.Value(pc).cast(u64)


class NarrowModeUnwinder(Unwinder):
    def __init__(self):
        super().__init__("farjump-16/32-bit")
        self.claimed = 0
        self.last_error = None
        self._outer = None
        self._outer64 = None
        self.outermost_pcs: set[int] = set()   # PCs of frames made outermost (backtrace.py)

    def __call__(self, pending_frame):
        STATE._in_unwinder = True
        try:
            return self._unwind(pending_frame)
        except Exception as e:   # noqa: BLE001 - fall back to GDB's unwinders
            if DEBUG:
                import traceback
                traceback.print_exc()
            self.last_error = repr(e)
            return None
        finally:
            STATE._in_unwinder = False

    def _unwind(self, pf):
        arch = pf.architecture().name()
        pc_name, sp_name = pc_sp_names(arch)
        pc_now = int(pf.read_register(pc_name))
        if pf.level() == 0:     # stepi N unwinds at every step: the fast path must know
            STATE.note_frame_pc(pc_now)
            if pc_now > 0xFFFFFFFF:
                return None   # 64-bit code, innermost frame: GDB's own unwinders
        if not lazycs.available():
            return None
        if pc_now > 0xFFFFFFFF:
            bits = 64     # 16/32-bit code never runs above 4 GiB: 64-bit, no need to ask QEMU
        else:
            bits = STATE.code_bits_or_none(frame=pf if pf.level() == 0 else None)
        if bits == 64:
            return self._unwind64(pf)
        if bits not in (16, 32):
            return None
        if bits == 32 and builtin_bits(arch) != 64:
            return None   # i386/i8086 (qemu-system-i386): GDB's own i386 unwinders are right
        q = STATE.snapshot(allow_running=True, frame=pf if pf.level() == 0 else None)
        width = bits // 8
        mask = (1 << bits) - 1
        rip = pf.read_register(pc_name)
        rsp = pf.read_register(sp_name)
        pc = int(rip) & mask
        sp = int(rsp) & mask
        cs_base = q.cs.base if bits == 16 else 0
        ss_base = q.segments["ss"].base
        # above every stack address (outermost frames), and readable (GDB reads there)
        top = ss_base + 0x10000 if bits == 16 else 0xFFFFF000
        if pc == 0 and pf.level() > 0 and int(rsp) == top - ss_base and self._outer is not None:
            # The caller we invented for an outermost frame: give it the same frame id,
            # so GDB ends the backtrace there (UNWIND_SAME_ID) and 'finish' refuses.
            return pf.create_unwind_info(FrameId(top, self._outer))
        func = STATE.symbols().function_start(cs_base + pc)
        start = (func.addr - cs_base) if func is not None else pc
        caller = None
        cfa = top
        if start <= pc and pc - start <= _MAX_SCAN:
            key = (bits, cs_base, start, pc)
            delta = STATE.scan_cache.get(key, False)
            if delta is False:
                code = STATE.read_raw(cs_base + start, pc - start + 15) if pc > start else b""
                delta = stack_delta(code, start, pc, bits) if pc > start else 0
                STATE.scan_cache[key] = delta
            if delta is not None:
                ret_at = ss_base + ((sp + delta) & mask)
                ret = int.from_bytes(STATE.read_raw(ret_at, width), "little")
                if self._called(cs_base, ret, start, bits):
                    caller = ret
                    cfa = ss_base + ((sp + delta + width) & mask)
        info = pf.create_unwind_info(FrameId(cfa, cs_base + start))
        if caller is not None:
            info.add_saved_register(pc_name, gdb.Value(caller).cast(rip.type))
            info.add_saved_register(sp_name, gdb.Value(cfa - ss_base).cast(rsp.type))
        else:
            # Outermost. GDB 13's Python API cannot say "outermost" (no outer frame id),
            # and an unsaved PC/SP makes gdb.selected_frame() and bt fail with "PC/Register
            # not saved". So the caller is a marker (PC 0, SP = top) that gets this
            # frame's id back (above): GDB stops there, 'finish' says "not meaningful in
            # the outermost frame", and bt would end with "previous frame identical"
            # (backtrace.py's frame filter keeps that line back for these frames).
            info.add_saved_register(pc_name, gdb.Value(0).cast(rip.type))
            info.add_saved_register(sp_name, gdb.Value(top - ss_base).cast(rsp.type))
            self._outer = cs_base + start
            self._mark_outermost(int(rip))
        self.claimed += 1
        return info

    def _unwind64(self, pf):
        """A 64-bit caller frame in NASM code (see the module docstring), else None."""
        rip = pf.read_register("rip")
        rsp = pf.read_register("rsp")
        pc, sp = int(rip), int(rsp)
        if self._outer64 is not None and pc == 0 and pf.level() > 0 \
                and sp == self._outer64[0]:
            return pf.create_unwind_info(FrameId(*self._outer64))   # the marker (below)
        if pf.level() == 0:
            return None
        block = None
        try:
            block = gdb.block_for_pc(pc - 1)
        except RuntimeError:
            pass
        while block is not None and block.function is None and block.superblock is not None:
            block = block.superblock      # a lexical block ({ ... }) inside a function
        if block is not None and block.function is not None:
            return None           # C code: GDB's DWARF unwinder knows its frames
        func = STATE.symbols().function_start(pc - 1)
        if func is None:
            return None
        start = func.addr
        delta = None
        if start <= pc and pc - start <= _MAX_SCAN:
            code = (STATE.code(start, pc - start + 15) if pc > start else b"") or b""
            delta = stack_delta(code, start, pc, 64) if pc > start and code else 0
            if pc > start and not code:
                delta = None
        if delta is not None:
            ret_at = sp + delta
            word = STATE.code(ret_at, 8)
            if word is None:
                raise FjError(f"cannot read the stack at 0x{ret_at:x}")
            ret = int.from_bytes(word, "little")
            if self._called(0, ret, start, 64):
                info = pf.create_unwind_info(FrameId(ret_at + 8, start))
                info.add_saved_register("rip", gdb.Value(ret).cast(rip.type))
                info.add_saved_register("rsp", gdb.Value(ret_at + 8).cast(rsp.type))
                self.claimed += 1
                return info
        # Outermost (entered by a jump): the same marker as for 16/32-bit code.
        self._outer64 = (sp, start)
        self._mark_outermost(pc)
        info = pf.create_unwind_info(FrameId(sp, start))
        info.add_saved_register("rip", gdb.Value(0).cast(rip.type))
        info.add_saved_register("rsp", gdb.Value(sp).cast(rsp.type))
        self.claimed += 1
        return info

    def _mark_outermost(self, pc: int) -> None:
        if len(self.outermost_pcs) >= 256:
            self.outermost_pcs.clear()
        self.outermost_pcs.add(pc)

    @staticmethod
    def _called(cs_base: int, ret: int, start: int, bits: int) -> bool:
        """Is the instruction before *ret* a ``call rel`` to *start*?"""
        n = 3 if bits == 16 else 5
        if ret < n:
            return False
        try:
            b = STATE.code(cs_base + ret - n, n) if bits == 64 else \
                STATE.read_raw(cs_base + ret - n, n)
        except FjError:
            return False
        if b is None:
            return False
        if b[0] != 0xE8:
            return False
        rel = int.from_bytes(b[1:], "little", signed=True)
        return (ret + rel) & ((1 << bits) - 1) == start


_INSTANCE: NarrowModeUnwinder | None = None


def instance() -> NarrowModeUnwinder | None:
    return _INSTANCE


def install() -> NarrowModeUnwinder:
    global _INSTANCE
    if _INSTANCE is None:
        _INSTANCE = NarrowModeUnwinder()
        gdb.unwinder.register_unwinder(None, _INSTANCE, replace=True)
    return _INSTANCE
