"""The one QEMU command line (fjqemu.cmdline) and the one GDB command line (fjqemu.gdbrun)."""
from pathlib import Path

import pytest

from fjqemu import ROOT, FjError
from fjqemu.cmdline import OVMF, qemu_command
from fjqemu.gdbrun import FARJUMP_GDB, SYMBOLS_GDB, gdb_command


def opt(cmd, name):
    return cmd[cmd.index(name) + 1]


def test_every_disk_is_a_snapshot_without_the_image_lock():
    for kw in ({}, {"display": None, "monitor": None, "serial": "stdio"},
               {"floppy": True}, {"gdb_port": 1234, "reboot": True}):
        drive = opt(qemu_command("build/disk.img", **kw), "-drive")
        assert "snapshot=on" in drive and "file.locking=off" in drive, drive
    drive = opt(qemu_command("a.img", blkdebug="bd.conf"), "-drive")
    assert "file.driver=blkdebug" in drive and "snapshot=on" in drive


def test_commas_in_paths_are_escaped():
    cmd = qemu_command("/tmp/a,b.img", serial="file:/tmp/s.log", qmp=Path("/tmp/q,1.sock"))
    assert "file=/tmp/a,,b.img," in opt(cmd, "-drive")
    assert opt(cmd, "-qmp") == "unix:/tmp/q,,1.sock,server=on,wait=off"


def test_reset_gdb_and_display_options():
    cmd = qemu_command("x.img")
    assert "-no-reboot" in cmd and opt(cmd, "-display") == "none" and "-S" not in cmd
    cmd = qemu_command("x.img", reboot=True, gdb_port=4321, display=None, monitor=None)
    assert "-no-reboot" not in cmd and "-display" not in cmd and "-monitor" not in cmd
    assert cmd[cmd.index("-S") + 1:cmd.index("-S") + 3] == ["-gdb", "tcp:127.0.0.1:4321"]


def test_gdb_command_lines():
    batch = gdb_command("fj mode", port=1234, scripts=["d.py"])
    assert batch[1:5] == ["-nx", "-batch", "-x", str(FARJUMP_GDB)]
    assert batch[5:] == ["-ex", "target remote 127.0.0.1:1234", "-ex", "fj mode", "-x", "d.py"]
    plain = gdb_command(farjump=False)
    assert plain[1:] == ["-nx", "-batch", "-x", str(SYMBOLS_GDB)]
    person = gdb_command(batch=False, extra=["-tui"])
    assert person[1] == "-q" and person[-1] == "-tui"
    fault = gdb_command(port=1234, kernel="build/fault/kernel-divide.elf")
    assert opt_after(fault, "file build/fault/kernel-divide.elf")
    assert fault.index("file build/fault/kernel-divide.elf") < fault.index(
        "target remote 127.0.0.1:1234")


def test_sessions_at_the_terminal_are_in_intel_syntax(monkeypatch):
    """Every source is NASM: make debug and make gdb start in Intel syntax; FJ_SYNTAX=att
    is the one setting for AT&T; batch GDBs (tests, tools) keep GDB's default."""
    monkeypatch.delenv("FJ_SYNTAX", raising=False)
    person = gdb_command(batch=False, port=1234)
    assert opt_after(person, "set disassembly-flavor intel")
    assert not any("disassembly-flavor" in a for a in gdb_command(port=1234))
    monkeypatch.setenv("FJ_SYNTAX", "att")
    assert opt_after(gdb_command(batch=False), "set disassembly-flavor att")
    monkeypatch.setenv("FJ_SYNTAX", "nasm")
    with pytest.raises(FjError, match="FJ_SYNTAX"):
        gdb_command(batch=False)


def opt_after(cmd: list[str], value: str) -> bool:
    return any(a == "-ex" and b == value for a, b in zip(cmd, cmd[1:]))


def test_one_builder_each():
    """No other host file spells out a QEMU drive or the batch-GDB recipe."""
    files = [p for d in ("qemu", "scripts", "tests") for p in (ROOT / d).rglob("*")
             if p.is_file() and p.suffix in ("", ".py", ".sh") and "__pycache__" not in p.parts]
    for p in files:
        text = p.read_text(errors="replace")
        rel = p.relative_to(ROOT).as_posix()
        if rel not in ("qemu/fjqemu/cmdline.py", "tests/unit/test_host_cmdlines.py"):
            assert '"-drive"' not in text, rel
        if rel not in ("qemu/fjqemu/gdbrun.py", "tests/unit/test_host_cmdlines.py"):
            assert '"-nx", "-batch"' not in text, rel


def test_each_boot_path_gives_qemu_its_own_medium():
    assert qemu_command("k.elf", boot="multiboot")[1:3] == ["-kernel", "k.elf"]
    iso = qemu_command("a,b.iso", boot="grub")
    drive = iso[iso.index("-drive") + 1]
    assert "media=cdrom" in drive and "readonly=on" in drive and "file=a,,b.iso" in drive
    efi = qemu_command("e.img", boot="uefi")
    assert efi[efi.index("-bios") + 1] == OVMF and "file=e.img" in efi[efi.index("-drive") + 1]
    assert "-drive" in qemu_command("d.img") and "-kernel" not in qemu_command("d.img")


def test_unknown_boot_path_and_bios_only_options_are_refused():
    with pytest.raises(ValueError, match="unknown boot path"):
        qemu_command("x", boot="coreboot")
    with pytest.raises(ValueError, match="bios"):
        qemu_command("k.elf", boot="multiboot", floppy=True)
