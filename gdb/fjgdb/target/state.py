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

Several CPUs (``-smp N``): GDB shows each vCPU as a thread (thread id = QEMU cpu_index + 1),
and QEMU's monitor answers for its own current CPU, not for GDB's selected thread. So the
cache is keyed by CPU (GDB 13 has no event for "selected thread changed"): the snapshot is
that of GDB's selected thread's CPU, read after ``monitor cpu N`` (which also makes
``info tlb``/``info mem`` answer for that CPU), and refused if QEMU's ``CPU#n`` header
names another CPU.
"""
from __future__ import annotations

import gdb

from ..decoders.cpus import cpu_of_thread
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
        self._previous: dict[int, CpuSnapshot] = {}   # per CPU: the last stop it was read
        self.generation = 0                           # bumped on every invalidation
        self._snaps: dict[int, CpuSnapshot] = {}      # per CPU (cpu_index): this stop's
        self._qemu_errors: dict[int, str] = {}
        self._phys: dict[int, bool] = {}              # connection num -> PhyMemMode works
        self._ram: dict[int, int | None] = {}
        self._symbols = None
        self.monitor_reads = 0                         # for tests/benchmarks
        self._resumed = False                          # a cont event since the last stop
        self.scan_cache: dict = {}                     # unwinder scratch, per stop
        self.boot_info_before_reset: bytes | None = None   # fj timeline: stale after reset
        self._cpu_count: tuple | None = None          # ((connection, thread events), n)
        self._thread_events = 0

    # ---- which CPU -------------------------------------------------------------------------
    @staticmethod
    def selected_cpu() -> int:
        """QEMU's cpu_index of GDB's selected thread (0 without one)."""
        thread = gdb.selected_thread()
        if thread is None:
            return 0
        try:
            return cpu_of_thread(thread.ptid[1])
        except (ValueError, IndexError, TypeError):
            return 0

    def cpu_count(self) -> int:
        """How many vCPUs (GDB threads) the connection has; 1 without one. Kept for the
        connection until GDB reports a new thread (``Inferior.threads()`` asks the
        gdbstub for the thread list every time, ~0.2 ms; QEMU's vCPUs are all there
        from the start and never exit)."""
        conn = self.connection()
        key = (conn.num if conn is not None else None, self._thread_events)
        if self._cpu_count is not None and self._cpu_count[0] == key:
            return self._cpu_count[1]
        try:
            n = max(1, len(gdb.selected_inferior().threads()))
        except gdb.error:
            n = 1
        self._cpu_count = (key, n)
        return n

    def on_new_thread(self, *_args) -> None:
        self._thread_events += 1

    @property
    def _snap(self) -> CpuSnapshot | None:
        return self._snaps.get(self.selected_cpu())

    @property
    def previous(self) -> CpuSnapshot | None:
        """The selected CPU's snapshot at the last stop where it was read."""
        return self._previous.get(self.selected_cpu())

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
        cpu = self.selected_cpu()
        keep = self._resumed and self._snap is not None and self._matches_gdb_registers()
        self._resumed = False
        if not keep:
            self.invalidate()
        else:       # only the stopping CPU's was checked against this stop's registers
            self._snaps = {cpu: self._snaps[cpu]}

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
        self._previous.update(self._snaps)
        self._snaps = {}
        self._qemu_errors = {}
        self.scan_cache = {}
        self.generation += 1

    def forget_connection(self, *_args) -> None:
        self.invalidate()
        self._previous = {}
        self.boot_info_before_reset = None
        self._cpu_count = None
        self._phys.clear()
        self._ram.clear()

    def connect_events(self) -> None:
        """Hook the cache to GDB's events (once, from fjgdb.install)."""
        gdb.events.cont.connect(self.on_cont)
        gdb.events.stop.connect(self.on_stop)
        gdb.events.register_changed.connect(self.invalidate)
        gdb.events.memory_changed.connect(self.invalidate)
        gdb.events.inferior_call.connect(self.invalidate)
        gdb.events.new_thread.connect(self.on_new_thread)
        gdb.events.exited.connect(self.forget_connection)
        gdb.events.new_objfile.connect(self.forget_symbols)
        gdb.events.clear_objfiles.connect(self.forget_symbols)
        if hasattr(gdb.events, "connection_removed"):
            gdb.events.connection_removed.connect(self.forget_connection)

    def cpu_monitor(self, command: str, allow_running: bool = False) -> str:
        """A monitor command that answers for the monitor's current CPU (``info
        registers``, ``info tlb``, ``info mem``), asked for GDB's selected thread's CPU:
        with several CPUs ``monitor cpu N`` goes first, every time (the user may have
        typed another ``monitor cpu`` since)."""
        if self.cpu_count() > 1:
            self.monitor(f"cpu {self.selected_cpu()}", allow_running)
        return self.monitor(command, allow_running)

    # ---- the CPU at this stop -------------------------------------------------------------
    def snapshot(self, allow_running: bool = False) -> CpuSnapshot:
        """The selected thread's CPU at this stop (one ``info registers`` round trip per
        stop and CPU, after ``monitor cpu N`` when there are several)."""
        cpu = self.selected_cpu()
        if cpu in self._snaps:
            return self._snaps[cpu]
        if cpu in self._qemu_errors:
            raise FjError(self._qemu_errors[cpu])
        text = self.cpu_monitor("info registers", allow_running)
        self.monitor_reads += 1
        try:
            regs = parse_info_registers(text)
        except DecodeError as e:
            first = text.strip().splitlines()[0] if text.strip() else "(no output)"
            self._qemu_errors[cpu] = (f"cannot parse QEMU 'info registers' ({e}); it said: "
                                      f"{first}")
            raise FjError(self._qemu_errors[cpu])
        if regs.cpu is not None and regs.cpu != cpu:
            self._qemu_errors[cpu] = (f"QEMU's monitor answered for CPU#{regs.cpu}, not for "
                                      f"CPU#{cpu} (GDB's thread {cpu + 1}); not using it")
            raise FjError(self._qemu_errors[cpu])
        self._snaps[cpu] = build_snapshot(regs)
        return self._snaps[cpu]

    def code_bits_or_none(self) -> int | None:
        """16/32/64 for the code running now, None if unknown. Never raises."""
        try:
            if not self.connected(allow_running=True):
                return None
            return self.snapshot(allow_running=True).mode.bits
        except Exception:   # noqa: BLE001 - callers (disassembler, unwinder) must not fail
            return None


STATE = State()
