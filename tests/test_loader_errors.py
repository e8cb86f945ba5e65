"""Bad disks, bad kernels and unsuitable machines: every boot must end in a specific message.

Each case boots a crafted image in real QEMU (headless, -no-reboot, bounded by a timeout)
and checks that the boot ended with:
  - the expected message on COM1 (stages 2 and the long-mode loader) or on port E9h
    (stage 1, captured with -debugcon), and on the VGA text screen, read by QEMU (QMP),
  - the CPU halted (`info registers` HLT=1) right after a Bochs magic breakpoint
    (the bytes before RIP are `xchg bx, bx; cli; hlt`),
  - QEMU still running: with -no-reboot a triple fault or reset would have ended it.
Disk read errors come from QEMU's blkdebug driver. Bad kernels are made here from
build/kernel.disk.elf and put on images with fjqemu.image.

The boots run two at a time (this machine has 2 cores); each test waits for its own.
"""
from __future__ import annotations

import re
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import farjump_contracts as fc
from fjqemu import image
from fjqemu.elf import Elf
from fjqemu.vm import QemuError, QemuVM

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"
BOOT_TIMEOUT = 20       # seconds per boot; a failing TCG boot ends in about 1 s here
HALT_TIMEOUT = 5        # after the last message, until `info registers` says HLT=1
VGA = 0xB8000
KERNEL_BUF_SIZE = fc.KERNEL_BUF_END - fc.KERNEL_BUF
IDENTITY_MAP_END = fc.IDENTITY_MAP_END
SEABIOS_ATA_ERROR = 0x0C              # SeaBIOS's status for a failed ATA read (DISK_RET_EBADTRACK)
MAGIC_BREAK_HALT_16 = bytes.fromhex("87dbfaf4")   # xchg bx,bx; cli; hlt (real mode)
MAGIC_BREAK_HALT_64 = bytes.fromhex("6687dbfaf4")  # the same in 64-bit mode (66h prefix)


# ---- kernels -------------------------------------------------------------------------------
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")


def phdrs(elf: bytes):
    eh = EHDR.unpack_from(elf)
    phoff, phentsize, phnum = eh[5], eh[9], eh[10]
    return [list(PHDR.unpack_from(elf, phoff + i * phentsize)) for i in range(phnum)]


def put_phdr(elf: bytearray, i: int, ph) -> None:
    eh = EHDR.unpack_from(elf)
    PHDR.pack_into(elf, eh[5] + i * eh[9], *ph)


P_OFFSET, P_VADDR, P_PADDR, P_FILESZ, P_MEMSZ = 2, 3, 4, 5, 6


def first_file_segment(elf: bytes) -> int:
    return next(i for i, ph in enumerate(phdrs(elf)) if ph[0] == 1 and ph[P_FILESZ] > 0)


# ---- images ---------------------------------------------------------------------------------
def mkimage(build: Path, out: Path, kernel: bytes) -> Path:
    """An image the boot-time checks must catch: the image builder's own checks are off."""
    out.write_bytes(image.build((build / "stage1.bin").read_bytes(),
                                (build / "stage2.bin").read_bytes(), kernel, checked=False))
    return out


def layout(img: bytes):
    """(stage2_lba, stage2_sectors, kernel_lba, kernel_bytes) from the MBR's table."""
    table = image.unpack_layout(img)
    assert table["magic"] == fc.LAYOUT_MAGIC == b"FJ"
    return tuple(table[n] for n in ("stage2_lba", "stage2_sectors", "kernel_lba", "kernel_bytes"))


def blkdebug_config(path: Path, sector: int, once: bool) -> Path:
    # Fail every aio read that touches `sector` with EIO; once = on: only the first.
    path.write_text('[inject-error]\nevent = "read_aio"\nerrno = "5"\n'
                    f'sector = "{sector}"\nonce = "{"on" if once else "off"}"\n')
    return path


# ---- booting ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    serial: str         # COM1
    debugcon: str       # port E9h
    screen: str         # the VGA text screen, whitespace collapsed (wrapped lines rejoin)
    regs: str           # `info registers` at the end
    stop_bytes: bytes   # the bytes before the halted RIP ("" when not halted)
    alive: bool         # QEMU still running at the end (no triple fault, no reset)
    ended: str          # how the wait ended: "text", "exited" or "timeout"


def flat(text: str) -> str:
    return " ".join(text.split())


def linear_rip(regs: str) -> int:
    rip = int(re.search(r"[RE]IP=([0-9a-f]+)", regs).group(1), 16)
    cs_base = int(re.search(r"CS =[0-9a-f]{4} ([0-9a-f]+)", regs).group(1), 16)
    return cs_base + rip


def boot(image: Path, until: str, *, memory="128M", cpu=None, blkdebug=None) -> Outcome:
    """Boot until COM1 or port E9h shows `until`, then until the CPU halts."""
    with QemuVM(image, memory=memory, cpu=cpu, blkdebug=blkdebug, debugcon=True) as vm:
        deadline = time.monotonic() + BOOT_TIMEOUT
        ended = "timeout"
        while time.monotonic() < deadline:
            if until in vm.serial() or until in vm.debugcon():
                ended = "text"
                break
            if vm.proc.poll() is not None:
                ended = "exited"
                break
            time.sleep(0.05)
        regs, stop = "", b""
        if ended == "text":
            deadline = time.monotonic() + HALT_TIMEOUT
            while time.monotonic() < deadline and vm.proc.poll() is None:
                try:
                    regs = vm.hmp("info registers")
                except QemuError:
                    break
                if "HLT=1" in regs:
                    rip = linear_rip(regs)
                    if rip < IDENTITY_MAP_END:   # stages 1, 2 and the loader run identity-mapped
                        stop = vm.read_phys(rip - 5, 5)
                    break
                time.sleep(0.05)
        alive = vm.proc.poll() is None
        screen = ""
        if alive:
            raw = vm.read_phys(VGA, 80 * 25 * 2)
            screen = flat(bytes(raw[0::2]).decode("cp437"))
        return Outcome(vm.serial(), vm.debugcon(), screen, regs, stop, alive, ended)


# ---- the cases ----------------------------------------------------------------------------------
# name -> function(build, tmp) returning boot()'s arguments (image, until, options).
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def kernel_bytes(build) -> bytes:
    return (build / "kernel.disk.elf").read_bytes()


def patched(build, tmp, name, patch) -> Path:
    elf = bytearray(kernel_bytes(build))
    patch(elf)
    return mkimage(build, tmp / f"{name}.img", bytes(elf))


@case
def stage2_read_error(build, tmp):
    img = tmp / "stage2_read_error.img"
    mkimage(build, img, kernel_bytes(build))
    s2_lba, s2_sectors, _, _ = layout(img.read_bytes())
    conf = blkdebug_config(tmp / "s2.conf", s2_lba + s2_sectors // 2, once=False)
    return img, "disk error", dict(blkdebug=conf)


@case
def stage2_transient_read_error(build, tmp):
    img = tmp / "stage2_transient.img"
    mkimage(build, img, kernel_bytes(build))
    s2_lba, s2_sectors, _, _ = layout(img.read_bytes())
    conf = blkdebug_config(tmp / "s2once.conf", s2_lba + s2_sectors // 2, once=True)
    return img, "Hello World!", dict(blkdebug=conf)


@case
def kernel_read_error(build, tmp):
    img = tmp / "kernel_read_error.img"
    mkimage(build, img, kernel_bytes(build))
    _, _, k_lba, k_bytes = layout(img.read_bytes())
    conf = blkdebug_config(tmp / "k.conf", k_lba + k_bytes // 512 // 2, once=False)
    return img, "halted.", dict(blkdebug=conf)


@case
def kernel_transient_read_error(build, tmp):
    img = tmp / "kernel_transient.img"
    mkimage(build, img, kernel_bytes(build))
    _, _, k_lba, k_bytes = layout(img.read_bytes())
    conf = blkdebug_config(tmp / "konce.conf", k_lba + k_bytes // 512 // 2, once=True)
    return img, "Hello World!", dict(blkdebug=conf)


@case
def not_elf(build, tmp):
    img = mkimage(build, tmp / "not_elf.img", b"this is not an ELF kernel\n" * 64)
    return img, "loader: halted.", {}


@case
def elf32(build, tmp):
    return patched(build, tmp, "elf32", lambda e: e.__setitem__(4, 1)), "loader: halted.", {}


@case
def wrong_machine(build, tmp):
    def patch(e):
        struct.pack_into("<H", e, 18, 183)      # e_machine = EM_AARCH64
    return patched(build, tmp, "machine", patch), "loader: halted.", {}


@case
def truncated(build, tmp):
    elf = kernel_bytes(build)
    ph = phdrs(elf)[first_file_segment(elf)]
    cut = ph[P_OFFSET] + ph[P_FILESZ] // 2
    return mkimage(build, tmp / "truncated.img", elf[:cut]), "loader: halted.", {}


@case
def segment_outside_file(build, tmp):
    def patch(e):
        i = first_file_segment(e)
        ph = phdrs(e)[i]
        ph[P_OFFSET] = len(e) + 0x1000
        put_phdr(e, i, ph)
    return patched(build, tmp, "offset", patch), "loader: halted.", {}


def move_segment(i_seg, paddr):
    def patch(e):
        ph = phdrs(e)[i_seg]
        ph[P_PADDR] = paddr
        put_phdr(e, i_seg, ph)
    return patch


@case
def segment_below_1mib(build, tmp):
    return patched(build, tmp, "low", move_segment(0, 0x80000)), "loader: halted.", {}


@case
def segment_above_1gib(build, tmp):
    return patched(build, tmp, "high", move_segment(0, 0x40000000)), "loader: halted.", {}


@case
def segments_share_a_virtual_page(build, tmp):
    """Segment 1 starts in segment 0's last virtual page (no byte overlaps, virtual or
    physical): refused before any copy, not half-way by map_page."""
    def patch(e):
        ph0, ph1 = phdrs(e)[0], phdrs(e)[1]
        last = (ph0[P_VADDR] + ph0[P_MEMSZ] - 1) & ~0xFFF
        ph1[P_VADDR] = last + 0x800
        ph1[P_PADDR] = (ph1[P_PADDR] & ~0xFFF) + 0x800
        put_phdr(e, 1, ph1)
    return patched(build, tmp, "vshare", patch), "loader: halted.", {}


@case
def kernel_too_big(build, tmp):
    big = kernel_bytes(build).ljust(KERNEL_BUF_SIZE + 1, b"\0")
    return mkimage(build, tmp / "big.img", big), "halted.", {}


@case
def no_kernel(build, tmp):
    return mkimage(build, tmp / "empty.img", b""), "halted.", {}


@case
def no_long_mode(build, tmp):
    img = mkimage(build, tmp / "qemu32.img", kernel_bytes(build))
    return img, "halted.", dict(cpu="qemu32")


SHIFT = 0x3000000 - 0x100000    # kernel moved from 1 MiB to 48 MiB


@case
def not_enough_memory(build, tmp):
    def patch(e):
        for i, ph in enumerate(phdrs(e)):
            if ph[0] == 1:
                ph[P_PADDR] += SHIFT
                ph[P_VADDR] += SHIFT
                put_phdr(e, i, ph)
        struct.pack_into("<Q", e, 24, struct.unpack_from("<Q", e, 24)[0] + SHIFT)
    return patched(build, tmp, "mem", patch), "loader: halted.", dict(memory="32M")


@case
def kernel_faults_at_entry(build, tmp):
    def patch(e):
        entry = struct.unpack_from("<Q", e, 24)[0]
        ph = next(p for p in phdrs(e) if p[P_VADDR] <= entry < p[P_VADDR] + p[P_FILESZ])
        off = ph[P_OFFSET] + entry - ph[P_VADDR]
        e[off:off + 2] = b"\x0f\x0b"         # ud2
    return patched(build, tmp, "ud2", patch), "loader: halted.", {}


@case
def stage2_zeroed(build, tmp):
    img = mkimage(build, tmp / "s2zero.img", kernel_bytes(build))
    data = bytearray(img.read_bytes())
    s2_lba, s2_sectors, _, _ = layout(data)
    data[s2_lba * 512:(s2_lba + s2_sectors) * 512] = bytes(s2_sectors * 512)
    img.write_bytes(data)
    return img, "no stage2", {}


def flip_last_byte(img: Path, first: int, end: int, crc_field: str) -> tuple[int, int]:
    """Flip every bit of image byte end - 1 (the last byte of stage 2 or of the kernel
    file: data, nothing runs it). Returns (the CRC-32 the stage 2 header records in
    crc_field, the CRC-32 of image bytes first..end now)."""
    data = bytearray(img.read_bytes())
    s2_lba = layout(data)[0]
    off, size = next((o, n) for name, o, n in fc.STAGE2_HEADER_FIELDS if name == crc_field)
    recorded = int.from_bytes(data[s2_lba * 512 + off:s2_lba * 512 + off + size], "little")
    data[end - 1] ^= 0xFF
    img.write_bytes(data)
    return recorded, zlib.crc32(data[first:end])


CORRUPTED = {}          # case name: (CRC-32 recorded, CRC-32 now), once the case has run


@case
def stage2_corrupted(build, tmp):
    img = mkimage(build, tmp / "s2corrupt.img", kernel_bytes(build))
    s2_lba = layout(img.read_bytes())[0]
    start, length = s2_lba * 512, len((build / "stage2.bin").read_bytes())
    CORRUPTED["stage2_corrupted"] = flip_last_byte(img, start + fc.STAGE2_HEADER_SIZE,
                                                   start + length, "stage2_crc32")
    return img, "halted.", {}


@case
def kernel_corrupted(build, tmp):
    img = mkimage(build, tmp / "kcorrupt.img", kernel_bytes(build))
    _, _, k_lba, k_bytes = layout(img.read_bytes())
    CORRUPTED["kernel_corrupted"] = flip_last_byte(img, k_lba * 512, k_lba * 512 + k_bytes,
                                                   "kernel_crc32")
    return img, "loader: halted.", {}


@case
def layout_zeroed(build, tmp):
    img = mkimage(build, tmp / "layoutzero.img", kernel_bytes(build))
    data = bytearray(img.read_bytes())
    data[fc.BOOT_LAYOUT_MBR_OFFSET:fc.BOOT_LAYOUT_MBR_OFFSET + fc.BOOT_LAYOUT_SIZE] = bytes(
        fc.BOOT_LAYOUT_SIZE)
    img.write_bytes(data)
    return img, "no stage2", {}


@case
def layout_huge_stage2(build, tmp):
    """A damaged table claiming 0xffff stage-2 sectors (issue 15 item 18): reading them
    would wrap the segment over the IVT and stage 1; stage 1 refuses more than
    STAGE2_ADDR..STAGE2_END holds."""
    img = mkimage(build, tmp / "hugestage2.img", kernel_bytes(build))
    data = bytearray(img.read_bytes())
    off, size = next((o, n) for name, o, n in fc.BOOT_LAYOUT_FIELDS if name == "stage2_sectors")
    at = fc.BOOT_LAYOUT_MBR_OFFSET + off
    data[at:at + size] = (0xFFFF).to_bytes(size, "little")
    img.write_bytes(data)
    return img, "no stage2", {}


@pytest.fixture(scope="module")
def outcomes(build, tmp_path_factory):
    """Boot every case (two QEMUs at a time); outcome(name) waits for one case."""
    tmp = tmp_path_factory.mktemp("loader_errors")
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {}
    lock = threading.Lock()

    def run(name):
        image, until, opts = CASES[name](build, tmp)
        return boot(image, until, **opts)

    for name in CASES:
        futures[name] = pool.submit(run, name)

    def outcome(name) -> Outcome:
        with lock:
            fut = futures[name]
        return fut.result(timeout=BOOT_TIMEOUT * len(CASES))

    yield outcome
    pool.shutdown(wait=True)


# ---- checks ------------------------------------------------------------------------------------
def assert_stopped(o: Outcome, magic: bytes):
    """Halted at a magic breakpoint, QEMU alive: no reset, no triple fault, no hang elsewhere."""
    assert o.ended == "text", f"boot ended by {o.ended}; COM1:\n{o.serial}\nE9:\n{o.debugcon}"
    assert o.alive, "QEMU exited: the guest reset or triple-faulted (-no-reboot)"
    assert "HLT=1" in o.regs, f"CPU not halted:\n{o.regs}"
    assert o.stop_bytes.endswith(magic), f"bytes before RIP: {o.stop_bytes.hex()}"


def assert_loader_failed(o: Outcome, pattern: str):
    """A long-mode loader failure: message on COM1 and on screen, then the halt."""
    assert_stopped(o, MAGIC_BREAK_HALT_64)
    com1 = flat(o.serial)
    m = re.search(r"loader: (.*?) loader: halted\.", com1)
    assert m, com1
    assert re.fullmatch(pattern, m.group(1)), m.group(1)
    assert flat(f"loader: {m.group(1)} loader: halted.") in o.screen, o.screen
    assert "Hello World!" not in o.serial
    assert o.serial.count("farjump stage 2") == 1


def assert_stage2_failed(o: Outcome, message: str):
    """A real-mode stage 2 failure: message then "halted." on COM1 and on screen."""
    assert_stopped(o, MAGIC_BREAK_HALT_16)
    want = flat(message + " halted.")
    assert flat(o.serial).endswith(want), o.serial
    assert want in o.screen, o.screen
    assert "long mode;" not in o.serial
    assert o.serial.count("farjump stage 2") == 1


def test_stage2_read_error_retries_then_reports_bios_status(outcomes):
    o = outcomes("stage2_read_error")
    assert_stopped(o, MAGIC_BREAK_HALT_16)
    # Three attempts: two "retry" messages, then the BIOS status of the last failure.
    want = f"retry\r\nretry\r\ndisk error 0x{SEABIOS_ATA_ERROR:02X}\r\n"
    assert o.debugcon == want
    assert flat(want) in o.screen
    assert o.serial == ""        # stage 2 never ran


def test_stage2_transient_read_error_is_retried(outcomes):
    o = outcomes("stage2_transient_read_error")
    assert o.ended == "text" and o.alive
    assert o.debugcon == "retry\r\n"
    assert "\nHello World!" in o.serial.replace("\r\n", "\n")


def test_kernel_read_error_retries_then_reports_bios_status_and_lba(outcomes, build):
    o = outcomes("kernel_read_error")
    _, _, k_lba, _ = layout((build / "disk.img").read_bytes())
    retry = (f"stage 2: disk read at LBA 0x{k_lba:08X} failed, BIOS error "
             f"0x{SEABIOS_ATA_ERROR:02X} (attempt {{}} of 3), retrying")
    assert flat(retry.format(1)) in flat(o.serial)
    assert flat(retry.format(2)) in flat(o.serial)
    assert "attempt 3" not in o.serial
    assert_stage2_failed(o, f"stage 2: cannot read the kernel, BIOS error "
                            f"0x{SEABIOS_ATA_ERROR:02X} at LBA 0x{k_lba:08X}")
    assert flat(retry.format(2)) in o.screen


def test_kernel_transient_read_error_is_retried(outcomes):
    o = outcomes("kernel_transient_read_error")
    assert o.ended == "text" and o.alive
    assert o.serial.count("(attempt 1 of 3), retrying") == 1
    assert "attempt 2" not in o.serial
    assert "kernel read with INT 13h AH=42h" in o.serial
    assert "\nHello World!" in o.serial.replace("\r\n", "\n")


def test_not_an_elf(outcomes):
    assert_loader_failed(outcomes("not_elf"), re.escape(
        "kernel is not an ELF file (starts 74 68 69 73, want 7f 45 4c 46)"))


def test_32_bit_elf(outcomes):
    assert_loader_failed(outcomes("elf32"), re.escape(
        "kernel is a 32-bit ELF (EI_CLASS 1); farjump needs ELFCLASS64 (2)"))


def test_foreign_machine(outcomes):
    assert_loader_failed(outcomes("wrong_machine"), re.escape(
        "kernel ELF is for machine 183 (AArch64), not x86-64 (e_machine 62)"))


def test_truncated_kernel(outcomes, build):
    elf = kernel_bytes(build)
    i = first_file_segment(elf)
    ph = phdrs(elf)[i]
    cut = ph[P_OFFSET] + ph[P_FILESZ] // 2
    end = ph[P_OFFSET] + ph[P_FILESZ]
    assert_loader_failed(outcomes("truncated"), re.escape(
        f"segment {i}: file bytes 0x{ph[P_OFFSET]:x}..0x{end:x}, but the kernel file ends at "
        f"0x{cut:x} (0x{end - cut:x} bytes missing): truncated?"))


def test_segment_outside_the_file(outcomes, build):
    elf = kernel_bytes(build)
    i = first_file_segment(elf)
    ph = phdrs(elf)[i]
    assert_loader_failed(outcomes("segment_outside_file"), re.escape(
        f"segment {i}: p_offset 0x{len(elf) + 0x1000:x} is past the end of the kernel file "
        f"(0x{len(elf):x} bytes), so its 0x{ph[P_FILESZ]:x} bytes are not in the file: "
        "bad p_offset?"))


def test_segment_below_1_mib(outcomes, build):
    memsz = phdrs(kernel_bytes(build))[0][P_MEMSZ]
    assert_loader_failed(outcomes("segment_below_1mib"), re.escape(
        f"segment 0: physical 0x80000..0x{0x80000 + memsz:x} is outside the memory the loader "
        "may use (0x100000..0x40000000): it starts below KERNEL_PHYS_MIN (1 MiB; below is the "
        "loader's own memory)"))


def test_segment_above_the_identity_map(outcomes, build):
    memsz = phdrs(kernel_bytes(build))[0][P_MEMSZ]
    assert_loader_failed(outcomes("segment_above_1gib"), re.escape(
        f"segment 0: physical 0x40000000..0x{0x40000000 + memsz:x} is outside the memory the "
        "loader may use (0x100000..0x40000000): it ends above IDENTITY_MAP_END (the 1 GiB "
        "identity map)"))


def test_segments_sharing_a_virtual_page_are_refused_before_loading(outcomes, build):
    ph = phdrs(kernel_bytes(build))
    v0, v1 = ph[0][P_VADDR], ((ph[0][P_VADDR] + ph[0][P_MEMSZ] - 1) & ~0xFFF) + 0x800
    assert v0 + ph[0][P_MEMSZ] <= v1          # the test's premise: no byte overlap
    assert_loader_failed(outcomes("segments_share_a_virtual_page"), re.escape(
        f"segments 0 and 1 share a virtual page (0x{v0:x}..0x{v0 + ph[0][P_MEMSZ]:x} and "
        f"0x{v1:x}..0x{v1 + ph[1][P_MEMSZ]:x}): each 4 KiB page maps one segment; link with "
        "-z max-page-size=0x1000 and page-aligned segments"))


def test_corrupted_stage2_is_caught_by_its_crc(outcomes):
    o = outcomes("stage2_corrupted")          # first: the case runs in the pool
    recorded, now = CORRUPTED["stage2_corrupted"]
    assert recorded != now
    assert_stage2_failed(o,
                         f"stage 2 corrupted: its CRC-32 is not 0x{recorded:08X}, the one the "
                         "image builder recorded (a bad disk read or a damaged image)")


def test_corrupted_kernel_file_is_caught_by_its_crc(outcomes):
    o = outcomes("kernel_corrupted")
    recorded, now = CORRUPTED["kernel_corrupted"]
    assert_loader_failed(o, re.escape(
        f"kernel file corrupted: its CRC-32 is 0x{now:08x}, the image builder recorded "
        f"0x{recorded:08x} (a bad disk read or a damaged image)"))
    assert "kernel at physical" not in o.serial


def test_kernel_larger_than_the_buffer(outcomes):
    assert_stage2_failed(outcomes("kernel_too_big"),
                         f"stage 2: kernel file is 0x{KERNEL_BUF_SIZE + 1:08X} bytes; "
                         f"the loader reads at most 0x{KERNEL_BUF_SIZE:08X}")


def test_no_kernel_on_the_disk(outcomes):
    assert_stage2_failed(outcomes("no_kernel"),
                         "stage 2: no kernel on the disk (layout says 0 bytes)")


def test_cpu_without_long_mode(outcomes):
    o = outcomes("no_long_mode")
    assert_stage2_failed(o, "stage 2: this CPU has no long mode (CPUID 80000001h EDX bit 29 "
                            "clear); farjump needs an x86-64 CPU")
    assert "reading kernel" not in o.serial


def test_not_enough_memory(outcomes, build):
    o = outcomes("not_enough_memory")
    ph = phdrs(kernel_bytes(build))[0]
    start, end = ph[P_PADDR] + SHIFT, ph[P_PADDR] + SHIFT + ph[P_MEMSZ]
    assert_loader_failed(o, re.escape(
        f"not enough memory: segment 0 needs physical 0x{start:x}..0x{end:x}, i.e. RAM up to "
        f"{(end + 1023) // 1024} KiB, but usable RAM in the E820 map ends at 0x") +
        r"([0-9a-f]+) \((\d+) KiB\)")
    top = int(re.search(r"E820 map ends at 0x([0-9a-f]+)", o.serial).group(1), 16)
    assert 31 * 2**20 < top <= 32 * 2**20     # -m 32M
    # Checked before anything was copied: nothing of the kernel reached memory.
    assert "kernel at physical" not in o.serial


def test_exception_in_the_kernel_before_its_idt_is_reported(outcomes, build):
    entry = struct.unpack_from("<Q", kernel_bytes(build), 24)[0]
    assert_loader_failed(outcomes("kernel_faults_at_entry"), re.escape(
        f"CPU exception 6 (#UD Invalid Opcode) at RIP 0x{entry:x}, error code 0x0, CR2 0x")
        + r"[0-9a-f]+, RSP 0x[0-9a-f]+" + re.escape(
        " (in the kernel, before it loaded its own IDT)"))


@pytest.mark.parametrize("name", ["stage2_zeroed", "layout_zeroed", "layout_huge_stage2"])
def test_missing_stage2(outcomes, name):
    o = outcomes(name)
    assert_stopped(o, MAGIC_BREAK_HALT_16)
    assert o.debugcon == "no stage2\r\n"
    assert "no stage2" in o.screen
    assert o.serial == ""


# ---- docs/troubleshooting.md covers every message ------------------------------------------------
CONVERSION = re.compile(r"%[-0 #+]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z)?[a-zA-Z%]")


def asm_messages(elf_path: Path):
    """The text at every msg_* label of a built stage (NUL-terminated strings in its code
    section), read through the ELF's symbol table."""
    elf = Elf.read(elf_path)
    for sym in elf.symbols():
        if sym.name.startswith("msg_"):
            sec = elf.section(sym.section)
            start = sec.offset + sym.value - sec.addr
            raw = elf.data[start:elf.data.index(b"\0", start)]
            yield " ".join(raw.decode("latin-1").split())


def c_messages(obj: Path):
    """Every string the compiled loader holds (its .rodata sections, as the compiler left
    them in the object file): the messages, and the exception names it took from
    contracts/exceptions.h. Byte patterns (the ELF magic) are not text and are skipped."""
    elf = Elf.read(obj)
    for section in elf.sections:
        if section.name.startswith(".rodata"):
            for raw in elf.section_bytes(section.name).split(b"\0"):
                text = raw.decode("latin-1")
                if text and all(c.isprintable() or c == "\n" for c in text):
                    yield text.replace("\n", " ")


def fragments(message: str):
    for part in CONVERSION.split(message):
        part = " ".join(part.split())
        if len(part.strip(" ,.;:()")) >= 2:
            yield part


def test_troubleshooting_doc_explains_every_message(build):
    doc = " ".join((ROOT / "docs/troubleshooting.md").read_text().split())
    messages = [m for stage in ("stage1.elf", "stage2.elf") for m in asm_messages(build / stage)]
    messages += list(c_messages(build / "boot" / "loader.o"))
    assert len(messages) > 40          # the parsers found the messages
    missing = sorted({f for m in messages for f in fragments(m) if f not in doc})
    assert not missing, "docs/troubleshooting.md lacks:\n" + "\n".join(missing)
