"""Every way in (issue 14): the same build/kernel.elf booted by farjump's BIOS loader, by
QEMU's -kernel (Multiboot 1) and by GRUB from build/farjump.iso (Multiboot 2), in real
QEMU, headless and bounded. Each boot: COM1 names the boot path and says Hello World!, the
VGA text screen (read from guest memory) shows both, the memory map is the firmware's,
and the kernel halts in the higher half. The Multiboot headers are checked against the
ELF file they describe."""
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import farjump_contracts as fc
from fjqemu import bootpaths
from fjqemu.bootpaths import IMAGES
from fjqemu.elf import Elf
from fjqemu.gdbrun import run_driver
from fjqemu.psffont import load
from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parent.parent
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
        bi = vm.read_phys(fc.BOOTINFO_ADDR, fc.BOOTINFO_SIZE)
        rsdp = bi_field(bi, "acpi_rsdp")
        rsdp_bytes = vm.read_phys(rsdp, 36) if rsdp else b""
    chars = bytes(raw[0::2]).decode("cp437")
    screen = [chars[r * COLS:(r + 1) * COLS].rstrip() for r in range(ROWS)]
    return serial, screen, regs, bi, rsdp_bytes


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


TIMELINE_RATE = re.compile(r"^boot timeline \(TSC at \d+ MHz by the ACPI PM timer; "
                           r"stage 1 untimed\):$", re.M)


def test_acpi_rsdp_is_passed_where_the_loader_has_one(boots):
    """boot_info.acpi_rsdp: 0 where the kernel searches the BIOS areas itself (stage 2,
    QEMU's -kernel); under GRUB the RSDP copy of Multiboot 2's ACPI tag, kept in the
    kernel's memory. Every path finds the PM timer: the timeline has a rate."""
    for way in BANNER:
        assert TIMELINE_RATE.search(boots[way][0]), (way, boots[way][0][-400:])
    assert bi_field(boots["bios"][3], "acpi_rsdp") == 0
    assert bi_field(boots["multiboot"][3], "acpi_rsdp") == 0
    bi, rsdp = boots["grub"][3], boots["grub"][4]
    addr = bi_field(bi, "acpi_rsdp")
    assert bi_field(bi, "kernel_phys_start") <= addr < bi_field(bi, "kernel_phys_end")
    assert rsdp[:8] == b"RSD PTR " and sum(rsdp[:20]) % 256 == 0, rsdp


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


# ---- UEFI: one OVMF boot (about 5 s under TCG) shared by the tests below -------------------
UEFI_TIMEOUT = 90


def read_ppm(path):
    """(width, height, RGB bytes) of QEMU's screendump (binary PPM, P6, maxval 255)."""
    data = path.read_bytes()
    magic, w, h, maxval, pixels = data.split(maxsplit=4)
    assert magic == b"P6" and maxval == b"255"
    return int(w), int(h), pixels


def screen_text(path, glyphs):
    """The text drawn on a screendump in the kernel's 8x16 font: each cell's foreground
    pixels (those unlike its top-left one: the font's first row is blank) matched against
    the font's glyphs ('?' for a cell that is no glyph)."""
    w, h, px = read_ppm(path)
    by_bits = {}
    for code in range(0x20, 0x7F):
        by_bits.setdefault(glyphs[code], chr(code))
    lines = []
    for row in range(h // 16):
        line = []
        for col in range(w // 8):
            at = (row * 16 * w + col * 8) * 3
            bg = px[at:at + 3]
            bits = bytes(sum(0x80 >> x for x in range(8)
                             if px[at + (y * w + x) * 3:at + (y * w + x) * 3 + 3] != bg)
                         for y in range(16))
            line.append(by_bits.get(bits, "?"))
        lines.append("".join(line).rstrip())
    return lines


@pytest.fixture(scope="module")
def uefi(efi, tmp_path_factory):
    """One OVMF boot under GDB as make debug BOOT=uefi has it (the loader waits for GDB
    and says its ImageBase; GDB loads build/uefi.so there and stops at uefi_main), the
    driver's fj commands at timeline_hello, then COM1, a QMP screendump and boot_info once
    the kernel halted."""
    tmp = tmp_path_factory.mktemp("uefi")
    shot = tmp / "screen.ppm"
    with QemuVM(efi, boot="uefi", gdb=True, paused=False, wait_for_gdb=True) as vm:
        base = bootpaths.uefi_image_base(vm.wait_serial("waiting for GDB", UEFI_TIMEOUT))
        run = run_driver(ROOT / "tests" / "gdb" / "ways_driver.py", port=vm.gdb_port,
                         cmds=bootpaths.gdb_entry_commands("uefi", image_base=base),
                         config={"png": str(tmp / "fb.png")}, timeout=UEFI_TIMEOUT)
        assert run.result, run.tail()
        vm.wait_serial("Hello World!", timeout=UEFI_TIMEOUT)
        regs = vm.wait_halted(timeout=UEFI_TIMEOUT)
        serial = vm.serial().replace("\r\n", "\n")
        vm.qmp("screendump", filename=str(shot))
        bi = vm.read_phys(fc.BOOTINFO_ADDR, fc.BOOTINFO_SIZE)
        rsdp = bi_field(bi, "acpi_rsdp")
        rsdp_bytes = vm.read_phys(rsdp, 36) if rsdp else b""
    return serial, shot, regs, bi, run.result, tmp / "fb.png", base, rsdp_bytes


def bi_field(bi, name):
    off, size = next((o, s) for n, o, s in fc.BOOTINFO_FIELDS if n == name)
    return int.from_bytes(bi[off:off + size], "little")


def test_uefi_com1_names_the_boot_path_and_says_hello(uefi):
    serial = uefi[0]
    assert "farjump UEFI loader\n" in serial
    assert re.search(r"UEFI loader: ImageBase 0x[0-9a-f]+", serial)
    kernel = serial[serial.index("farjump kernel"):]
    assert kernel.startswith("farjump kernel, booted by UEFI\n"), kernel[:200]
    assert "\nHello World!\n" in kernel
    regs = uefi[2]
    assert "HLT=1" in regs and re.search(r"CS =0018 .* CS64", regs)


def test_uefi_passes_the_acpi_rsdp_and_the_timeline_has_a_rate(uefi):
    """No BIOS area to search under UEFI: the loader passes the RSDP from the firmware's
    configuration table (boot_info.acpi_rsdp), so the kernel finds the FADT's PM timer and
    the timeline says the TSC rate as on the BIOS path."""
    serial, bi, rsdp = uefi[0], uefi[3], uefi[7]
    addr = bi_field(bi, "acpi_rsdp")
    assert f"UEFI loader: ACPI 2.0 RSDP at 0x{addr:x}\n" in serial, serial[:800]
    assert rsdp[:8] == b"RSD PTR " and sum(rsdp[:20]) % 256 == 0 and rsdp[15] >= 2, rsdp
    assert sum(rsdp[:36]) % 256 == 0
    assert TIMELINE_RATE.search(serial), serial[-400:]
    assert "no ACPI MADT" not in serial


def test_uefi_screen_shows_what_the_kernel_wrote(uefi):
    """No VGA text mode under UEFI: the kernel draws on the GOP framebuffer. The screendump,
    read back with the kernel's own font, shows the lines it wrote to COM1."""
    serial, shot, _, bi = uefi[:4]
    assert bi_field(bi, "fb_format") in (fc.FB_RGBX, fc.FB_BGRX)
    w, h, _ = read_ppm(shot)
    assert (w, h) == (bi_field(bi, "fb_width"), bi_field(bi, "fb_height"))
    screen = screen_text(shot, load())
    kernel = serial[serial.index("farjump kernel"):serial.index("Hello World!\n") + 13]
    wrote = kernel.rstrip("\n").split("\n")
    assert screen[:len(wrote)] == wrote, "\n".join(screen[:len(wrote) + 2])


def test_uefi_memory_map_is_the_firmwares(uefi):
    """The map the kernel prints is the one the loader stored from GetMemoryMap (boot_info
    in guest memory): sorted, without overlaps, RAM about the 128 MiB QEMU was given, and
    the kernel's own range usable."""
    serial, _, _, bi = uefi[:4]
    printed = [(int(a, 16), int(b, 16), t) for a, b, t in memory_map(serial)]
    count = bi_field(bi, "e820_count")
    off = next(o for n, o, _ in fc.BOOTINFO_FIELDS if n == "e820")
    names = {1: "usable", 2: "reserved", 3: "ACPI reclaimable", 4: "ACPI NVS", 5: "bad"}
    stored = []
    for i in range(count):
        base, length, typ, _ = struct.unpack_from("<QQII", bi, off + i * fc.E820_ENTRY_SIZE)
        stored.append((base, base + length - 1, names[typ]))
    assert printed == stored and len(stored) > 3
    assert all(a[1] < b[0] for a, b in zip(stored, stored[1:]))
    usable = sum(e - b + 1 for b, e, t in stored if t == "usable")
    assert 100 << 20 < usable <= 128 << 20
    start, end = bi_field(bi, "kernel_phys_start"), bi_field(bi, "kernel_phys_end")
    assert any(t == "usable" and b <= start and end - 1 <= e for b, e, t in stored)


def test_uefi_fj_commands_know_the_screen_is_a_framebuffer(uefi, bios_permissions):
    """fj vga says plainly that there is no VGA text; fj fb renders the framebuffer
    (address and format from boot_info), the same picture as QEMU's screendump; fj pt shows
    the BIOS path's kernel permissions."""
    serial, shot, _, bi, got, png = uefi[:6]
    assert "not VGA text" in got["vga_error"] and "fj fb" in got["vga_error"]
    fb = got["fb"]
    assert fb["addr"] == bi_field(bi, "fb_addr") and fb["boot_path"] == "UEFI"
    w, h, px = read_ppm(shot)
    assert Image.open(png).convert("RGB").tobytes() == px
    assert kernel_permissions(got["pt"]) == bios_permissions


def kernel_permissions(pt):
    return [(r["virt"], r["phys"], r["size"], r["page_size"], r["writable"], r["nx"],
             r["user"]) for r in pt["ranges"] if r["virt"] >= 0xffff800000000000]


@pytest.fixture(scope="module")
def bios_permissions(build):
    with QemuVM(IMAGES["bios"], gdb=True) as vm:
        run = run_driver(ROOT / "tests" / "gdb" / "ways_driver.py", port=vm.gdb_port,
                         cmds=bootpaths.gdb_entry_commands("bios"), timeout=60)
    assert run.result, run.tail()
    return kernel_permissions(run.result["pt"])


def test_uefi_debug_stops_at_the_loader_with_source(uefi, build):
    """The loader's base is found at run time (it says it on COM1 while it waits for GDB):
    GDB then has its symbols where it runs, with source lines, in 64-bit long mode."""
    got, base = uefi[4], uefi[6]
    first = got["first"]
    assert first["function"] == "uefi_main" and first["file"].endswith("boot/uefi.c"), first
    assert first["line"] > 0 and first["mode"]["mode"] == "long"
    uefi_main = next(s.value for s in Elf.read(build / "uefi.so").symbols()
                     if s.name == "uefi_main")
    assert first["pc"] == base + uefi_main


def run_module(*args, timeout=60):
    """A host module as the Makefile's HOSTPY runs it, bounded."""
    env = {"PYTHONPATH": f"{ROOT}/qemu:{ROOT}/gdb:{ROOT}/build/gen", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("way", ["multiboot", "grub"])
def test_make_run_boot_ends_cleanly(build, iso, way):
    """make run BOOT=...: the headless run (fjqemu.run --boot) shows the banner on standard
    output and ends when the kernel halts."""
    p = run_module("fjqemu.run", "--boot", way, "--headless", "--timeout", "30")
    assert p.returncode == 0, p.stderr
    assert f"booted by {BANNER[way]}" in p.stdout and "Hello World!" in p.stdout
    assert "a clean end" in p.stderr.strip().splitlines()[-1]


def test_make_run_screenshot_saves_the_screen(build, efi, tmp_path):
    """make run SCREENSHOT=FILE: headless, and QEMU's screen saved when the kernel halted.
    Under UEFI the picture is the framebuffer the kernel drew on: read back with the
    kernel's font, it shows the banner and Hello World!. A PNG of the VGA text screen is
    the 720x400 picture QEMU draws, not blank."""
    shot = tmp_path / "sub" / "uefi.ppm"
    p = run_module("fjqemu.run", "--boot", "uefi", "--timeout", str(UEFI_TIMEOUT),
                   "--screenshot", str(shot), timeout=UEFI_TIMEOUT + 30)
    assert p.returncode == 0, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"run: the screen \(\d+x\d+\) is in {re.escape(str(shot))}", last), \
        p.stderr
    screen = screen_text(shot, load())
    assert "farjump kernel, booted by UEFI" in screen and "Hello World!" in screen, screen
    png = tmp_path / "multiboot.png"
    p = run_module("fjqemu.run", "--boot", "multiboot", "--screenshot", str(png))
    assert p.returncode == 0 and "Hello World!" in p.stdout, p.stderr
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (720, 400)
        assert len(im.convert("RGB").getcolors(1 << 16)) > 2


def test_uefi_starts_the_other_cpus(build, efi):
    """The MADT is found through the RSDP the UEFI loader passed: with -smp 4 the kernel
    starts the three APs under UEFI as on the BIOS path."""
    p = run_module("fjqemu.run", "--boot", "uefi", "--smp", "4", "--headless",
                   "--timeout", str(UEFI_TIMEOUT), timeout=UEFI_TIMEOUT + 30)
    assert p.returncode == 0, p.stderr
    out = p.stdout.replace("\r\n", "\n")
    assert "CPU 0 online (APIC ID 0, boot CPU), starting 3 more\n" in out, out[-800:]
    for n in (1, 2, 3):
        assert f"CPU {n} online (APIC ID {n}, long mode)\n" in out, out[-800:]


def test_make_run_refuses_a_file_that_cannot_boot_that_way(build):
    p = run_module("fjqemu.run", "--boot", "multiboot", "--headless", str(IMAGES["bios"]))
    assert p.returncode == 1 and "not an ELF file" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_uefi_panic_screen_is_drawn_on_the_framebuffer(build, efi, tmp_path):
    """The panic screen's rows (kernel/panic.c) go to the framebuffer when there is no VGA
    text mode: a fault kernel under OVMF shows on screen what it printed to COM1."""
    r = subprocess.run(["make", "-s", "build/fault/divide.efi.img"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    shot = tmp_path / "panic.ppm"
    with QemuVM(build / "fault" / "divide.efi.img", boot="uefi") as vm:
        serial = vm.wait_serial("System halted, interrupts off.", UEFI_TIMEOUT)
        vm.wait_halted(timeout=UEFI_TIMEOUT)
        vm.qmp("screendump", filename=str(shot))
    serial = serial.replace("\r\n", "\n")
    com = [ln[:80].rstrip() for ln in serial[serial.index(" KERNEL PANIC:"):].splitlines()]
    screen = screen_text(shot, load())
    assert screen[0] == com[0] and "#DE" in screen[0], screen[:3]
    for text in com[1:6]:
        assert text in screen, f"{text!r} not on screen:\n" + "\n".join(screen[:25])
