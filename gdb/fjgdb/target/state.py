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

The fast path after a ``stepi`` (no ``info registers`` when the instruction stepped cannot
have changed what it holds) and the memory windows are in :mod:`.fastpath`.

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
from .connection import Connection
from .fastpath import FastPath
from .errors import FjError
from .memory import Memory
from ..decoders.snapshot import CpuSnapshot, build_snapshot
from .symbols import Symbols


class State(Connection, Memory, Symbols, FastPath):
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
        # the fast path (module docstring)
        self.always_refresh = False                   # set fj-always-refresh (tests)
        self.resumes = 0                              # cont events so far
        self._base: dict[int, tuple[int, CpuSnapshot]] = {}   # per CPU: (resumes, snap)
        self._code: dict[int, dict] = {}    # per CPU: {resumes: [(addr, bytes)]}
        self._stepi_pending: int | None = None        # hook-stepi: the CPU about to step
        self._stepped: int | None = None              # the CPU this resume single-stepped
        self._frame_pcs: set[int] = set()             # level-0 PCs GDB unwound since
        self._replaying: dict[int, bool] = {}         # connection num -> QEMU replays
        self._ncpus: dict[int, int] = {}              # connection num -> threads
        self.fast_snapshots = 0                       # for tests/benchmarks
        self._in_unwinder = False                     # set by the unwinder while it runs
        self._tentative = False                       # the unwinder used unchecked windows
        self._last_stop: dict[int, dict] = {}         # cpu -> {resumes: where it stood}
        self._stop_regs: tuple | None = None           # (resumes, generation, GDB's regs)
        self._steps: dict = {}                        # classify() answers (fastpath)

    # ---- which CPU -------------------------------------------------------------------------
    _cpu_of = (None, 0)          # (the last gdb.InferiorThread asked about, its CPU)

    def selected_cpu(self) -> int:
        """QEMU's cpu_index of GDB's selected thread (0 without one). GDB keeps one
        InferiorThread object per thread: the last answer is kept for it."""
        thread = gdb.selected_thread()
        if thread is None:
            return 0
        if thread is self._cpu_of[0] and thread.is_valid():
            return self._cpu_of[1]
        try:
            cpu = cpu_of_thread(thread.ptid[1])
        except (ValueError, IndexError, TypeError):
            return 0
        self._cpu_of = (thread, cpu)
        return cpu

    def cpu_count(self) -> int:
        """How many vCPUs (GDB threads) the connection has; 1 without one. Kept per
        connection (Inferior.threads() asks QEMU for its thread list: ~0.1-0.4 ms) until
        GDB reports a new thread; QEMU's vCPUs all exist from the start."""
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        key = conn.num if conn is not None else None
        if key is not None and key in self._ncpus:
            return self._ncpus[key]
        try:
            n = max(1, len(inf.threads()))
        except gdb.error:
            return 1
        if key is not None:
            self._ncpus[key] = n
        return n

    def forget_threads(self, *_args) -> None:
        self._ncpus = {}

    @property
    def _snap(self) -> CpuSnapshot | None:
        return self._snaps.get(self.selected_cpu())

    @property
    def previous(self) -> CpuSnapshot | None:
        """The selected CPU's snapshot at the last stop where it was read."""
        return self._previous.get(self.selected_cpu())

    # ---- invalidation ------------------------------------------------------------------
    def on_cont(self, *_args) -> None:
        """gdb.events.cont (every resume): drop the cache, remember that the guest ran
        (what was read stays as the base of the fast path for the next stop)."""
        self._drop_stop()
        self._resumed = True
        self.resumes += 1
        self._stepped, self._stepi_pending = self._stepi_pending, None
        self._frame_pcs = set()

    def note_stepi(self) -> None:
        """hook-stepi (before every stepi, whatever its count): which CPU will step."""
        try:
            self._stepi_pending = self.selected_cpu()
        except gdb.error:
            self._stepi_pending = None

    def note_prompt(self, *_args) -> None:
        """gdb.events.before_prompt: a stepi that never resumed leaves no mark behind."""
        self._stepi_pending = None

    def note_frame_pc(self, pc: int) -> None:
        """The unwinder saw GDB unwind a newest frame at *pc* (``stepi N`` does so
        between its steps: more than one PC means more than one instruction ran)."""
        if len(self._frame_pcs) < 4:
            self._frame_pcs.add(pc)

    def on_stop(self, *_args) -> None:
        """gdb.events.stop: keep what was read since the last resume (the unwinder and the
        disassembler read while GDB handles this very stop, with the guest already
        stopped), so that the context panel does not ask QEMU a second time; drop
        anything else (a stop that no resume announced).

        `next` and `step` stop and resume internally (into a callee, then back) without
        a stop event for each, so what was read may belong to an earlier internal stop:
        keep it only when its RIP and RSP are the registers GDB holds for this stop."""
        cpu = self.selected_cpu()
        if not self._resumed:
            self.invalidate()       # a stop no resume announced: trust nothing
            return
        # here, in the stop event, the selected frame is the newest: read what the
        # panel's snapshot will need now (no gdb.Frame: see _registers_at_stop); only
        # after a stepi of this CPU can the fast path use them
        regs = self._registers_at_stop(
            self.STOP_REGISTERS if self.prefetch_at_stop and self._stepped == cpu else ())
        self._validate_windows(cpu, regs)
        self._resumed = False
        if self._snap is None:
            self._drop_stop()
        elif self._matches_gdb_registers(regs):
            # only the stopping CPU's was checked against this stop's registers
            self._snaps = {cpu: self._snaps[cpu]}
        else:       # read at an internal stop of next/step: no base for anything
            self.invalidate()
        if regs:
            self._stop_regs = (self.resumes, self.generation, regs)

    def _matches_gdb_registers(self, regs: dict[str, int]) -> bool:
        q = self._snap.regs
        mask = (1 << 64) - 1 if q.long_format else 0xFFFFFFFF
        try:
            if "rip" in regs:
                pc, sp = regs["rip"], regs["rsp"]
            else:           # $pc/$sp: rip/rsp or eip/esp, whatever GDB's architecture
                pc, sp = (int(gdb.parse_and_eval(n)) for n in ("$pc", "$sp"))
        except (gdb.error, ValueError):
            return False
        return pc & mask == q.rip & mask and sp & mask == q.reg("rsp") & mask

    def _drop_stop(self) -> None:
        """What a resume drops: this stop's snapshots (they stay the fast path's base)."""
        self._previous.update(self._snaps)
        self._snaps = {}
        self._qemu_errors = {}
        self.scan_cache = {}
        self.generation += 1

    def invalidate(self, *_args) -> None:
        """Drop everything read from QEMU, and the fast path's base: the next snapshot
        asks QEMU (register or memory writes, inferior calls, fj tour, reverse moves)."""
        self._drop_stop()
        self._base = {}
        self._code = {}
        self._stop_regs = None
        self._last_stop = {}
        if self._tentative:
            self._tentative = False
            try:
                gdb.invalidate_cached_frames()
            except (gdb.error, AttributeError):
                pass

    def forget_connection(self, *_args) -> None:
        self.invalidate()
        self._previous = {}
        self.boot_info_before_reset = None
        self._phys.clear()
        self._ram.clear()
        self._replaying.clear()
        self._ncpus = {}

    def connect_events(self) -> None:
        """Hook the cache to GDB's events (once, from fjgdb.install)."""
        gdb.events.cont.connect(self.on_cont)
        gdb.events.stop.connect(self.on_stop)
        gdb.events.register_changed.connect(self.invalidate)
        gdb.events.memory_changed.connect(self.invalidate)
        gdb.events.inferior_call.connect(self.invalidate)
        gdb.events.before_prompt.connect(self.note_prompt)
        gdb.events.new_thread.connect(self.forget_threads)
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
    def snapshot(self, allow_running: bool = False, frame=None) -> CpuSnapshot:
        """The selected thread's CPU at this stop (one ``info registers`` round trip per
        stop and CPU, after ``monitor cpu N`` when there are several). *frame*: the
        unwinder's pending frame at level 0, to read GDB's registers from (inside a frame
        sniffer gdb.newest_frame() must not be called)."""
        cpu = self.selected_cpu()
        if cpu in self._snaps:
            return self._snaps[cpu]
        if cpu in self._qemu_errors:
            raise FjError(self._qemu_errors[cpu])
        snap = self._derive(cpu, frame)
        if snap is not None:
            self.fast_snapshots += 1
            self._snaps[cpu] = snap
            self._base[cpu] = (self.resumes, snap)
            self.note_stop(cpu, snap)
            return snap
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
        self._base[cpu] = (self.resumes, self._snaps[cpu])
        self.note_stop(cpu, self._snaps[cpu])
        return self._snaps[cpu]

    def code_bits_or_none(self, frame=None) -> int | None:
        """16/32/64 for the code running now, None if unknown. Never raises. *frame*: see
        :meth:`snapshot`."""
        try:
            if not self.connected(allow_running=True):
                return None
            return self.snapshot(allow_running=True, frame=frame).mode.bits
        except Exception:   # noqa: BLE001 - callers (disassembler, unwinder) must not fail
            return None


STATE = State()
