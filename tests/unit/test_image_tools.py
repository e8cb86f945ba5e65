"""The host image tools (fjqemu.image, diskelf, ksymtab) on bad input: one line on stderr,
status 1, no traceback, no temporary file left behind (issue 15, items 14 and 16)."""
import os
import subprocess
from pathlib import Path

import farjump_contracts as fc
import pytest

from fjqemu import image

ROOT = Path(__file__).resolve().parents[2]


def tool(build, module, *args):
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'qemu'}:{build / 'gen'}")
    return subprocess.run(["/usr/bin/python3", "-m", f"fjqemu.{module}", *map(str, args)],
                          capture_output=True, text=True, timeout=60, env=env)


def assert_one_line_error(r, name):
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: "), r.stderr
    assert "Traceback" not in r.stderr


def test_image_refuses_a_kernel_larger_than_the_buffer(build):
    s1, s2 = (build / "stage1.bin").read_bytes(), (build / "stage2.bin").read_bytes()
    too_big = b"\x7fELF".ljust(fc.KERNEL_BUF_END - fc.KERNEL_BUF + 1, b"\0")
    with pytest.raises(ValueError, match=r"kernel file is 0x70001 bytes; the loader reads at "
                                         r"most 0x70000 \(KERNEL_BUF..KERNEL_BUF_END\)"):
        image.build(s1, s2, too_big)
    assert image.build(s1, s2, too_big, checked=False)      # for the boot-time check's tests
    with pytest.raises(ValueError, match=r"stage 2 is 0x8001 bytes; it must fit in 0x8000"):
        image.build(s1, bytes(fc.STAGE2_END - fc.STAGE2_ADDR + 1), b"")


def test_image_command_reports_a_too_big_kernel(build, tmp_path):
    big = tmp_path / "big.elf"
    big.write_bytes(bytes(fc.KERNEL_BUF_END - fc.KERNEL_BUF + 1))
    r = tool(build, "image", "--stage1", build / "stage1.bin", "--stage2",
             build / "stage2.bin", "--kernel", big, "-o", tmp_path / "x.img")
    assert_one_line_error(r, "image")
    assert "KERNEL_BUF..KERNEL_BUF_END" in r.stderr and not (tmp_path / "x.img").exists()


def test_layout_table_round_trips():
    table = image.pack_layout(magic=b"FJ", stage2_lba=1, stage2_sectors=24, kernel_lba=25,
                              kernel_bytes=1234)
    mbr = bytes(fc.BOOT_LAYOUT_MBR_OFFSET) + table
    assert image.unpack_layout(mbr) == {"magic": b"FJ", "stage2_lba": 1, "stage2_sectors": 24,
                                        "kernel_lba": 25, "kernel_bytes": 1234}
    with pytest.raises(ValueError, match="does not fit"):
        image.pack_layout(stage2_sectors=1 << 16)
    with pytest.raises(ValueError, match="no field"):
        image.pack_layout(bogus=1)


@pytest.mark.parametrize("where", ["missing-dir", "directory"])
def test_diskelf_bad_output_path(build, tmp_path, where):
    out = tmp_path / "no" / "such" / "k.elf" if where == "missing-dir" else tmp_path / "adir"
    if where == "directory":
        out.mkdir()
    r = tool(build, "diskelf", build / "kernel.elf", "-o", out)
    assert_one_line_error(r, "diskelf")
    # names the file asked for, not the temporary beside it
    why = "is a directory" if where == "directory" else "No such file or directory"
    assert r.stderr.strip() == f"diskelf: cannot write {out}: {why}", r.stderr
    left = sorted(p.name for p in tmp_path.rglob("*"))
    assert left == (["adir"] if where == "directory" else []), left


def test_diskelf_on_a_file_that_is_not_elf(build, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not an ELF file at all" * 10)
    r = tool(build, "diskelf", junk, "-o", tmp_path / "out.elf")
    assert_one_line_error(r, "diskelf")
    assert "not a little-endian ELF64 file" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk"]


def test_image_output_in_a_missing_directory(build, tmp_path):
    r = tool(build, "image", "--stage1", build / "stage1.bin", "--stage2",
             build / "stage2.bin", "--kernel", build / "kernel.disk.elf",
             "-o", tmp_path / "no" / "x.img")
    assert_one_line_error(r, "image")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--check", "MISSING"],
                                  ["--check", "KERNEL", "--against", "MISSING"],
                                  ["MISSING", "-o", "OUT"]])
def test_ksymtab_on_missing_files(build, tmp_path, args):
    subst = {"MISSING": tmp_path / "missing.elf", "KERNEL": build / "kernel.elf",
             "OUT": tmp_path / "t.bin"}
    r = tool(build, "ksymtab", *[subst.get(a, a) for a in args])
    assert_one_line_error(r, "ksymtab")
    assert list(tmp_path.iterdir()) == []


def test_ksymtab_check_passes_on_the_built_kernel(build):
    r = tool(build, "ksymtab", "--check", build / "kernel.elf", "--against",
             build / "kernel" / "kernel.linked.elf")
    assert r.returncode == 0 and r.stderr == ""
