"""Every way in (issue 14): the same build/kernel.elf booted by farjump's BIOS loader, by
QEMU's -kernel (Multiboot 1) and by GRUB from build/farjump.iso (Multiboot 2), in real
QEMU, headless and bounded. Each boot: COM1 names the boot path and says Hello World!, the
VGA text screen (read from guest memory) shows both, the memory map is the firmware's,
and the kernel halts in the higher half. The Multiboot headers are checked against the
ELF file they describe."""
import re
import struct

import pytest

import farjump_contracts as fc
from fjqemu import bootpaths
from fjqemu.bootpaths import IMAGES
from fjqemu.elf import Elf
from fjqemu.vm import QemuVM

BOOT_TIMEOUT = 30
VGA, COLS, ROWS = 0xB8000, 80, 25
BANNER = {"bios": "the farjump BIOS loader", "multiboot": "Multiboot 1",
          "grub": "Multiboot 2 / GRUB"}
MAP_NAME = {"bios": "BIOS E820", "multiboot": "Multiboot 1 memory map",
            "grub": "Multiboot 2 memory map"}


def boot(way):
    with QemuVM(IMAGES[way], boot=way) as vm:
        vm.wait_serial("Hello World!", timeout=BOOT_TIMEOUT)
        regs = vm.wait_halted(timeout=BOOT_TIMEOUT)
        serial = vm.serial().replace("\r\n", "\n")
        raw = vm.read_phys(VGA, COLS * ROWS * 2)
    chars = bytes(raw[0::2]).decode("cp437")
    screen = [chars[r * COLS:(r + 1) * COLS].rstrip() for r in range(ROWS)]
    return serial, screen, regs


@pytest.fixture(scope="module")
def boots(build, iso):
    return {way: boot(way) for way in BANNER}


def memory_map(serial):
    """The (start, end, type) lines the kernel printed, in order."""
    return re.findall(r"^  0x([0-9a-f]{16})-0x([0-9a-f]{16}) +\d+ KiB  (.+)$", serial, re.M)


@pytest.mark.parametrize("way", list(BANNER))
def test_com1_names_the_boot_path_and_says_hello(boots, way):
    serial = boots[way][0]
    assert f"farjump kernel, booted by {BANNER[way]}\n" in serial, serial
    assert "\nHello World!\n" in serial
    assert re.search(rf"memory map \({re.escape(MAP_NAME[way])}, \d+ entries\):", serial)


@pytest.mark.parametrize("way", list(BANNER))
def test_screen_shows_the_banner_and_hello(boots, way):
    screen = boots[way][1]
    assert f"farjump kernel, booted by {BANNER[way]}" in screen, "\n".join(screen)
    assert "Hello World!" in screen, "\n".join(screen)


@pytest.mark.parametrize("way", ["multiboot", "grub"])
def test_memory_map_is_the_firmwares(boots, way):
    """Both Multiboot loaders pass on SeaBIOS's E820 map: the kernel shows the same ranges
    as when stage 2 asks INT 15h E820 itself."""
    got, want = memory_map(boots[way][0]), memory_map(boots["bios"][0])
    assert want and got == want


@pytest.mark.parametrize("way", ["multiboot", "grub"])
def test_kernel_halts_in_the_higher_half_in_64_bit_mode(boots, way):
    regs = boots[way][2]
    assert "HLT=1" in regs
    assert int(re.search(r"RIP=([0-9a-f]+)", regs).group(1), 16) >= fc.KERNEL_VMA
    assert re.search(r"CS =0018 .* CS64", regs)
    assert re.search(r"CR3=0*%x\b" % fc.PT_BASE, regs), "the BIOS path's PML4 at PT_BASE"


def phys_of(elf, name):
    return next(s.value for s in elf.symbols() if s.name == name) - fc.KERNEL_VMA


def test_multiboot1_header_describes_the_file(build):
    """QEMU loads kernel.elf as a flat image from the a.out-kludge addresses: they must be
    the ELF's own, and each PT_LOAD's file offset minus physical address the same."""
    data = (build / "kernel.elf").read_bytes()
    elf = Elf.read(build / "kernel.elf")
    off = next(i for i in range(0, 8192, 4)
               if struct.unpack_from("<I", data, i)[0] == fc.MB1_HEADER_MAGIC)
    magic, flags, check, header, load, load_end, bss_end, entry = \
        struct.unpack_from("<8I", data, off)
    assert (magic + flags + check) & 0xFFFFFFFF == 0 and flags & (1 << 16)
    loads = [s for s in elf.segments if s.type == 1 and s.memsz]
    assert len({s.offset - s.paddr for s in loads}) == 1, "not loadable as a flat image"
    assert header - load == off - loads[0].offset
    assert load == loads[0].paddr
    assert load_end == loads[-1].paddr + loads[-1].filesz
    assert bss_end == loads[-1].paddr + loads[-1].memsz
    assert entry == phys_of(elf, "mb_entry")


def test_multiboot2_header_has_an_entry_tag(build):
    data = (build / "kernel.elf").read_bytes()
    elf = Elf.read(build / "kernel.elf")
    off = next(i for i in range(0, 32768, 8)
               if struct.unpack_from("<I", data, i)[0] == fc.MB2_HEADER_MAGIC)
    magic, arch, length, check = struct.unpack_from("<4I", data, off)
    assert (magic + arch + length + check) & 0xFFFFFFFF == 0 and arch == 0
    tags, p = {}, off + 16
    while p < off + length:
        typ, _flags, size = struct.unpack_from("<HHI", data, p)
        tags[typ] = data[p + 8:p + size]
        p += (size + 7) & ~7
    assert 0 in tags, "no end tag"
    assert struct.unpack("<I", tags[fc.MB2_HEADER_TAG_ENTRY])[0] == phys_of(elf, "mb_entry")


def test_gdb_stops_where_each_path_starts(build):
    assert bootpaths.gdb_entry_commands("bios") == ["tbreak stage1_start", "continue"]
    add, tbreak, cont = bootpaths.gdb_entry_commands("multiboot")
    assert add.startswith("add-symbol-file build/kernel/mb_entry.o -s .multiboot 0x1")
    assert tbreak == "tbreak mb_entry" and cont == "continue"
