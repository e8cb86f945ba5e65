"""The per-stop cache's fast path after a ``stepi``, and its memory windows: mixed into
:class:`fjgdb.target.state.State`.

The fast path (:meth:`FastPath._derive`): after one ``stepi`` the mode and the hidden state
can only have changed if the instruction stepped could change them, so the new snapshot is
the previous one with GDB's registers (QEMU's register packet carries the GPRs, RIP,
RFLAGS, the selectors, CR0/CR2/CR3/CR4 and EFER) instead of a new ``info registers``. It
is taken only when all of these hold, else QEMU is asked as before:

* the resume was one ``stepi`` of this CPU: the ``hook-stepi`` that install.py defines
  says so, and GDB computed no frame at another PC on the way (``stepi N`` does, between
  its steps); no write of a register or of memory from GDB, no inferior call, no explicit
  invalidation (fj tour, the reverse commands, ...) since the previous snapshot;
* QEMU is not replaying (``info replay``, asked once per connection: reverse execution
  moves backwards), and ``set fj-always-refresh`` is off;
* the previous snapshot of this CPU was taken at the stop just before, and CR0, CR4,
  EFER and the CS and SS selectors are unchanged;
* the instruction at the previous PC (:func:`fjgdb.decoders.stepclass.classify`) is not
  one that can change the mode or hidden state (far branches, iret, int, syscall/sysret,
  sysenter/sysexit, lgdt/lidt/lldt/ltr, mov to CR/DR, wrmsr, rsm, segment loads, port
  I/O, hlt, ...), and the new PC is its fall-through or its branch target (for
  ret/indirect branches: SP moved as the instruction moves it). Anything else means an
  exception or interrupt: ask QEMU.

GDB's registers are read for RIP, RSP, RFLAGS and the checked ones; CR2, CR3 and the
DS/ES/FS/GS selectors are the previous snapshot's (only the refused instructions and an
exception change them), and the general registers but RSP are read when something first
asks for them (:class:`LazyGprs`: nothing on the panel's path does). At the stop event
they are read with ``gdb.parse_and_eval``, not through a ``gdb.Frame``: making one makes
GDB unwind its caller frame, which cost more than the rest of the panel.

The code window (:meth:`State.code`): the bytes at the PC, read once per stop and kept
over a ``stepi`` whose instruction writes no memory; the disassembler decodes from it.

Known limit: whether a resume was exactly one instruction is known from hook-stepi plus
the frames GDB unwinds between the steps of ``stepi N``; if GDB's inline-frame sniffer
claimed every intermediate frame, a ``stepi N`` that came back to the first instruction's
fall-through or target would look like one step. ``set fj-always-refresh on`` turns the
fast path off.
"""
from __future__ import annotations

from collections.abc import Mapping

import gdb

from ..decoders.qemuregs import GPRS_32, GPRS_64
from ..decoders.snapshot import CpuSnapshot, stepped_snapshot
from ..decoders.stepclass import classify
from .arch import builtin_bits
from .errors import FjError


class LazyGprs(Mapping):
    """The general registers of a snapshot the fast path made: the stack pointer (the
    fast path's own check) at once, the others read from GDB when first asked for, which
    only ``fj why`` and the like do (not the panel, the disassembler or the unwinder).
    Asked after the guest ran again, they raise FjError instead of answering for
    another stop."""

    def __init__(self, names: tuple[str, ...], sp_name: str, sp: int, load):
        self._names, self._sp_name, self._sp, self._load = names, sp_name, sp, load
        self._values: dict[str, int] | None = None

    def __getitem__(self, name: str) -> int:
        if name == self._sp_name:
            return self._sp
        if name not in self._names:
            raise KeyError(name)
        if self._values is None:
            self._values = self._load()
        return self._values[name]

    def __contains__(self, name) -> bool:
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"LazyGprs({self._sp_name}=0x{self._sp:x}, " + \
            ("not read yet)" if self._values is None else f"{self._values})")


class FastPath:
    """Mixed into :class:`fjgdb.target.state.State` (uses its cache, events and reads)."""

    # ---- the fast path (module docstring) --------------------------------------------------
    _U64 = (1 << 64) - 1

    def _replay_active(self) -> bool:
        """Is QEMU replaying a recording (reverse execution possible)? Once per
        connection; True (no fast path) when it cannot tell."""
        conn = self.connection()
        if conn is None:
            return True
        if conn.num not in self._replaying:
            try:
                text = self.monitor("info replay", allow_running=True)
            except FjError:
                return True
            self._replaying[conn.num] = "not active" not in text
        return self._replaying[conn.num]

    def _derive(self, cpu: int, frame=None) -> CpuSnapshot | None:
        """This stop's snapshot from the previous one and GDB's registers, or None when
        QEMU must be asked (the conditions are in the module docstring)."""
        base = self._base.get(cpu)
        if (self.always_refresh or base is None or base[0] != self.resumes - 1
                or self._stepped != cpu or len(self._frame_pcs) > 1):
            return None
        old = base[1]
        bits = old.mode.bits
        if bits not in (16, 32, 64):
            return None
        r = self._gdb_registers(frame)
        if r is None:
            return None
        pc, sp, cr0, cr4, efer = r["rip"], r["rsp"], r["cr0"], r["cr4"], r["efer"]
        q = old.regs
        if (cr0, cr4, efer) != (q.cr0, q.cr4, q.efer) or any(
                r[n] != q.segments[n].selector for n in ("cs", "ss")):
            return None
        if self._frame_pcs - {pc}:
            return None         # GDB unwound a frame elsewhere: more than one step ran
        if self._replay_active():
            return None
        code = self._code_bytes(cpu, old.linear_pc, 15, stamp=self.resumes - 1)
        if code is None:
            return None
        step = self._classify(code, bits, old.pc)
        if bits == 64:
            pc_mask = sp_mask = (1 << 64) - 1
        else:
            pc_mask = 0xFFFFFFFF
            sp_mask = 0xFFFFFFFF if q.segments["ss"].db else 0xFFFF
        if not step.allows(old.pc, pc, q.reg("rsp"), sp, sp_mask, pc_mask):
            return None
        if q.long_format:
            gprs = LazyGprs(GPRS_64, "rsp", sp, self._gpr_loader(cpu, GPRS_64, self._U64))
            rip = pc
        else:
            gprs = LazyGprs(GPRS_32, "esp", sp & 0xFFFFFFFF,
                            self._gpr_loader(cpu, GPRS_64[:8], 0xFFFFFFFF))
            rip = pc & 0xFFFFFFFF
        snap = stepped_snapshot(old, gprs, rip, r["eflags"] & 0xFFFFFFFF)
        if snap.mode != old.mode:
            return None
        return snap

    # ---- GDB's registers at this stop ----------------------------------------------------
    #: what the fast path takes from GDB's frame 0 at once (the module docstring)
    STOP_REGISTERS = ("rip", "rsp", "eflags", "cs", "ss", "cr0", "cr4", "efer")
    #: set fj-context on: on_stop reads STOP_REGISTERS for the panel that follows
    prefetch_at_stop = False

    def _registers_at_stop(self, names) -> dict[str, int]:
        """*names* of GDB's frame 0, by ``gdb.parse_and_eval``; only from on_stop, the stop
        event, where the selected frame is the newest. (A gdb.Frame would do, but making
        one makes GDB unwind its caller: ~75 us a stop, for two registers.) {} when GDB's
        architecture is not x86-64 (no CR/EFER in its registers) or a read fails."""
        try:
            if not names or builtin_bits(gdb.selected_inferior().architecture().name()) != 64:
                return {}
            return {n: int(gdb.parse_and_eval("$" + n)) & self._U64 for n in names}
        except (gdb.error, ValueError, RuntimeError, AttributeError):
            return {}

    def _gdb_registers(self, frame=None) -> dict[str, int] | None:
        """STOP_REGISTERS of this stop: from on_stop's reads when it made them (and nothing
        changed since), else from *frame* (the unwinder's pending frame) or the newest
        frame; None when they cannot be read (or GDB's architecture is not x86-64)."""
        kept = self._stop_regs
        if frame is None and kept is not None and kept[:2] == (self.resumes, self.generation):
            return kept[2]
        try:
            if frame is None:
                if self._in_unwinder:
                    return None
                frame = gdb.newest_frame()
            if builtin_bits(frame.architecture().name()) != 64:
                return None     # qemu-system-i386: no CR/EFER in GDB's registers checked
            reg = frame.read_register
            return {n: int(reg(n)) & self._U64 for n in self.STOP_REGISTERS}
        except (gdb.error, ValueError, RuntimeError):
            return None

    def _gpr_loader(self, cpu: int, names, mask: int):
        """LazyGprs' reader: GDB's general registers of CPU *cpu*, while this stop lasts
        and its thread is the selected one (GDB's newest frame is the selected thread's)."""
        generation = self.generation

        def load() -> dict[str, int]:
            if self.generation != generation:
                raise FjError("the general registers of an earlier stop were not kept "
                              "(the guest has run since)")
            if self.selected_cpu() != cpu:
                raise FjError(f"the general registers of CPU {cpu} are read with its "
                              f"thread selected ('thread {cpu + 1}')")
            try:
                frame = gdb.newest_frame()
                values = {n: int(frame.read_register(n)) & mask for n in names}
            except (gdb.error, ValueError, RuntimeError) as e:
                raise FjError(f"cannot read the general registers from GDB: {e}") from None
            return values if mask == self._U64 else {"e" + n[1:]: v for n, v in values.items()}
        return load

    def _classify(self, code: bytes, bits: int, pc: int):
        """classify(), kept per (bytes, width, PC): on_stop and the snapshot ask about the
        same instruction, and a loop steps the same ones again."""
        key = (code, bits, pc)
        step = self._steps.get(key)
        if step is None:
            if len(self._steps) >= 4096:
                self._steps.clear()
            step = self._steps[key] = classify(code, bits, pc)
        return step

    # ---- the memory windows -----------------------------------------------------------------
    # Code and stack bytes read at a stop (the disassembler's, the unwinder's), kept per CPU
    # and resume count. After a stepi they are still right if the instruction stepped wrote
    # no memory, ran alone (one CPU) and ended where it should (no exception): on_stop
    # checks that (_validate_windows). The unwinder runs before on_stop, while GDB handles
    # the stop: it may use the previous stop's windows; if on_stop then finds them stale,
    # GDB's frames are dropped and recomputed with fresh reads.
    CODE_WINDOW = 256
    MAX_WINDOWS = 6

    @staticmethod
    def _lookup(windows, addr: int, size: int) -> bytes | None:
        for base, data in windows:
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base:addr - base + size]
        return None

    def _code_bytes(self, cpu: int, addr: int, size: int, stamp: int) -> bytes | None:
        """*size* bytes at linear *addr* from one of CPU *cpu*'s windows read at resume
        count *stamp* if one holds them; else read them (and keep them as a window if
        *stamp* is this stop's)."""
        addr &= (1 << 64) - 1
        windows = self._code.setdefault(cpu, {})
        found = self._lookup(windows.get(stamp, ()), addr, size)
        if found is not None:
            return found
        if stamp == self.resumes and self._resumed and self._stepped == cpu \
                and self._checkable(cpu) is not None:
            # GDB is handling the stop of a stepi (on_stop has not run yet)
            found = self._lookup(windows.get(stamp - 1, ()), addr, size)
            if found is not None:
                self._tentative = True
                return found
        if stamp != self.resumes:
            try:            # the previous stop's bytes are gone: read them now
                return self.read_raw(addr, size)
            except FjError:
                return None
        data = None
        # a window from the 64-byte boundary below: the next stops' PCs fall in it too
        base = addr & ~63
        for at, n in ((base, max(addr - base + size, self.CODE_WINDOW)), (addr, size)):
            try:
                data = self.read_raw(at, n)
                break
            except FjError:
                continue
        if data is None:
            return None
        current = [(at, data)] + windows.get(stamp, [])
        windows[stamp] = current[:self.MAX_WINDOWS]
        return data[addr - at:addr - at + size]

    def note_stop(self, cpu: int, snap: CpuSnapshot) -> None:
        """A snapshot of *cpu* at this stop: where it stood, for checking the next step."""
        sp_mask = (1 << 64) - 1 if snap.mode.bits == 64 else \
            0xFFFFFFFF if snap.segments["ss"].db else 0xFFFF
        self._last_stop.setdefault(cpu, {})[self.resumes] = (
            self.resumes, snap.pc, snap.regs.reg("rsp") & sp_mask, snap.mode.bits, sp_mask,
            snap.linear_pc)

    def _checkable(self, cpu: int) -> bytes | None:
        """The bytes of the instruction stepped from the previous stop, if that stop's
        windows hold them (on_stop can then check the windows; else they are neither
        used tentatively nor kept)."""
        last = self._last_stop.get(cpu, {}).get(self.resumes - 1)
        if last is None or last[3] not in (16, 32, 64):
            return None
        prev = self._code.get(cpu, {}).get(self.resumes - 1, ())
        return self._lookup(prev, last[5], 15)

    def _validate_windows(self, cpu: int, regs: dict[str, int]) -> None:
        """on_stop: keep the previous stop's windows as this stop's if the step could not
        have changed them; else drop them (and GDB's frames, if built from them). *regs*:
        what on_stop has read of this stop's registers already."""
        windows = self._code.get(cpu, {})
        prev = windows.get(self.resumes - 1)
        ok = False
        code = self._checkable(cpu) if prev else None
        if code is not None and self._stepped == cpu and self.cpu_count() == 1 \
                and not self.always_refresh:
            now = regs if "rip" in regs else self._registers_at_stop(("rip", "rsp"))
            here = (now["rip"], now["rsp"]) if now else None
            if here is not None and not self._frame_pcs - {here[0]}:
                _, pc, sp, bits, sp_mask, _ = self._last_stop[cpu][self.resumes - 1]
                step = self._classify(code, bits, pc)
                ok = step.allows(pc, here[0], sp, here[1], sp_mask,
                                 (1 << 64) - 1 if bits == 64 else 0xFFFFFFFF)
                if ok and step.writes:
                    if bits == 64 and step.stack_only:     # only [new SP, old SP) changed
                        prev = [w for w in prev
                                if w[0] + len(w[1]) <= here[1] or w[0] >= sp]
                    else:
                        ok = False
        cur = windows.get(self.resumes, [])
        if ok:
            cur = (cur + [w for w in prev if w not in cur])[:self.MAX_WINDOWS]
        # the previous stop's stay under its own count: what the stepped instruction was
        self._code[cpu] = {self.resumes: cur, **({self.resumes - 1: prev} if prev else {})}
        if not ok and self._tentative:
            try:
                gdb.invalidate_cached_frames()
            except (gdb.error, AttributeError):
                pass
        self._tentative = False
        # what the stopping CPU was at earlier stops is of no use now; other CPUs ran
        here_stop = self._last_stop.get(cpu, {}).get(self.resumes)
        self._last_stop = {cpu: {self.resumes: here_stop}} if here_stop else {}

    def code(self, addr: int, size: int) -> bytes | None:
        """*size* bytes of code at linear *addr* at this stop for the selected CPU, from
        the code windows (one read per stop and place, none for the places kept over a
        stepi that wrote no memory); None if unreadable."""
        if self.connection() is None:       # no live target: nothing is kept
            try:
                return self.read_raw(addr & ((1 << 64) - 1), size)
            except FjError:
                return None
        return self._code_bytes(self.selected_cpu(), addr, size, stamp=self.resumes)


