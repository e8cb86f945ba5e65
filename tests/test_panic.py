"""The kernel panic screen (issue "Faults and bad input", kernel half).

Kernels built with tests/guests/fault/fault.c compiled for one deliberate exception each
(`make build/fault/NAME.img`, see the Makefile) are booted in QEMU; the panic screen is
read from VGA memory by QEMU itself (QMP pmemsave, not the kernel's own report) and from
COM1, and checked against the kernel ELF's own symbols (nm).
"""
import re
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fjqemu.vm import QemuError, QemuVM

ROOT = Path(__file__).resolve().parent.parent
VGA, COLS, ROWS = 0xB8000, 80, 25
KERNEL_VMA = 0xFFFFFFFF80000000
BOOT_TIMEOUT = 20       # seconds per boot; a TCG boot to the panic takes well under 1 s
HALTED = "System halted, interrupts off."
NESTED = "fault while panicking:"
UNMAPPED = 0x00000BADC0DE0000      # tests/guests/fault/fault.c UNMAPPED_ADDRESS
ATTR_BAR = 0x4F                    # white on red

FAULTS = ["divide", "invalid-opcode", "pf-unmapped", "pf-rodata", "pf-nx",
          "gp-noncanonical", "gp-selector", "gp-idt", "gp-idt-low", "stack-overflow", "bad-rbp", "nested"]


def nm(elf):
    """{name: (address, size)} of a kernel ELF."""
    out = subprocess.run(["nm", "-S", "--defined-only", str(elf)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    syms = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4:
            syms[p[3]] = (int(p[0], 16), int(p[1], 16))
        elif len(p) == 3:
            syms[p[2]] = (int(p[0], 16), 0)
    return syms


class Panic:
    """One booted fault kernel: COM1 text, VGA rows and attributes, registers, symbols."""

    def __init__(self, name, serial, raw_vga, regs, idt_gate8, build):
        self.name = name
        self.serial = serial.replace("\r\n", "\n")
        chars = bytes(raw_vga[0::2]).decode("cp437")
        self.attrs = raw_vga[1::2]
        self.rows = [chars[r * COLS:(r + 1) * COLS].rstrip() for r in range(ROWS)]
        self.regs = regs
        self.idt_gate8 = idt_gate8
        self.syms = nm(build / "fault" / f"kernel-{name}.elf")
        start = self.serial.find(" KERNEL PANIC:")
        self.panic_lines = self.serial[start:].splitlines() if start >= 0 else []

    @property
    def screen(self):
        return "\n".join(self.rows)

    def both(self, pattern):
        """The regex must match on the VGA screen and in the COM1 panic lines."""
        vga = re.search(pattern, self.screen, re.M)
        com = re.search(pattern, "\n".join(self.panic_lines), re.M)
        assert vga, f"{pattern!r} not on VGA:\n{self.screen}"
        assert com, f"{pattern!r} not on COM1:\n{self.serial}"
        return vga

    def in_symbol(self, addr, name):
        """addr lies in the symbol; for an assembly label (no size), before the next one."""
        start, size = self.syms[name]
        if size:
            return start <= addr < start + size
        return start <= addr and not any(start < a <= addr for a, _ in self.syms.values())


def boot(name, build):
    with QemuVM(build / "fault" / f"{name}.img") as vm:
        vm.wait_serial(NESTED if name == "nested" else HALTED, timeout=BOOT_TIMEOUT)
        raw = vm.read_phys(VGA, COLS * ROWS * 2)
        # The HLT follows the last COM1 byte within microseconds; poll briefly anyway.
        deadline = time.monotonic() + 5
        while "HLT=1" not in (regs := vm.hmp("info registers")) and time.monotonic() < deadline:
            time.sleep(0.05)
        idt_base = int(re.search(r"IDT=\s*([0-9a-f]+)", regs).group(1), 16)
        gate8 = vm.read_phys(idt_base - KERNEL_VMA + 8 * 16, 16)
        return Panic(name, vm.serial(), raw, regs, gate8, build)


class Boots(dict):
    """name -> Panic; a variant that did not boot to its panic fails only its own tests."""

    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, Exception):
            pytest.fail(f"{name}: {value}")
        return value


def try_boot(name, build):
    try:
        return boot(name, build)
    except (QemuError, OSError, AttributeError) as e:
        return e


@pytest.fixture(scope="module")
def panics(build):
    targets = [f"build/fault/{n}.img" for n in FAULTS]
    r = subprocess.run(["make", "-s", "-j2"] + targets, cwd=ROOT, capture_output=True,
                       text=True, timeout=180)
    if r.returncode != 0:
        pytest.fail(f"make {' '.join(targets)} failed:\n{r.stdout}\n{r.stderr}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        return Boots(zip(FAULTS, pool.map(lambda n: try_boot(n, build), FAULTS)))


# ---- the symbol table -------------------------------------------------------------------
def ksymtab(elf):
    """{name: (address, size)} from the table the kernel carries (see kernel/symbols.c)."""
    out = subprocess.run(["objcopy", "-O", "binary", "--only-section=.ksymtab", str(elf),
                          "/dev/stdout"], capture_output=True, check=True, timeout=120).stdout
    magic, count, strings, used = struct.unpack_from("<4sIII", out)
    assert magic == b"FJSY" and used <= len(out)
    table = {}
    for i in range(count):
        addr, size, name = struct.unpack_from("<QII", out, 16 + 16 * i)
        table[out[name:out.index(b"\0", name)].decode()] = (addr, size)
    return table


def test_symbol_table_filled_without_moving_anything(build):
    linked, final = build / "kernel" / "kernel.linked.elf", build / "kernel.elf"
    assert nm(linked) == nm(final)            # filling .ksymtab moved no symbol
    table, syms = ksymtab(final), nm(final)
    for name in ("kernel_main", "exception_handler", "panic_exception", "trace_walk", "_start"):
        assert table[name] == syms[name], name
    assert table["kernel_main"][1] > 0        # sized: RIP offsets are checked against it
    assert "_start.halt" not in table          # NASM local labels fold into their parent
    # The table sits in the read-only segment, not in the writable one.
    out = subprocess.run(["readelf", "-SW", str(final)], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    flags = re.search(r"\.ksymtab\s+PROGBITS\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)", out).group(1)
    assert flags == "A"


def test_normal_build_does_not_build_fault_kernels():
    # -B: print every command `make all` runs from scratch, not just the stale ones.
    r = subprocess.run(["make", "-n", "-B", "all"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "fjqemu.ksymtab" in r.stdout
    assert "FJ_FAULT" not in r.stdout and "build/fault" not in r.stdout


# ---- every panic screen -------------------------------------------------------------------
@pytest.mark.parametrize("name", [f for f in FAULTS if f != "nested"])
def test_panic_screen_layout(panics, name):
    p = panics[name]
    # Full-screen: row 0 is the red title bar across all 80 columns, row 24 the footer.
    assert p.rows[0].startswith(" KERNEL PANIC: vector "), p.screen
    assert all(a == ATTR_BAR for a in p.attrs[:COLS])
    assert all(a == ATTR_BAR for a in p.attrs[24 * COLS:25 * COLS])
    assert p.rows[24].startswith(" " + HALTED)
    assert all(a >> 4 == 0 for a in p.attrs[COLS:24 * COLS]), "body rows are on black"
    # The boot log was replaced, and the kernel never got past the fault.
    assert "farjump kernel" not in p.screen and "memory map" not in p.screen
    assert "Hello World!" not in p.serial
    # COM1 mirrors the screen: every VGA body row is a COM1 line (cut to 80 columns).
    com = [l[:COLS].rstrip() for l in p.panic_lines]
    for row in p.rows[:24]:
        if row:
            assert row in com, f"VGA row {row!r} missing on COM1"
    # Registers: all general registers, segment selectors of the kernel's GDT, CRs.
    for reg in ("RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8 ", "R9 ", "R10", "R11",
                "R12", "R13", "R14", "R15"):
        p.both(rf"{reg} [0-9a-f]{{16}}")
    p.both(r"^CS 0x0018  SS 0x0020  RSP 0x[0-9a-f]{16}  RFLAGS 0x[0-9a-f]+ \[")
    cr = p.both(r"^CR0 ([0-9a-f]{8})  CR2 [0-9a-f]{16}  CR3 ([0-9a-f]{16})  CR4 [0-9a-f]{8}")
    assert int(cr.group(1), 16) & 0x80010001 == 0x80010001     # PG, WP, PE
    assert int(cr.group(2), 16) == int(re.search(r"CR3=([0-9a-f]+)", p.regs).group(1), 16)
    # Halted for good with interrupts off, not reset (QEMU runs with -no-reboot).
    assert "HLT=1" in p.regs
    assert int(re.search(r"RFL=([0-9a-f]+)", p.regs).group(1), 16) & 0x200 == 0


EXPECTED = {
    # name: (vector, mnemonic, name, error-code regexes, RIP symbol)
    "divide": (0, "#DE", "Divide Error", [r"^error code: none \(the CPU pushes none for #DE\)"],
               "fault_divide"),
    "invalid-opcode": (6, "#UD", "Invalid Opcode", [r"^error code: none"],
                       "fault_invalid_opcode"),
    "pf-unmapped": (14, "#PF", "Page Fault",
                    [r"^error code 0x0: P=0 W=0 U=0 RSVD=0 I=0 ",
                     r"^  page not present, read, supervisor mode$",
                     r"^CR2 0x00000badc0de0000 \(faulting address\)$"], "fault_pf_unmapped"),
    "pf-rodata": (14, "#PF", "Page Fault",
                  [r"^error code 0x3: P=1 W=1 U=0 RSVD=0 I=0 ",
                   r"^  protection violation \(page present\), write, supervisor mode$",
                   r"^CR2 0x[0-9a-f]{16} \(faulting address\) = fault_rodata_target\+0x0/0x8$"],
                  "fault_pf_rodata"),
    "pf-nx": (14, "#PF", "Page Fault",
              [r"^error code 0x11: P=1 W=0 U=0 RSVD=0 I=1 ",
               r"^  protection violation \(page present\), instruction fetch, supervisor mode$",
               r"^CR2 0x[0-9a-f]{16} \(faulting address\) = fault_nx_code\+0x0/0x10$"],
              "fault_nx_code"),
    "gp-noncanonical": (13, "#GP", "General Protection",
                        [r"^error code 0x0: selector index 0x0, table GDT, EXT=0$",
                         r"^  0: not about a segment selector"], "fault_gp_noncanonical"),
    "gp-selector": (13, "#GP", "General Protection",
                    [r"^error code 0x1ff8: selector index 0x3ff, table GDT, EXT=0$",
                     r"^  GDT selector 0x1ff8 "], "fault_gp_selector"),
    # SDM: index = vector (0x402); QEMU's TCG reports vector * 16 + 2 (0x802) in long mode.
    "gp-idt": (13, "#GP", "General Protection",
               [r"^error code 0x(402|802): selector index 0x(80|100), table IDT, EXT=0$",
                r"^  IDT vector 0x80, raised by software \(INT n\)"], "fault_gp_idt"),
    # INT 0x40: QEMU's index 0x80 is a vector too; the INT instruction at RIP decides.
    "gp-idt-low": (13, "#GP", "General Protection",
                   [r"^error code 0x(202|402): selector index 0x(40|80), table IDT, EXT=0$",
                    r"^  IDT vector 0x40, raised by software \(INT n\)"], "fault_gp_idt_low"),
    "stack-overflow": (8, "#DF", "Double Fault",
                       [r"^error code 0x0 \(always 0\): a fault while delivering another one$",
                        r"^kernel stack overflow: RSP 0x[0-9a-f]{16} is in the stack guard page$",
                        r"^CR2 0x[0-9a-f]{16} \(last page-fault address\) = "
                        r"kernel_stack_guard\+0x[0-9a-f]+$"], "fault_stack_overflow"),
    "bad-rbp": (6, "#UD", "Invalid Opcode", [r"^error code: none"], "fault_bad_rbp"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_panic_names_the_exception_and_decodes_it(panics, name):
    p = panics[name]
    vector, mnemonic, title, error_lines, rip_symbol = EXPECTED[name]
    p.both(rf"^ KERNEL PANIC: vector {vector} {mnemonic} {title}$")
    for pattern in error_lines:
        p.both(pattern)
    # RIP: the address lies inside the named symbol according to the ELF itself.
    m = p.both(r"^RIP 0x([0-9a-f]{16}) ([A-Za-z_][\w.]*)\+0x([0-9a-f]+)/0x([0-9a-f]+)$")
    rip, sym, off, size = int(m.group(1), 16), m.group(2), int(m.group(3), 16), int(m.group(4), 16)
    assert sym == rip_symbol
    assert p.syms[sym] == (rip - off, size) and off < size
    if mnemonic == "#PF":
        cr2 = int(re.search(r"^CR2 0x([0-9a-f]{16})", p.screen, re.M).group(1), 16)
        expected_cr2 = {"pf-unmapped": UNMAPPED, "pf-rodata": p.syms["fault_rodata_target"][0],
                        "pf-nx": p.syms["fault_nx_code"][0]}[name]
        assert cr2 == expected_cr2
        assert re.search(rf"CR2 {cr2:016x}", p.screen)       # the same value in the CR row
    if name == "pf-nx":
        assert rip == p.syms["fault_nx_code"][0]                # fetched from .data itself


def trace(p):
    """[(address, symbol)] of the stack trace rows on VGA."""
    return [(int(a, 16), s) for a, s in
            re.findall(r"^ #\d+ 0x([0-9a-f]{16}) (?:\? )?([\w.?]+)", p.screen, re.M)]


@pytest.mark.parametrize("name,callee", [("divide", "fault_divide"),
                                         ("pf-rodata", "fault_pf_rodata"),
                                         ("gp-selector", "fault_gp_selector")])
def test_stack_trace_walks_to_start(panics, name, callee):
    p = panics[name]
    frames = trace(p)
    assert [s for _, s in frames] == [callee, "fault_inject", "kernel_main", "_start"], p.screen
    # Return addresses really are inside their functions (symbolised from the ELF).
    for addr, sym in frames[1:]:
        assert p.in_symbol(addr - 1, sym), (hex(addr), sym)
    p.both(r"^ end of stack$")


def test_stack_trace_through_bad_function_pointer(panics):
    p = panics["pf-nx"]
    names = [s for _, s in trace(p)]
    # RIP is in data; the caller comes from [RSP], marked '?' as a guess.
    assert names == ["fault_nx_code", "fault_pf_nx", "fault_inject", "kernel_main", "_start"]
    p.both(r"^ #1 0x[0-9a-f]{16} \? fault_pf_nx\+")


def test_stack_trace_stops_at_corrupt_frame_pointer(panics):
    p = panics["bad-rbp"]
    assert [s for _, s in trace(p)] == ["fault_bad_rbp", "fault_inject"]
    p.both(r"^ stopped: frame pointer 0xbadc0de0000 is outside the kernel stack$")
    p.both(r"RBP 00000badc0de0000")


def test_double_fault_runs_on_its_own_stack(panics):
    p = panics["stack-overflow"]
    guard = p.syms["kernel_stack_guard"][0]
    rsp = int(p.both(r"RSP 0x([0-9a-f]{16})  RFLAGS").group(1), 16)
    assert guard <= rsp < guard + 4096                   # the overflowed stack pointer
    frames = trace(p)
    assert len(frames) == 8 and all(s == "fault_stack_overflow" for _, s in frames)
    p.both(r"^ \.\.\. \(stopped after 8 frames\)$")
    # The kernel's own GDT with a TSS, and IST1 in vector 8's gate.
    assert re.search(r"TR =0028 .* TSS64", p.regs)
    assert p.idt_gate8[4] & 7 == 1
    assert re.search(r"CS =0018 .* CS64", p.regs)


def test_fault_while_panicking_prints_one_line_and_halts(panics):
    p = panics["nested"]
    p_lines = [l for l in p.serial.splitlines() if l.startswith(NESTED)]
    assert p_lines == [l for l in p_lines if l.startswith(
        "fault while panicking: vector 0 #DE at RIP 0x")] and len(p_lines) == 1
    assert " KERNEL PANIC: vector 6 #UD Invalid Opcode" in p.serial
    assert p.rows[0].startswith(" KERNEL PANIC: vector 6 #UD")
    assert p.rows[24].startswith(NESTED + " vector 0 #DE")
    rip = int(re.search(r"at RIP 0x([0-9a-f]{16})", p.rows[24]).group(1), 16)
    assert p.in_symbol(rip, "fault_divide")
    assert HALTED not in p.serial                        # the first panic did not go on
    assert "HLT=1" in p.regs
