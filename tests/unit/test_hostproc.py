"""decoders/hostproc.py: finding QEMU from GDB's gdbstub socket (/proc/net/tcp{,6}), QEMU's
gpa2hva answer and /proc/PID/maps coverage; on texts as Linux and QEMU 7.2 print them,
and on a real TCP connection made here (this machine's own /proc/net/tcp)."""
import os
import socket

from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.hostproc import (gdbstub_peer, maps_cover, parse_gpa2hva,
                                     parse_proc_net_tcp, remote_port)

# GDB (port 0xE0C2) connected to a gdbstub listening on 127.0.0.1:1234 (0x04D2), and a
# stranger connected to the same port.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:04D2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0 100 0 0 10 0
   1: 0100007F:04D2 0100007F:E0C2 01 00000000:00000000 00:00000000 00000000     0        0 5002 1 0 20 4 30 10 -1
   2: 0100007F:E0C2 0100007F:04D2 01 00000000:00000000 00:00000000 00000000     0        0 5003 1 0 20 4 30 10 -1
   3: 0100007F:04D2 0100007F:E0C4 01 00000000:00000000 00:00000000 00000000     0        0 5004 1 0 20 4 30 10 -1
   4: 0100007F:E0C4 0100007F:04D2 01 00000000:00000000 00:00000000 00000000     0        0 5005 1 0 20 4 30 10 -1
garbage line
"""


def test_parse_proc_net_tcp():
    socks = parse_proc_net_tcp(TCP)
    assert len(socks) == 5
    s = socks[1]
    assert (s.local_port, s.remote_port, s.state, s.inode) == (1234, 0xE0C2, 1, 5002)


def test_gdbstub_peer_is_the_other_end_of_gdbs_own_socket():
    socks = parse_proc_net_tcp(TCP)
    assert gdbstub_peer(socks, {5003}, 1234).inode == 5002
    assert gdbstub_peer(socks, {5005, 77}, 1234).inode == 5004
    assert gdbstub_peer(socks, {5003}, 1235) is None          # not GDB's port
    assert gdbstub_peer(socks, {9999}, 1234) is None          # not GDB's socket
    assert gdbstub_peer(socks, {5003, 5005}, 1234) is None    # ambiguous: refuse
    # the gdbstub elsewhere: GDB's socket has no local peer
    assert gdbstub_peer(socks[2:3], {5003}, 1234) is None


def test_a_real_connection_on_this_machine():
    """The kernel's own /proc/net/tcp for a connection made here: the peer found is the
    accepted socket (inodes from fstat)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, _ = server.accept()
            with conn:
                with open("/proc/net/tcp") as f:
                    socks = parse_proc_net_tcp(f.read())
                peer = gdbstub_peer(socks, {os.fstat(client.fileno()).st_ino}, port)
                assert peer is not None and peer.inode == os.fstat(conn.fileno()).st_ino


def test_remote_port():
    for details, port in (("127.0.0.1:1234", 1234), ("localhost:1234", 1234),
                          (":1234", 1234), ("tcp:host:5555", 5555),
                          ("[::1]:1234", 1234), ("tcp6:[::1]:80", 80)):
        assert remote_port(details) == port, details
    for details in (None, "", "| qemu-system-x86_64 -gdb stdio", "/dev/ttyS0",
                    "host:0", "host:99999", "host:12x"):
        assert remote_port(details) is None, details


def test_parse_gpa2hva():
    assert parse_gpa2hva("Host virtual address for 0x1000 (pc.ram) is 0x7f33e7e01000\r\n") \
        == ("pc.ram", 0x7F33E7E01000)
    for bad in ("", "Memory at address 0xfffffffff is not RAM\n",
                "Unknown command: 'gpa2hva'"):
        try:
            parse_gpa2hva(bad)
        except DecodeError as e:
            assert "gpa2hva" in str(e)
        else:
            raise AssertionError(bad)


MAPS = """\
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
7f0000100000-7f0004000000 rw-p 00000000 00:00 0
7f0004000000-7f0004001000 ---p 00000000 00:00 0
7f0005000000-7f0006000000 rw-s 00000000 00:01 1234   /memfd:pc.ram (deleted)
"""


def test_maps_cover():
    assert maps_cover(MAPS, 0x7F0000000000, 0x7F0004000000)         # two adjacent maps
    assert maps_cover(MAPS, 0x7F0000001000, 0x7F0000002000)
    assert not maps_cover(MAPS, 0x7F0000000000, 0x7F0004001000)     # ---p is not readable
    assert not maps_cover(MAPS, 0x7F0004800000, 0x7F0005800000)     # a hole
    assert maps_cover(MAPS, 0x7F0005000000, 0x7F0006000000)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(0, 2**48), st.integers(0, 2**48))
def test_parsers_never_crash(text, a, b):
    parse_proc_net_tcp(text)
    remote_port(text)
    maps_cover(text, min(a, b), max(a, b))
    try:
        parse_gpa2hva(text)
    except DecodeError:
        pass
