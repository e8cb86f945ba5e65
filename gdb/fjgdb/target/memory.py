"""Guest memory: linear reads, physical reads (QEMU's PhyMemMode), page-table reads.

Physical memory is read through QEMU's gdbstub physical-memory mode
(``Qqemu.PhyMemMode:1``, QEMU >= 4.1, present in 7.2); without it, reads fall back to
virtual = physical, which is right for this project's identity-mapped low GiB.
"""
from __future__ import annotations

import contextlib

import gdb

from .errors import FjError, NotConnected

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

    def page_tables(self) -> "PageTableReader":
        """A reader of 4 KiB paging structures by physical address (fj pt); use it as a
        context manager around the walk (it switches QEMU to physical reads)."""
        ram = self.ram_size()
        return PageTableReader(self, ram if ram is not None and ram <= _LOW_RAM_MAX else None)


class PageTableReader:
    """``reader(phys)`` -> the 4096 bytes of the table at *phys*, each read once.

    ``low_ram`` is where guest RAM below the PCI hole ends (None if unknown): tables
    beyond it are refused. ``count`` is how many tables were read, ``physical``
    whether the reads were physical (set on entering the ``with`` block)."""

    def __init__(self, memory: Memory, low_ram: int | None):
        self._memory = memory
        self.low_ram = low_ram
        self.count = 0
        self.physical = False
        self._tables: dict[int, bytes] = {}
        self._ctx = None

    def __enter__(self):
        self._ctx = self._memory.physical()
        self.physical = self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)

    def __call__(self, phys: int) -> bytes:
        if phys not in self._tables:
            if self.low_ram is not None and phys + 4096 > self.low_ram:
                raise FjError(f"outside guest RAM (which ends at 0x{self.low_ram:x})")
            self.count += 1
            try:
                self._tables[phys] = gdb.selected_inferior().read_memory(phys, 4096).tobytes()
            except gdb.MemoryError:
                raise FjError("guest memory unreadable") from None
        return self._tables[phys]
