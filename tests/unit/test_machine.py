"""make run/debug's machine options (fjqemu.machine): SYMBOLS parsing, the GDB set-up
order (architecture before any symbol file), what counts as a foreign boot."""
import argparse
from pathlib import Path

import pytest

from fjqemu.cmdline import qemu_command
from fjqemu.machine import DEFAULT_IMAGE, Machine, MachineError, elf_class, parse_symbols


def test_parse_symbols():
    assert parse_symbols("a.elf,b.elf@0x1000 c.elf@16") == [
        (Path("a.elf"), 0), (Path("b.elf"), 0x1000), (Path("c.elf"), 16)]
    assert parse_symbols(None) == []
    with pytest.raises(MachineError):
        parse_symbols("a.elf@zz")


def args(**kw):
    ns = argparse.Namespace(image=None, cdrom=None, kernel=None, append=None, initrd=None,
                            arch="x86_64", smp=None, symbols=None, boot="bios")
    ns.__dict__.update(kw)
    return ns


def test_machine(tmp_path):
    elf32 = tmp_path / "k.elf"
    elf32.write_bytes(b"\x7fELF\x01\x01" + bytes(60))
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"MZ")
    assert elf_class(elf32) == 32 and elf_class(kernel) is None
    m = Machine.from_args(args(kernel=str(kernel), append="console=ttyS0",
                               symbols=f"{elf32}@0x100000", smp=2))
    assert m.image is None and m.foreign
    assert m.gdb_setup() == ["set architecture i386:x86-64",
                             f"add-symbol-file {elf32} -o 0x100000"]
    cmd = qemu_command(None, **m.qemu_kwargs())
    assert not any("format=raw" in a for a in cmd)           # no disk
    assert cmd[cmd.index("-kernel") + 1] == str(kernel)
    assert cmd[cmd.index("-append") + 1] == "console=ttyS0" and "-smp" in cmd
    m = Machine.from_args(args(cdrom=str(kernel), arch="i386"))
    assert m.gdb_setup() == ["set architecture i386"]
    cmd = qemu_command(None, **m.qemu_kwargs())
    assert cmd[0] == "qemu-system-i386" and "d" == cmd[cmd.index("-boot") + 1]
    for bad in (dict(arch="arm"), dict(append="x"), dict(kernel="/nonexistent"),
                dict(symbols=str(kernel)), dict(smp=0)):
        with pytest.raises(MachineError):
            Machine.from_args(args(**bad))
    if DEFAULT_IMAGE.exists():
        assert not Machine.from_args(args()).foreign


def test_split_passthrough():
    from fjqemu import split_passthrough
    assert split_passthrough(["SMP=2", "--", "-tui", "--", "x"]) == (["SMP=2"], ["-tui", "--", "x"])
    assert split_passthrough(["--smp", "2"]) == (["--smp", "2"], [])
    assert split_passthrough(["--"]) == ([], [])


def test_stale_gdb_qmp_sockets_are_swept():
    """make debug removes QMP socket files left by sessions that were killed (nobody
    listens on them), and leaves a live one alone."""
    import socket
    from fjqemu.debug import gdb_qmp_socket, sweep_stale_qmp_sockets
    stale, live = gdb_qmp_socket(1), gdb_qmp_socket(2)
    for p in (stale, live):
        p.unlink(missing_ok=True)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(stale))
    dead.close()                        # the file stays, nobody listens
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(live))
    server.listen(1)
    try:
        assert stale.exists()
        assert sweep_stale_qmp_sockets() >= 1
        assert not stale.exists() and live.exists()
    finally:
        server.close()
        live.unlink(missing_ok=True)
