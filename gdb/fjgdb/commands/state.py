"""Per-stop CPU state, read lazily from GDB and QEMU and cached.

Everything the workbench knows about the CPU beyond GDB's register set (descriptor
caches, GDTR/IDTR, A20, and the authoritative CR0/CR4/EFER) comes from one
``monitor info registers`` per stop, parsed by :mod:`fjgdb.decoders.qemuregs`.
It is read the first time something needs it and dropped on every
``gdb.events.cont``, ``register_changed``, ``memory_changed`` and on objfile/connection
changes. At a ``stop`` it is kept only when it was read after the last resume and its
RIP and RSP are this stop's: ``next``/``step`` stop and resume internally (e.g. in a
callee) without an event for each, and what was read there must not outlive them.
Stepping without the disassembler or the context panel costs nothing.

Physical memory is read through QEMU's gdbstub physical-memory mode
(``Qqemu.PhyMemMode:1``, QEMU >= 4.1, present in 7.2); without it, reads fall back to
virtual = physical, which is right for this project's identity-mapped low GiB.
"""
from __future__ import annotations

import contextlib
import os

import gdb

from ..decoders.errors import DecodeError
from ..decoders.mode import CpuMode, cpu_mode
from ..decoders.qemuregs import QemuRegisters, parse_info_registers
from ..decoders.elfsyms import SymbolTable, read_elf_symbols


class FjError(Exception):
    """A one-line user-facing error (the command name is prefixed later)."""


class NotConnected(FjError):
    pass


class State:
    def __init__(self) -> None:
        self.previous: QemuRegisters | None = None   # at the last stop where it was read
        self.generation = 0                           # bumped on every invalidation
        self._qemu: QemuRegisters | None = None
        self._qemu_error: str | None = None
        self._phys: dict[int, bool] = {}              # connection num -> PhyMemMode works
        self._ram: dict[int, int | None] = {}
        self._symbols: SymbolTable | None = None
        self.monitor_reads = 0                         # for tests/benchmarks
        self._resumed = False                          # a cont event since the last stop
        self.scan_cache: dict = {}                     # unwinder scratch, per stop

    # ---- invalidation ------------------------------------------------------------------
    def on_cont(self, *_args) -> None:
        """gdb.events.cont (every resume): drop the cache, remember that the guest ran."""
        self.invalidate()
        self._resumed = True

    def on_stop(self, *_args) -> None:
        """gdb.events.stop: keep what was read since the last resume (the unwinder and the
        disassembler read while GDB handles this very stop, with the guest already
        stopped), so that the context panel does not ask QEMU a second time; drop
        anything else (a stop that no resume announced).

        `next` and `step` stop and resume internally (into a callee, then back) without
        a stop event for each, so what was read may belong to an earlier internal stop:
        keep it only when its RIP and RSP are the registers GDB holds for this stop."""
        keep = self._resumed and self._qemu is not None and self._matches_gdb_registers()
        self._resumed = False
        if not keep:
            self.invalidate()

    def _matches_gdb_registers(self) -> bool:
        q = self._qemu
        mask = (1 << 64) - 1 if q.long_format else 0xFFFFFFFF
        try:
            frame = gdb.newest_frame()
            pc = int(frame.read_register("rip")) & mask
            sp = int(frame.read_register("rsp")) & mask
        except (gdb.error, ValueError):
            return False
        return pc == q.rip & mask and sp == q.reg("rsp") & mask

    def invalidate(self, *_args) -> None:
        if self._qemu is not None:
            self.previous = self._qemu
        self._qemu = None
        self._qemu_error = None
        self.scan_cache = {}
        self.generation += 1

    def forget_connection(self, *_args) -> None:
        self.invalidate()
        self.previous = None
        self._phys.clear()
        self._ram.clear()

    def forget_symbols(self, *_args) -> None:
        self._symbols = None

    # ---- connection ---------------------------------------------------------------------
    @staticmethod
    def connection():
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        if conn is None or inf.pid == 0 or gdb.selected_thread() is None:
            return None
        return conn

    def require_connected(self, allow_running: bool = False):
        """The remote connection, or FjError. *allow_running* is for the disassembler and
        unwinder, which GDB calls while it handles a stop, before the thread is marked
        stopped (the target itself is stopped then)."""
        conn = self.connection()
        if conn is None:
            raise NotConnected("not connected to QEMU (run 'target remote HOST:PORT', "
                               "or use 'make debug')")
        if conn.type not in ("remote", "extended-remote"):
            raise NotConnected(f"the target is '{conn.type}', not QEMU's gdbstub "
                               "(target remote HOST:PORT)")
        thread = gdb.selected_thread()
        if not allow_running and thread is not None and thread.is_running():
            raise FjError("the guest is running; interrupt it first (Ctrl-C)")
        return conn

    def connected(self, allow_running: bool = False) -> bool:
        try:
            self.require_connected(allow_running)
            return True
        except FjError:
            return False

    # ---- QEMU's view of the CPU ---------------------------------------------------------
    def monitor(self, command: str, allow_running: bool = False) -> str:
        self.require_connected(allow_running)
        try:
            return gdb.execute(f"monitor {command}", to_string=True)
        except gdb.error as e:
            raise FjError(f"QEMU monitor command '{command}' failed: {e}")

    def qemu(self, allow_running: bool = False) -> QemuRegisters:
        """QEMU's ``info registers`` for this stop (one monitor round trip per stop)."""
        if self._qemu is not None:
            return self._qemu
        if self._qemu_error is not None:
            raise FjError(self._qemu_error)
        text = self.monitor("info registers", allow_running)
        self.monitor_reads += 1
        try:
            self._qemu = parse_info_registers(text)
        except DecodeError as e:
            first = text.strip().splitlines()[0] if text.strip() else "(no output)"
            self._qemu_error = f"cannot parse QEMU 'info registers' ({e}); it said: {first}"
            raise FjError(self._qemu_error)
        return self._qemu

    def mode(self, allow_running: bool = False) -> CpuMode:
        q = self.qemu(allow_running)
        return cpu_mode(q.cr0, q.cr4, q.efer, q.cs, q.rflags)

    def code_bits_or_none(self) -> int | None:
        """16/32/64 for the code running now, None if unknown. Never raises."""
        try:
            if not self.connected(allow_running=True):
                return None
            return self.mode(allow_running=True).bits
        except Exception:   # noqa: BLE001 - callers (disassembler, unwinder) must not fail
            return None

    def linear_pc(self) -> int:
        q = self.qemu()
        m = self.mode()
        if m.bits == 64:
            return q.rip
        lin = (q.cs.base + q.rip) & 0xFFFFFFFF
        if m.mode == "real" and not q.a20:
            lin &= ~(1 << 20)
        return lin

    # ---- memory ---------------------------------------------------------------------------
    def read_linear(self, addr: int, size: int) -> bytes:
        """Memory as the CPU sees it now (QEMU's gdbstub: linear/virtual address)."""
        self.require_connected()
        try:
            return gdb.selected_inferior().read_memory(addr, size).tobytes()
        except gdb.MemoryError as e:
            raise FjError(f"cannot read 0x{size:x} bytes at linear address 0x{addr:x} "
                          f"({e})")

    def _packet(self, conn, text: str) -> str:
        reply = conn.send_packet(text)
        return reply.decode("latin-1") if isinstance(reply, bytes) else str(reply)

    def phys_mode_supported(self) -> bool:
        conn = self.require_connected()
        if conn.num not in self._phys:
            ok = False
            try:
                ok = self._packet(conn, "qqemu.PhyMemMode") in ("0", "1")
            except (gdb.error, AttributeError, ValueError):
                ok = False
            self._phys[conn.num] = ok
        return self._phys[conn.num]

    @contextlib.contextmanager
    def physical(self):
        """Within the block, inferior.read_memory() reads guest-physical memory."""
        conn = self.require_connected()
        if not self.phys_mode_supported():
            yield False          # fall back: virtual = physical (identity map)
            return
        if self._packet(conn, "Qqemu.PhyMemMode:1") != "OK":
            yield False
            return
        try:
            yield True
        finally:
            self._packet(conn, "Qqemu.PhyMemMode:0")

    def read_phys(self, addr: int, size: int) -> bytes:
        with self.physical():
            return self.read_linear(addr, size)

    def ram_size(self) -> int | None:
        """Guest RAM in bytes (``info memory_size_summary``), None if unknown."""
        conn = self.require_connected()
        if conn.num not in self._ram:
            size = None
            try:
                for line in self.monitor("info memory_size_summary").splitlines():
                    if line.strip().startswith("base memory:"):
                        size = int(line.split(":")[1])
            except (FjError, ValueError):
                size = None
            self._ram[conn.num] = size
        return self._ram[conn.num]

    # ---- symbols --------------------------------------------------------------------------
    def symbols(self) -> SymbolTable:
        if self._symbols is None:
            syms = []
            seen = set()
            for objfile in gdb.objfiles():
                path = objfile.filename
                if not path or path in seen or not os.path.isfile(path):
                    continue
                seen.add(path)
                try:
                    with open(path, "rb") as f:
                        syms += read_elf_symbols(f.read())
                except (OSError, DecodeError, ValueError, IndexError):
                    continue
            self._symbols = SymbolTable(syms)
        return self._symbols

    def symbolize(self, addr: int) -> str | None:
        return self.symbols().symbolize(addr)

    def resolve(self, name: str) -> int | None:
        """Address of a symbol: the ELF tables first, then GDB's own lookup."""
        addr = self.symbols().address_of(name)
        if addr is not None:
            return addr
        try:
            return int(gdb.parse_and_eval(f"&{name}").cast(
                gdb.lookup_type("unsigned long")))
        except gdb.error:
            return None


STATE = State()
