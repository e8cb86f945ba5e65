"""Per-stop CPU state, read lazily from QEMU and cached: :data:`STATE`.

Everything the workbench knows about the CPU beyond GDB's register set (descriptor
caches, GDTR/IDTR, A20, and the authoritative CR0/CR4/EFER) comes from one
``monitor info registers`` per stop, parsed by :mod:`fjgdb.decoders.qemuregs` and kept as
one :class:`~fjgdb.decoders.snapshot.CpuSnapshot`. It is read the first time something
needs it and dropped on every ``gdb.events.cont``, ``register_changed``,
``memory_changed`` and on objfile/connection changes. At a ``stop`` it is kept only when
it was read after the last resume and its RIP and RSP are this stop's: ``next``/``step``
stop and resume internally (e.g. in a callee) without an event for each, and what was
read there must not outlive them. Stepping without the disassembler or the context panel
costs nothing.

:class:`State` combines the connection (:mod:`.connection`), memory (:mod:`.memory`) and
symbol (:mod:`.symbols`) parts; this module holds the cache and its invalidation.
"""
from __future__ import annotations

import gdb

from ..decoders.errors import DecodeError
from ..decoders.qemuregs import parse_info_registers
from .arch import pc_sp_names
from .connection import Connection
from .errors import FjError
from .memory import Memory
from ..decoders.snapshot import CpuSnapshot, build_snapshot
from .symbols import Symbols


class State(Connection, Memory, Symbols):
    def __init__(self) -> None:
        self.previous: CpuSnapshot | None = None      # at the last stop where it was read
        self.generation = 0                           # bumped on every invalidation
        self._snap: CpuSnapshot | None = None
        self._qemu_error: str | None = None
        self._phys: dict[int, bool] = {}              # connection num -> PhyMemMode works
        self._ram: dict[int, int | None] = {}
        self._symbols = None
        self.monitor_reads = 0                         # for tests/benchmarks
        self._resumed = False                          # a cont event since the last stop
        self.scan_cache: dict = {}                     # unwinder scratch, per stop
        self.boot_info_before_reset: bytes | None = None   # fj timeline: stale after reset

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
        keep = self._resumed and self._snap is not None and self._matches_gdb_registers()
        self._resumed = False
        if not keep:
            self.invalidate()

    def _matches_gdb_registers(self) -> bool:
        q = self._snap.regs
        mask = (1 << 64) - 1 if q.long_format else 0xFFFFFFFF
        try:
            frame = gdb.newest_frame()
            pc_name, sp_name = pc_sp_names(frame.architecture().name())
            pc = int(frame.read_register(pc_name)) & mask
            sp = int(frame.read_register(sp_name)) & mask
        except (gdb.error, ValueError):
            return False
        return pc == q.rip & mask and sp == q.reg("rsp") & mask

    def invalidate(self, *_args) -> None:
        if self._snap is not None:
            self.previous = self._snap
        self._snap = None
        self._qemu_error = None
        self.scan_cache = {}
        self.generation += 1

    def forget_connection(self, *_args) -> None:
        self.invalidate()
        self.previous = None
        self.boot_info_before_reset = None
        self._phys.clear()
        self._ram.clear()

    def connect_events(self) -> None:
        """Hook the cache to GDB's events (once, from fjgdb.install)."""
        gdb.events.cont.connect(self.on_cont)
        gdb.events.stop.connect(self.on_stop)
        gdb.events.register_changed.connect(self.invalidate)
        gdb.events.memory_changed.connect(self.invalidate)
        gdb.events.inferior_call.connect(self.invalidate)
        gdb.events.exited.connect(self.forget_connection)
        gdb.events.new_objfile.connect(self.forget_symbols)
        gdb.events.clear_objfiles.connect(self.forget_symbols)
        if hasattr(gdb.events, "connection_removed"):
            gdb.events.connection_removed.connect(self.forget_connection)

    # ---- the CPU at this stop -------------------------------------------------------------
    def snapshot(self, allow_running: bool = False) -> CpuSnapshot:
        """The CPU at this stop (one ``info registers`` round trip per stop)."""
        if self._snap is not None:
            return self._snap
        if self._qemu_error is not None:
            raise FjError(self._qemu_error)
        text = self.monitor("info registers", allow_running)
        self.monitor_reads += 1
        try:
            self._snap = build_snapshot(parse_info_registers(text))
        except DecodeError as e:
            first = text.strip().splitlines()[0] if text.strip() else "(no output)"
            self._qemu_error = f"cannot parse QEMU 'info registers' ({e}); it said: {first}"
            raise FjError(self._qemu_error)
        return self._snap

    def code_bits_or_none(self) -> int | None:
        """16/32/64 for the code running now, None if unknown. Never raises."""
        try:
            if not self.connected(allow_running=True):
                return None
            return self.snapshot(allow_running=True).mode.bits
        except Exception:   # noqa: BLE001 - callers (disassembler, unwinder) must not fail
            return None


STATE = State()
