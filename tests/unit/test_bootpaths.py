"""The ways in, host side (fjqemu.bootpaths): which files are refused before QEMU starts.
(What QEMU is given for each path: tests/unit/test_host_cmdlines.py.)"""
from pathlib import Path


from fjqemu import bootpaths
from fjqemu.cmdline import BOOTS


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_boot_problem_names_what_is_wrong(tmp_path):
    assert "make iso" in bootpaths.boot_problem("grub", tmp_path / "missing.iso")
    assert "not an ELF" in bootpaths.boot_problem("multiboot", write(tmp_path, "a", b"MZ" * 300))
    no_header = write(tmp_path, "b", b"\x7fELF" + bytes(9000))
    assert "no Multiboot 1 header" in bootpaths.boot_problem("multiboot", no_header)
    header = write(tmp_path, "c", b"\x7fELF" + bytes(0x1000 - 4) + bootpaths.MB1_MAGIC)
    assert bootpaths.boot_problem("multiboot", header) is None
    assert "ISO 9660" in bootpaths.boot_problem("grub", write(tmp_path, "d", bytes(0x9000)))
    iso = bytearray(0x9000)
    iso[0x8001:0x8006] = b"CD001"
    assert bootpaths.boot_problem("grub", write(tmp_path, "e", bytes(iso))) is None
    assert "unknown boot path" in bootpaths.boot_problem("pxe", Path("x"))
    assert set(bootpaths.IMAGES) == set(BOOTS)
