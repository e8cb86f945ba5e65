"""Guest memory: linear reads, physical reads (QEMU's PhyMemMode), page-table reads.

Physical memory is read through QEMU's gdbstub physical-memory mode
(``Qqemu.PhyMemMode:1``, QEMU >= 4.1, present in 7.2); without it, reads fall back to
virtual = physical, which is right for this project's identity-mapped low GiB. Page
tables (fj pt) are read straight from QEMU's process when it runs on this machine
(:mod:`.hostmem`), through the gdbstub otherwise.
"""
from __future__ import annotations

import contextlib

import gdb

from . import hostmem
from .errors import FjError, NotConnected

#: what $cr0 etc. are in QEMU's target description (flags types) or GDB's defaults
_REGISTER_TYPES = (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_FLAGS)

#: RAM sizes above this overlap the PCI hole: only RAM below it bounds table reads.
_LOW_RAM_MAX = 0xB0000000


class Memory:
    """Mixed into :class:`fjgdb.target.state.State` (uses its connection and cache)."""

    def read_raw(self, addr: int, size: int) -> bytes:
        """*size* bytes at linear *addr*, no connection check (the disassembler and the
        unwinder read while GDB handles a stop); FjError if unreadable."""
        try:
            return gdb.selected_inferior().read_memory(addr, size).tobytes()
        except gdb.MemoryError as e:
            raise FjError(f"cannot read 0x{size:x} bytes at linear address 0x{addr:x} "
                          f"({e})")

    def read_linear(self, addr: int, size: int) -> bytes:
        """Memory as the CPU sees it now (QEMU's gdbstub: linear/virtual address)."""
        self.require_connected()
        return self.read_raw(addr, size)

    def read_table(self, what: str, base: int, size: int) -> bytes:
        """The GDT/IDT bytes at linear *base*, or one line saying they cannot be read."""
        try:
            return self.read_linear(base, size)
        except NotConnected:
            raise
        except FjError:
            hint = ""
            if self.snapshot().mode.paging:
                hint = f" (not mapped? see 'fj pt 0x{base:x}')"
            raise FjError(f"cannot read the {what} at 0x{base:x} (0x{size:x} bytes): "
                          f"guest memory unreadable{hint}") from None

    def phys_mode_supported(self) -> bool:
        conn = self.require_connected()
        if conn.num not in self._phys:
            ok = False
            try:
                ok = self.packet(conn, "qqemu.PhyMemMode") in ("0", "1")
            except (gdb.error, AttributeError, ValueError):
                ok = False
            self._phys[conn.num] = ok
        return self._phys[conn.num]

    @contextlib.contextmanager
    def physical(self):
        """Within the block, reads are of guest-physical memory; yields whether they
        really are (False: the fallback virtual = physical)."""
        conn = self.require_connected()
        if not self.phys_mode_supported():
            yield False          # fall back: virtual = physical (identity map)
            return
        if self.packet(conn, "Qqemu.PhyMemMode:1") != "OK":
            yield False
            return
        try:
            yield True
        finally:
            self.packet(conn, "Qqemu.PhyMemMode:0")

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

    def low_ram(self) -> int | None:
        """Where guest RAM below the PCI hole ends (None if unknown or bigger)."""
        ram = self.ram_size()
        return ram if ram is not None and ram <= _LOW_RAM_MAX else None

    def paging_registers(self) -> tuple[int, int, int, int]:
        """CR0, CR3, CR4 and EFER of GDB's selected thread's CPU (its vCPU): from
        this stop's snapshot when one was read, else from GDB's own register set
        (QEMU's gdbstub sends them with the others, x86-64 and i386 alike: no round
        trip), else, with a gdbstub that has no such registers (or a selected outer
        frame where they read as not saved), from QEMU's monitor.

        ``$cr3`` is read as an expression, not with ``Frame.read_register``: a Python
        frame object costs the frame's ID, i.e. running the unwinders again after
        anything that flushed GDB's frame cache (a monitor command, any packet)."""
        snap = self._snaps.get(self.selected_cpu())
        if snap is None:
            try:
                values = []
                for name in ("$cr0", "$cr3", "$cr4", "$efer"):
                    v = gdb.parse_and_eval(name)
                    if v.type.code not in _REGISTER_TYPES or v.is_optimized_out:
                        raise ValueError(name)
                    values.append(int(v) & 0xFFFFFFFFFFFFFFFF)
                return tuple(values)
            except (gdb.error, ValueError, RuntimeError):
                snap = self.snapshot()
        return snap.cr0, snap.cr3, snap.cr4, snap.efer

    def page_tables(self, mode: str = "on", identity: bool = False) -> "PageTableReader":
        """A reader of 4 KiB paging structures by physical address (fj pt); use it as a
        context manager around the walk. *mode* is ``set fj-pt-fast``'s: "on" reads
        guest RAM straight from QEMU's process when it can (:mod:`.hostmem`), else
        through the gdbstub like "gdbstub", two raw 2 KiB ``m`` packets a table; "off"
        is the plain path, GDB's memory reads. *identity*: through the gdbstub, first
        read linear = physical without PhyMemMode (one CPU only; the caller must check
        the answer with :func:`~fjgdb.decoders.pagewalk.identity_mapped` on
        ``reader.virtual``, and read again without it if that fails)."""
        reader = PageTableReader(self, self.low_ram(), mode)
        reader.identity = (identity and mode != "off" and reader.host is None
                           and self.cpu_count() == 1 and self.phys_mode_supported())
        return reader


class PageTableReader:
    """``reader(phys)`` -> the 4096 bytes of the table at *phys*, each read once.

    ``low_ram`` is where guest RAM below the PCI hole ends (None if unknown): tables
    beyond it are refused. ``count`` is how many tables the walk asked for (``pages``:
    the bytes of those it could read), ``physical`` whether the reads were physical.
    Gdbstub reads are of guest-physical memory (QEMU's PhyMemMode): in mode "off" it is
    switched on when entering the ``with`` block, in the others at the first gdbstub
    read, if any."""

    def __init__(self, memory: Memory, low_ram: int | None, mode: str = "on"):
        self._memory = memory
        self.low_ram = low_ram
        self.mode = mode
        self.host = hostmem.host_ram(memory) if mode == "on" else None
        self.physical = True
        self.pages: dict[int, bytes] = {}      # what the walk read
        self.asked: set[int] = set()           # what it asked for (read or not)
        self.identity = False                  # try linear = physical first (page_tables)
        self.virtual: set[int] = set()         # the tables read that way (to be checked)
        self._read_already: dict[int, bytes] = {}
        self._ctx = None

    @property
    def count(self) -> int:
        return len(self.asked)

    def __enter__(self):
        if self.mode == "off":
            self._physical_on()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            return ctx.__exit__(*exc)
        return False

    def _physical_on(self) -> None:
        self._ctx = self._memory.physical()
        self.physical = self._ctx.__enter__()

    def __call__(self, phys: int) -> bytes:
        if phys not in self.pages:
            self.asked.add(phys)
            data = self._read_already.get(phys)
            if data is None:
                data = self._fetch(phys)
            self.pages[phys] = data
        return self.pages[phys]

    def unchanged(self, pages: dict[int, bytes]) -> bool:
        """True if every page of *pages* (an earlier walk's) still holds the same bytes.
        What is read here is kept: a new walk does not read it again."""
        for phys, old in pages.items():
            try:
                data = self.pages.get(phys) or self._read_already.get(phys)
                if data is None:
                    data = self._read_already[phys] = self._fetch(phys)
            except NotConnected:
                raise
            except FjError:
                return False
            if data != old:
                return False
        return True

    def _fetch(self, phys: int) -> bytes:
        if self.low_ram is not None and phys + 4096 > self.low_ram:
            raise FjError(f"outside guest RAM (which ends at 0x{self.low_ram:x})")
        host = self.host
        if host is not None and host.covers(phys, 4096):
            try:
                data = host.read(phys, 4096)
            except OSError as e:
                hostmem.disable(self._memory, f"reading /proc/{host.pid}/mem failed ({e})")
                self.host = None
                return self._gdbstub(phys)
            if host.verified:
                return data
            check = self._gdbstub(phys)      # once per connection: the same bytes?
            if check == data and self.physical:
                host.verified = data.count(0) != len(data)   # zeros prove nothing
            else:
                hostmem.disable(self._memory, f"a page table read from "
                                f"{host.describe()} differed from the gdbstub's")
                self.host = None
            return check
        return self._gdbstub(phys)

    #: tables read through the gdbstub: linear = physical (checked after the walk), or
    #: with PhyMemMode; for tests and benchmarks
    STATS = {"identity": 0, "physical": 0}

    def _gdbstub(self, phys: int) -> bytes:
        if self.identity and self._ctx is None:
            # PhyMemMode on and off are two round trips of the 14 of a typical walk: a
            # guest that maps its tables at their own addresses (an identity map) gives
            # the same bytes without them. Whether it does is known from the walk
            # itself, afterwards (the caller checks reader.virtual against it).
            try:
                data = self._packets(phys)
            except FjError:
                self.identity = False      # not mapped there: PhyMemMode from now on
            else:
                self.virtual.add(phys)
                PageTableReader.STATS["identity"] += 1
                return data
        if self._ctx is None:
            self._physical_on()
        if self.mode == "off":
            try:
                return gdb.selected_inferior().read_memory(phys, 4096).tobytes()
            except gdb.MemoryError:
                raise FjError("guest memory unreadable") from None
        PageTableReader.STATS["physical"] += 1
        return self._packets(phys)

    def _packets(self, phys: int) -> bytes:
        """The 4 KiB at *phys* in two raw ``m`` packets. QEMU 7.2 answers at most 2 KiB
        (4 KiB of hex) per packet; sent as they are (GDB's read_memory costs ~25% more
        for the same packets)."""
        conn = self._memory.require_connected()
        data = b""
        for off in (0, 0x800):
            reply = self._memory.packet(conn, f"m{phys + off:x},800")
            try:
                if len(reply) != 0x1000:
                    raise ValueError(reply[:20])
                data += bytes.fromhex(reply)
            except ValueError:
                raise FjError("guest memory unreadable") from None
        return data
