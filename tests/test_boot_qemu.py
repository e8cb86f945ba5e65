"""Boot build/disk.img in real QEMU (headless, bounded) and check COM1 and guest memory."""
import re
from pathlib import Path

import pytest

import farjump_contracts as fc
from fjqemu import image
from fjqemu.elf import Elf
from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parent.parent
BOOT_TIMEOUT = 30   # seconds; a TCG boot takes about 1 s here
VGA = 0xB8000
COLS, ROWS = 80, 25


def vga_screen(vm):
    """(lines, attributes) of the text screen, read from guest memory by QEMU."""
    raw = vm.read_phys(VGA, COLS * ROWS * 2)
    chars = bytes(raw[0::2]).decode("cp437")
    attrs = raw[1::2]
    lines = [chars[r * COLS:(r + 1) * COLS].rstrip() for r in range(ROWS)]
    return lines, attrs


def boot(image, memory):
    with QemuVM(image, memory=memory) as vm:
        vm.wait_serial("Hello World!", timeout=BOOT_TIMEOUT)
        # The kernel still prints its timeline after Hello World!, then halts.
        regs = vm.wait_halted(timeout=BOOT_TIMEOUT)
        serial = vm.serial()
        lines, attrs = vga_screen(vm)
    return serial, lines, attrs, regs


@pytest.fixture(scope="module")
def boots(build):
    return {mem: boot(build / "disk.img", mem) for mem in ("32M", "128M", "1G")}


def test_serial_has_hello_world_and_memory_map(boots):
    serial = boots["128M"][0]
    assert "\nHello World!" in serial.replace("\r\n", "\n")
    assert "memory map (BIOS E820" in serial
    # The map has the low 640 KiB and the RAM above 1 MiB as usable ranges.
    assert re.search(r"0x0+-0x0*9f[0-9a-f]{3}\s+\d+ KiB\s+usable", serial)
    assert re.search(r"0x0*100000-0x[0-9a-f]+\s+\d+ KiB\s+usable", serial)


def test_vga_buffer_has_hello_world_visibly(boots):
    lines, attrs = boots["128M"][1:3]
    row = next((r for r, text in enumerate(lines) if text == "Hello World!"), None)
    assert row is not None, "\n".join(lines)
    for col in range(len("Hello World!")):
        attr = attrs[row * COLS + col]
        assert attr & 0x0F != (attr >> 4) & 0x07, f"invisible: attribute {attr:#04x}"


def test_kernel_halts_in_the_higher_half(boots):
    regs = boots["128M"][3]
    assert "HLT=1" in regs
    rip = int(re.search(r"RIP=([0-9a-f]+)", regs).group(1), 16)
    assert rip >= 0xFFFFFFFF80100000
    assert re.search(r"CS =0018 .* CS64", regs)


def usable_kib(serial):
    return int(re.search(r"usable memory: (\d+) KiB", serial).group(1))


@pytest.mark.parametrize("memory,mib", [("32M", 32), ("1G", 1024)])
def test_boot_is_identical_with_any_memory_size(boots, memory, mib):
    serial, lines, attrs, _ = boots[memory]
    ref_serial, ref_lines, ref_attrs, _ = boots["128M"]
    # E820 sees the memory QEMU was given (minus the BIOS's own reservations)...
    assert mib * 1024 - 1024 < usable_kib(serial) <= mib * 1024
    # ...and apart from the memory map, the screen is the same.
    def without_map(text):
        return [l for l in text if not re.search(r"0x[0-9a-f]{16}-|usable memory|entries\)", l)]
    assert without_map(lines) == without_map(ref_lines)
    assert "Hello World!" in lines


def test_hard_disk_is_read_with_int13_extensions(boots):
    assert "kernel read with INT 13h AH=42h (LBA)" in boots["128M"][0]


def test_floppy_boot_uses_chs_reads(build, tmp_path):
    """SeaBIOS has no INT 13h extensions for floppies: both stages must fall back to CHS."""
    img = tmp_path / "floppy.img"
    img.write_bytes(image.build((build / "stage1.bin").read_bytes(),
                                (build / "stage2.bin").read_bytes(),
                                (build / "kernel.disk.elf").read_bytes(), floppy=True))
    with QemuVM(img, floppy=True) as vm:
        serial = vm.wait_serial("Hello World!", timeout=BOOT_TIMEOUT)
    assert "AH=02h (CHS, no extensions)" in serial
    assert "boot drive 0x00" in serial


def test_e820_entries_beyond_boot_info_are_counted(build):
    """Issue 15 item 19: with more E820 entries than boot_info holds, stage 2 keeps counting
    (boot_info.e820_count) and the kernel says how many it could not keep. GDB makes
    SeaBIOS's short list repeat (tests/gdb/e820_many.py)."""
    skip = next(s.value for s in Elf.read(build / "stage2.elf").symbols()
                if s.name == "read_e820.skip")
    want = fc.BOOTINFO_E820_MAX + 6
    with QemuVM(build / "disk.img", gdb=True) as vm:
        run = run_driver(ROOT / "tests" / "gdb" / "e820_many.py", port=vm.gdb_port,
                         config={"skip": skip, "want": want})
        assert "e820_many:" in run.stdout and " 0 rewinds" not in run.stdout, run.tail()
        serial = vm.wait_serial("Hello World!", timeout=BOOT_TIMEOUT)
    counted = int(re.search(r"stage 2: E820 entries 0x([0-9A-F]+)", serial).group(1), 16)
    assert counted >= want
    assert f"e820: {counted} entries reported, only {fc.BOOTINFO_E820_MAX} stored" in serial
    assert f"memory map (BIOS E820, {fc.BOOTINFO_E820_MAX} entries):" in serial
