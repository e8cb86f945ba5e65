"""One scripted Bochs boot of build/disk.img, shared by every test in tests/bochs.

The boot runs through scripts/bochs-run with a generated debugger command file that, at each
of the six magic breakpoints, records r, sreg, creg, info gdt, info idt, info ivt, page and
info tab, and dumps the first 2 MiB of memory with writemem (linear = physical there at every
stop: real mode, protected mode without paging, then the identity map). The tests decode
those dumps with farjump's own decoders and compare with what Bochs printed.
"""
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
# fjgdb comes from pytest.ini's pythonpath. bochs_output is importable because pytest
# (import mode "prepend") puts this directory on
# sys.path when it loads this conftest.

import bochs_output as bo  # noqa: E402
from bochs_output import BITS_OF, ELF_OF, STOP_NAMES  # noqa: E402

BOOT_TIMEOUT = 60           # seconds; the boot takes ~0.3 s of host time
LOW_DUMP = 0x200000         # bytes of memory dumped from linear (= physical) 0 at each stop
VGA, VGA_BYTES = 0xB8000, 80 * 25 * 2

# ---- the ELF files: symbols and bytes ----------------------------------------------------

@dataclass
class Symbol:
    name: str
    addr: int
    size: int
    type: str


def nm(elf: Path) -> dict[str, Symbol]:
    out = subprocess.run(["nm", "-S", "--defined-only", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            addr, size, typ, name = parts
        elif len(parts) == 3:
            (addr, typ, name), size = parts, "0"
        else:
            continue
        syms.setdefault(name, Symbol(name, int(addr, 16), int(size, 16), typ))
    return syms


def elf_bytes(elf: Path, vaddr: int, size: int) -> bytes:
    """Bytes at *vaddr* from the section that holds them (ELF64 little-endian)."""
    data = elf.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    for i in range(shnum):
        (_, sh_type, _, sh_addr, sh_offset, sh_size) = struct.unpack_from(
            "<IIQQQQ", data, shoff + i * shentsize)
        if sh_type != 8 and sh_addr <= vaddr and vaddr + size <= sh_addr + sh_size:
            off = sh_offset + vaddr - sh_addr
            return data[off:off + size]
    raise LookupError(f"0x{vaddr:x} not in any section of {elf}")


def magic_breaks(elf: Path, sym: Symbol, bits: int) -> list[tuple[int, int]]:
    """[(address, size)] of every `xchg bx, bx` in the function *sym* (Capstone)."""
    import capstone
    mode = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}[bits]
    md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    size = sym.size or 16
    code = elf_bytes(elf, sym.addr, size)
    return [(i.address, i.size) for i in md.disasm(code, sym.addr)
            if i.mnemonic == "xchg" and i.op_str == "bx, bx"]


def expected_stops() -> dict[str, tuple[int, str]]:
    """stop name -> (address Bochs must report, symbol+offset label), from the ELFs.

    Bochs stops AFTER the magic `xchg bx, bx`: at symbol+2 for 87 DB (16-bit code) and
    symbol+3 for 66 87 DB (32- and 64-bit code, where the operand-size prefix makes it 16-bit).
    kernel_main's first breakpoint comes after the C prologue, so the ELF is disassembled to
    find it; its last one is the stop just before the final halt.
    """
    out = {}
    for name in STOP_NAMES:
        elf = BUILD / ELF_OF[name]
        syms = nm(elf)
        sym = syms["kernel_main" if name == "final" else name]
        found = magic_breaks(elf, sym, BITS_OF[name])
        assert found, f"no `xchg bx, bx` in {sym.name} ({elf.name})"
        if name == "final":
            assert len(found) >= 2, f"kernel_main has {len(found)} magic breakpoints, want 2"
            addr, size = found[-1]
        else:
            addr, size = found[0]
            if name != "kernel_main":
                assert addr == sym.addr, f"{name} does not start with `xchg bx, bx`"
        stop = addr + size
        out[name] = (stop, f"{sym.name}+{stop - sym.addr:x}")
    return out


# ---- the boot ------------------------------------------------------------------------------

@dataclass
class StopRecord:
    name: str
    stop: bo.Stop
    outputs: dict[str, str]                  # command -> output, for this stop
    low: bytes                               # linear/physical 0 .. LOW_DUMP
    pages: dict[int, str] = field(default_factory=dict)   # page ADDR -> output

    def read_phys(self, addr: int, size: int) -> bytes:
        assert addr + size <= len(self.low), f"0x{addr:x}+{size} is beyond the dump"
        return self.low[addr:addr + size]


@dataclass
class Boot:
    stops: list[StopRecord]
    transcript: str
    serial: str
    vga: bytes
    vga_xp: str
    symbols: dict[str, Symbol]             # all three ELFs; the kernel's win on clashes
    elf_symbols: dict[str, dict[str, Symbol]]   # 'stage2.elf' -> its symbols
    expected: dict[str, tuple[int, str]]
    page_addrs: list[int]
    run: subprocess.CompletedProcess
    outdir: Path

    def stop(self, name: str) -> StopRecord:
        return next(s for s in self.stops if s.name == name)


def page_addresses(kernel: dict[str, Symbol]) -> list[int]:
    """Linear addresses to translate with `page` at the long-mode stops: identity-mapped low
    memory (first and last byte of the 1 GiB map), the first address past it, and one
    address in each kernel section kind (text, rodata, data, bss) plus unmapped neighbours."""
    def first(types):
        cands = [s for s in kernel.values() if s.type in types and s.addr >= 0xffffffff80000000]
        return min(cands, key=lambda s: s.addr).addr if cands else None
    addrs = [0x0, 0x7C00, VGA, 0x10000, 0x3FFFFFFF, 0x40000000,
             kernel["kernel_main"].addr, 0xFFFFFFFF80000000]
    for types in ("rR", "dD", "bB"):
        a = first(types)
        if a is not None:
            addrs.append(a)
    if "idt" in kernel:
        addrs.append(kernel["idt"].addr)
    end = kernel.get("__kernel_end")
    if end:
        addrs.append((end.addr + 0xFFF & ~0xFFF) + 0x1000)   # a page past the image
    return list(dict.fromkeys(addrs))


def make_commands(outdir: Path, page_addrs: list[int]) -> tuple[list[str], dict]:
    cmds = ["show mode"]
    where: dict = {}
    for i, name in enumerate(STOP_NAMES):
        block = ["c", "r", "sreg", "creg", "info gdt", "info idt", "info ivt",
                 f'writemem "{outdir}/stop{i}-low.bin" 0 {LOW_DUMP:#x}']
        if name == "pm_entry":
            block.append("page 0x7c00")
        if BITS_OF[name] == 64:
            block.append("info tab")
            block += [f"page {a:#x}" for a in page_addrs]
        if name == "final":
            block += [f'writemem "{outdir}/vga.bin" {VGA:#x} {VGA_BYTES}', f"xp /24bx {VGA:#x}"]
        where[name] = (len(cmds), len(cmds) + len(block))
        cmds += block
    cmds.append("quit")
    return cmds, where


@pytest.fixture(scope="session")
def bochs_boot(build, tmp_path_factory):
    if shutil.which("bochs") is None:
        pytest.fail("bochs is not installed (make deps installs bochs, bochsbios, vgabios, "
                    "bochs-term)")
    r = subprocess.run(["make", "-s", "build/bochs.sym"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"make build/bochs.sym failed:\n{r.stdout}\n{r.stderr}"
    outdir = tmp_path_factory.mktemp("bochs")
    kernel = nm(BUILD / "kernel.elf")
    page_addrs = page_addresses(kernel)
    cmds, where = make_commands(outdir, page_addrs)
    rc = outdir / "boot.rc"
    rc.write_text("\n".join(cmds) + "\n")
    run = subprocess.run(
        [str(ROOT / "scripts" / "bochs-run"), "-q", "-rc", str(rc),
         "-o", str(outdir / "boot.log"), "--symbols", str(BUILD / "bochs.sym"),
         "--timeout", str(BOOT_TIMEOUT)],
        cwd=ROOT, capture_output=True, text=True, timeout=BOOT_TIMEOUT + 30)
    transcript = (outdir / "boot.log").read_text(errors="replace") \
        if (outdir / "boot.log").exists() else ""
    assert run.returncode == 0, (f"bochs-run failed ({run.returncode}):\n{run.stderr}\n"
                                 f"--- transcript tail:\n{transcript[-3000:]}")
    blocks = bo.split_transcript(transcript, cmds)[1:]   # drop the banner
    stops = []
    for i, name in enumerate(STOP_NAMES):
        lo, hi = where[name]
        outputs = {}
        pages = {}
        for cmd, text in blocks[lo:hi]:
            if cmd.startswith("page "):
                pages[int(cmd.split()[1], 16)] = text
            else:
                outputs.setdefault(cmd.split(" ", 1)[0] if cmd.startswith("writemem") else cmd,
                                   text)
        stops.append(StopRecord(name, bo.parse_continue(outputs["c"]), outputs,
                                (outdir / f"stop{i}-low.bin").read_bytes(), pages))
    serial_file = outdir / "boot.serial.log"
    return Boot(stops=stops, transcript=transcript,
                serial=serial_file.read_text(errors="replace") if serial_file.exists() else "",
                vga=(outdir / "vga.bin").read_bytes(),
                vga_xp=dict(blocks[where["final"][0]:where["final"][1]]).get(
                    f"xp /24bx {VGA:#x}", ""),
                symbols={**nm(BUILD / "stage1.elf"), **nm(BUILD / "stage2.elf"), **kernel},
                elf_symbols={e: nm(BUILD / e) for e in ("stage1.elf", "stage2.elf", "kernel.elf")},
                expected=expected_stops(), page_addrs=page_addrs, run=run, outdir=outdir)
