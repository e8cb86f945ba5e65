"""GDB on the other ways in (issue 14): `make debug BOOT=multiboot|grub` stops at mb_entry
(kernel/mb_entry.asm) with its source lines at the physical address where it runs, and the
kernel then runs with the same page permissions (fj pt) as on the BIOS path."""
import pytest

from fjqemu.bootpaths import IMAGES, gdb_entry_commands
from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM

from pathlib import Path

DRIVER = Path(__file__).with_name("ways_driver.py")


def debug_run(boot):
    with QemuVM(IMAGES[boot], boot=boot, gdb=True) as vm:
        run = run_driver(DRIVER, port=vm.gdb_port, cmds=gdb_entry_commands(boot), timeout=60)
    assert run.result, run.tail()
    return run.result


@pytest.fixture(scope="module")
def bios_run(build):
    return debug_run("bios")


def permissions(pt):
    """The kernel's mappings (the higher half) with what decides access: no A/D bits."""
    return [(r["virt"], r["phys"], r["size"], r["page_size"], r["writable"], r["nx"],
             r["user"]) for r in pt["ranges"] if r["virt"] >= 0xffff800000000000]


@pytest.mark.parametrize("boot", ["multiboot", "grub"])
def test_debug_stops_at_mb_entry_with_source(build, iso, bios_run, boot):
    got = debug_run(boot)
    first = got["first"]
    assert first["function"] == "mb_entry", first
    assert first["file"].endswith("kernel/mb_entry.asm") and first["line"] > 0, first
    assert first["pc"] < 0x80000000, f"mb_entry runs at its physical address: {first}"
    assert "protected" in first["mode"]["mode"] and not first["mode"]["paging"], first
    # Same kernel pages, same permissions: text RX, rodata R+NX, data RW+NX, 4 KiB pages.
    kernel = permissions(got["pt"])
    assert kernel and kernel == permissions(bios_run["pt"])
    assert {r[3] for r in kernel} == {4096}
    assert {(r[4], r[5]) for r in kernel} == {(False, False), (False, True), (True, True)}
