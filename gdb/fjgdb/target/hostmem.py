"""Guest-physical memory read straight from QEMU's process, when QEMU runs on this
machine: ``/proc/QEMU_PID/mem`` at the host address QEMU's ``gpa2hva`` gives for guest
RAM. A 4 KiB page table then costs one ``pread`` (~5 us) instead of two gdbstub
round trips (~0.3 ms); `fj pt` uses it (:class:`~fjgdb.target.memory.PageTableReader`).

Which process is QEMU is found from the gdbstub connection itself, never from a process
name: the TCP socket GDB holds to the gdbstub's port (``/proc/self/fd`` and
``/proc/net/tcp{,6}``), the socket at its other end, and the process that holds that one
(``/proc/*/fd``). Then, once per connection:

- ``gpa2hva`` of the first page, of 1 MiB and of the last page of RAM below the PCI
  hole must name the same RAM block at the same offset (QEMU 7.2's ``pc.ram``: one
  block below 3 GiB), and ``/proc/PID/maps`` must map all of it;
- opening ``/proc/PID/mem`` needs the right to ptrace QEMU (the same user and
  ``kernel.yama.ptrace_scope`` 0, or root);
- the first table read this way is compared with the same page read through the gdbstub
  (PageTableReader does it); a difference turns the direct reads off.

Only RAM below the VGA window (0xA0000) and from 1 MiB to the end of low RAM is read
directly; anything else, and every case where one of the checks fails, goes through the
gdbstub as before. ``status()`` says which, for ``show fj-pt-fast``.
"""
from __future__ import annotations

import os

import gdb

from ..decoders.errors import DecodeError
from ..decoders.hostproc import (gdbstub_peer, maps_cover, parse_gpa2hva,
                                 parse_proc_net_tcp, remote_port)
from .errors import FjError

#: guest-physical ranges read directly: conventional memory, and RAM from 1 MiB on
#: (0xA0000-0xFFFFF is VGA, option ROMs and the BIOS: not plain RAM for the CPU)
_LOW_END, _HIGH_START = 0xA0000, 0x100000


class HostRam:
    """Guest RAM as a range of QEMU's address space, read with ``pread`` on an open
    ``/proc/PID/mem`` (kept open: a dead QEMU's file reads nothing, a new process
    with the same pid is never read)."""

    def __init__(self, pid: int, fd: int, offset: int, low_ram: int, block: str):
        self.pid, self.fd, self.offset, self.block = pid, fd, offset, block
        self.spans = ((0, _LOW_END), (_HIGH_START, low_ram))
        self.verified = False      # compared once with a gdbstub read

    def covers(self, gpa: int, size: int) -> bool:
        return any(lo <= gpa and gpa + size <= hi for lo, hi in self.spans)

    def read(self, gpa: int, size: int) -> bytes:
        """*size* bytes at guest-physical *gpa* (which :meth:`covers`); OSError if
        QEMU's memory cannot be read (QEMU gone)."""
        data = os.pread(self.fd, size, self.offset + gpa)
        if len(data) != size:
            raise OSError(f"short read of /proc/{self.pid}/mem")
        return data

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass

    def describe(self) -> str:
        return f"/proc/{self.pid}/mem (QEMU's {self.block})"


#: per GDB connection number: its HostRam, or why there is none
_ENTRIES: dict[int, HostRam | str] = {}
_hooked = False


def _forget(*_args) -> None:
    for entry in _ENTRIES.values():
        if isinstance(entry, HostRam):
            entry.close()
    _ENTRIES.clear()


def _hook() -> None:
    global _hooked
    if not _hooked:
        gdb.events.exited.connect(_forget)
        if hasattr(gdb.events, "connection_removed"):
            gdb.events.connection_removed.connect(_forget)
        _hooked = True


def host_ram(state) -> HostRam | None:
    """The direct reader of this connection's QEMU, None when there is none (the
    reason is kept for :func:`status`)."""
    conn = state.require_connected()
    entry = _ENTRIES.get(conn.num)
    if entry is None:
        _hook()
        try:
            entry = _find(state, conn)
        except (OSError, ValueError, DecodeError, FjError) as e:
            entry = f"cannot find QEMU's memory ({e})"
        _ENTRIES[conn.num] = entry
    return entry if isinstance(entry, HostRam) else None


def disable(state, reason: str) -> None:
    """Stop reading directly on this connection (a mismatch or a failed read)."""
    conn = state.connection()
    if conn is not None:
        entry = _ENTRIES.get(conn.num)
        if isinstance(entry, HostRam):
            entry.close()
        _ENTRIES[conn.num] = reason


def status(state) -> str:
    """How page tables are read on this connection, as far as it is known."""
    conn = state.connection()
    entry = _ENTRIES.get(conn.num) if conn is not None else None
    if entry is None:
        return "not known yet (no fj pt on this connection)"
    if isinstance(entry, HostRam):
        how = "checked against the gdbstub" if entry.verified else "not checked yet"
        return f"guest RAM read from {entry.describe()}, {how}"
    return f"through the gdbstub: {entry}"


def _socket_inodes(pid: str) -> set[int]:
    found = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for name in names:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def _owners(inode: int) -> list[int]:
    """The processes (other than GDB) that hold socket *inode*."""
    me, target, owners = os.getpid(), f"socket:[{inode}]", []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(f"/proc/{pid}/fd/{name}") == target:
                    owners.append(int(pid))
                    break
            except OSError:
                continue
    return owners


def _ptrace_scope() -> str:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return f"kernel.yama.ptrace_scope={f.read().strip()}"
    except OSError:
        return "no Yama ptrace_scope"


def _find(state, conn) -> HostRam | str:
    port = remote_port(getattr(conn, "details", None))
    if port is None:
        return f"the gdbstub connection ({conn.details}) is not TCP"
    sockets = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                sockets += parse_proc_net_tcp(f.read())
        except OSError:
            continue
    peer = gdbstub_peer(sockets, _socket_inodes("self"), port)
    if peer is None:
        return f"the gdbstub at port {port} is not a process on this machine"
    owners = _owners(peer.inode)
    if len(owners) != 1:
        return (f"{'no process' if not owners else 'several processes'} here "
                f"hold{'s' if len(owners) == 1 else ''} the gdbstub's end of the "
                f"connection (port {port})")
    pid = owners[0]
    low_ram = state.low_ram()
    if low_ram is None or low_ram < _HIGH_START + 0x1000:
        return "the size of guest RAM below the PCI hole is not known"
    blocks = set()
    for gpa in (0, _HIGH_START, low_ram - 0x1000):
        name, hva = parse_gpa2hva(state.monitor(f"gpa2hva 0x{gpa:x}"))
        blocks.add((name, hva - gpa))
    if len(blocks) != 1:
        return "QEMU keeps guest RAM in more than one block: " + ", ".join(
            sorted(f"{n} at +0x{o:x}" for n, o in blocks))
    (block, offset), = blocks
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        return (f"cannot read /proc/{pid}/mem ({e.strerror or e}; needs the right to "
                f"ptrace QEMU: same user and {_ptrace_scope()}, or root)")
    if not maps_cover(maps, offset, offset + low_ram):
        os.close(fd)
        return (f"the process at the gdbstub's end of the connection (pid {pid}) does not "
                "map guest RAM where gpa2hva says: not QEMU (a relay or port forward?)")
    return HostRam(pid, fd, offset, low_ram, block)
