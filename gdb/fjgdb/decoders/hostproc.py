"""What Linux and QEMU say about QEMU's process, for reading guest RAM straight from it
(:mod:`fjgdb.target.hostmem`): which TCP socket is the other end of GDB's gdbstub
connection (``/proc/net/tcp``, ``/proc/net/tcp6``), where QEMU keeps a guest-physical
address (monitor ``gpa2hva``), and whether a range of QEMU's address space is mapped
(``/proc/PID/maps``). Pure: text in, values out.

Formats: Documentation/networking/proc_net_tcp.rst in Linux (``sl local_address
rem_address st ... inode``, addresses as the kernel's hex words, ``:PORT`` in hex, state
01 = ESTABLISHED); QEMU 7.2 hmp ``gpa2hva``: "Host virtual address for 0x1000 (pc.ram)
is 0x7f33e7e01000"; proc(5) for maps.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DecodeError

TCP_ESTABLISHED = 1


@dataclass(frozen=True)
class TcpSocket:
    """One line of /proc/net/tcp{,6}. ``local``/``remote`` are the kernel's text
    ("0100007F:E0BF"): the two ends of one connection are each other's swapped."""

    local: str
    remote: str
    state: int
    inode: int

    @property
    def local_port(self) -> int:
        return int(self.local.rsplit(":", 1)[1], 16)

    @property
    def remote_port(self) -> int:
        return int(self.remote.rsplit(":", 1)[1], 16)


def parse_proc_net_tcp(text: str) -> list[TcpSocket]:
    """The sockets of a /proc/net/tcp or /proc/net/tcp6 text (header and odd lines
    skipped)."""
    socks = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or ":" not in f[1] or ":" not in f[2]:
            continue
        try:
            socks.append(TcpSocket(f[1].upper(), f[2].upper(), int(f[3], 16), int(f[9])))
        except ValueError:
            continue
    return socks


def remote_port(details: str | None) -> int | None:
    """The TCP port of GDB's remote connection ``details`` ("127.0.0.1:1234",
    "localhost:1234", ":1234", "tcp:host:1234", "[::1]:1234"); None for anything else
    (a pipe, a serial line, a Unix socket)."""
    if not details:
        return None
    text = details.strip()
    for prefix in ("tcp:", "tcp4:", "tcp6:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]*\]|[\w.-]*):(\d{1,5})", text)
    if not m or not 0 < int(m.group(2)) < 65536:
        return None
    return int(m.group(2))


def gdbstub_peer(sockets: list[TcpSocket], own_inodes: set[int],
                 port: int) -> TcpSocket | None:
    """The socket at the other end of the one established connection that GDB (the
    owner of *own_inodes*) has to *port*; None when there is none on this machine (the
    gdbstub is elsewhere) or it is ambiguous."""
    ours = [s for s in sockets if s.inode in own_inodes and s.remote_port == port
            and s.state == TCP_ESTABLISHED]
    if len(ours) != 1:
        return None
    mine = ours[0]
    peers = [s for s in sockets if s.local == mine.remote and s.remote == mine.local
             and s.state == TCP_ESTABLISHED and s.inode]
    return peers[0] if len(peers) == 1 else None


def parse_gpa2hva(text: str) -> tuple[str, int]:
    """(memory region name, host virtual address) from QEMU's ``gpa2hva`` answer."""
    m = re.search(r"Host virtual address for 0x[0-9a-fA-F]+ \(([^)]*)\) is "
                  r"0x([0-9a-fA-F]+)", text)
    if not m:
        first = text.strip().splitlines()[0] if text.strip() else "(nothing)"
        raise DecodeError(f"QEMU's gpa2hva said: {first}")
    return m.group(1), int(m.group(2), 16)


def maps_cover(maps: str, start: int, end: int) -> bool:
    """True if the readable mappings of a /proc/PID/maps text cover [start, end)
    without a gap."""
    spans = []
    for line in maps.splitlines():
        f = line.split()
        if len(f) < 2 or "-" not in f[0] or not f[1].startswith("r"):
            continue
        try:
            lo, hi = (int(x, 16) for x in f[0].split("-", 1))
        except ValueError:
            continue
        spans.append((lo, hi))
    at = start
    for lo, hi in sorted(spans):
        if lo <= at < hi:
            at = hi
        if at >= end:
            return True
    return at >= end
