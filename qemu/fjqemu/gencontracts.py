"""Turn the markers of `gcc -S contracts/gen.c` into build/gen/ files.

    python3 -m fjqemu.gencontracts GEN.s --outdir build/gen

writes contracts.inc (NASM equs and strucs), layout.ld (ld symbols for the link scripts)
and farjump_contracts.py (the same facts for the host tools, the tests and GDB). The C
headers in contracts/ are the one definition; contracts/gen.c lists what is exported and
explains the marker format. Each file is written through a temporary and a rename, and
only when its text changes, so an unchanged contract rebuilds nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

MASK64 = (1 << 64) - 1


class ContractError(Exception):
    """The markers are inconsistent (a struct with a hole, a missing vector ...)."""


@dataclass
class Contracts:
    layout: dict[str, int] = field(default_factory=dict)
    consts: dict[str, int] = field(default_factory=dict)
    magics: dict[str, tuple[int, int]] = field(default_factory=dict)   # name: (value, size)
    structs: dict[str, tuple[int, list[tuple[str, int, int]]]] = field(default_factory=dict)
    exceptions: list[tuple[int, str, str, bool]] = field(default_factory=list)
    timeline: list[tuple[int, str, str, str]] = field(default_factory=list)


def _int(text: str) -> int:
    """A constant as GCC prints it in AT&T syntax ($-2147483648), as an unsigned 64-bit."""
    return int(text.lstrip("$")) & MASK64


def parse(asm: str) -> Contracts:
    c = Contracts()
    for line in asm.splitlines():
        line = line.strip()
        if not line.startswith("->"):
            continue
        kind, *f = line[2:].split("\t")
        if kind == "LAYOUT":
            c.layout[f[0]] = _int(f[1])
        elif kind == "CONST":
            c.consts[f[0]] = _int(f[1])
        elif kind == "BYTES":
            c.magics[f[0]] = (_int(f[1]), _int(f[2]))
        elif kind == "STRUCT":
            c.structs[f[0]] = (_int(f[1]), [])
        elif kind == "FIELD":
            c.structs[f[0]][1].append((f[1], _int(f[2]), _int(f[3])))
        elif kind == "EXC":
            c.exceptions.append((_int(f[0]), f[2], f[3], bool(_int(f[1]))))
        elif kind == "TL":
            c.timeline.append((_int(f[0]), f[1], f[2], f[3] if len(f) > 3 else ""))
        else:
            raise ContractError(f"unknown marker {kind!r}")
    check(c)
    return c


def check(c: Contracts) -> None:
    """What the C compiler cannot check for us: gen.c lists every field, in order."""
    for name, (size, fields) in c.structs.items():
        at = 0
        for fname, off, fsize in fields:
            if off != at:
                raise ContractError(f"struct {name}: field {fname} at {off}, expected {at} "
                                    "(contracts/gen.c misses a field?)")
            at = off + fsize
        if at != size:
            raise ContractError(f"struct {name}: fields end at {at}, sizeof is {size} "
                                "(contracts/gen.c misses a field?)")
    if [e[0] for e in c.exceptions] != list(range(32)):
        raise ContractError("EXCEPTION_TABLE must list vectors 0..31 in order")
    if [t[0] for t in c.timeline] != list(range(len(c.timeline))):
        raise ContractError("TIMELINE_TABLE must list events 0, 1, 2 ... in order")
    if c.consts["EXCEPTION_ERROR_CODES"] != error_code_mask(c):
        raise ContractError("EXCEPTION_ERROR_CODES disagrees with EXCEPTION_TABLE")
    if len(c.timeline) > c.consts["BOOTINFO_TIMELINE_MAX"]:
        raise ContractError("more timeline events than BOOTINFO_TIMELINE_MAX")


def error_code_mask(c: Contracts) -> int:
    return sum(1 << v for v, _, _, ec in c.exceptions if ec)


def nasm(c: Contracts) -> str:
    # %define, not equ: an equ becomes an absolute symbol in every object (and then in the
    # ELF files GDB and Bochs read), which the constants are not.
    out = ["; Generated from contracts/*.h by qemu/fjqemu/gencontracts.py: do not edit.", ""]
    out.append("; Memory layout (contracts/layout.h)")
    out += [f"%define {k:<24} 0x{v:x}" for k, v in c.layout.items()]
    out += ["", "; Magic numbers, as the bytes read in memory order"]
    out += [f"%define {k:<24} 0x{v:x}" for k, (v, _) in c.magics.items()]
    out += ["", "; Constants"]
    out += [f"%define {k:<24} 0x{v:x}" for k, v in c.consts.items()]
    out += [f"%define {t[1]:<24} {t[0]}" for t in c.timeline]
    for name, (size, fields) in c.structs.items():
        out += ["", f"struc {name}"]
        out += [f"  .{fname + ':':<22} resb {fsize}" for fname, _, fsize in fields]
        out.append("endstruc")
    return "\n".join(out) + "\n"


def ld(c: Contracts) -> str:
    out = ["/* Generated from contracts/layout.h by qemu/fjqemu/gencontracts.py: do not edit. */"]
    out += [f"{k} = 0x{v:x};" for k, v in c.layout.items()]
    return "\n".join(out) + "\n"


def python(c: Contracts) -> str:
    def fields(name):
        return "(\n" + "".join(f"    ({f!r}, {o}, {s}),\n" for f, o, s in c.structs[name][1]) + ")"

    def magic(name):
        value, size = c.magics[name]
        return repr(value.to_bytes(size, "little"))

    out = ['"""farjump\'s contracts for host code: generated from contracts/*.h by',
           'qemu/fjqemu/gencontracts.py at build time. Do not edit; change the headers."""', ""]
    out += ["# Memory layout (contracts/layout.h)"]
    out += [f"{k} = 0x{v:x}" for k, v in c.layout.items()]
    out += ["BOOT_LAYOUT_MBR_OFFSET = 0x%x  # BOOT_LAYOUT - STAGE1_ADDR"
            % (c.layout["BOOT_LAYOUT"] - c.layout["STAGE1_ADDR"]), ""]
    out += ["# The MBR's boot_layout table (contracts/boot_layout.h)",
            f"LAYOUT_MAGIC = {magic('LAYOUT_MAGIC')}",
            f"STAGE2_MAGIC = {magic('STAGE2_MAGIC')}",
            f"STAGE2_MAGIC_OFFSET = {c.consts['STAGE2_MAGIC_OFFSET']}",
            f"BOOT_LAYOUT_SIZE = {c.structs['boot_layout'][0]}",
            "# (name, offset, size) in order",
            f"BOOT_LAYOUT_FIELDS = {fields('boot_layout')}",
            "# the head of stage 2: entry jump, magic, CRC-32s (contracts/boot_layout.h)",
            f"STAGE2_HEADER_SIZE = {c.structs['stage2_header'][0]}",
            f"STAGE2_HEADER_FIELDS = {fields('stage2_header')}", ""]
    out += ["# struct boot_info (contracts/bootinfo.h)"]
    for k in ("BOOTINFO_MAGIC", "BOOTINFO_E820_MAX", "BOOTINFO_TIMELINE_MAX",
              "E820_ENTRY_SIZE", "A20_ALREADY", "A20_BIOS", "A20_KBC", "A20_FAST"):
        out.append(f"{k} = 0x{c.consts[k]:x}" if k == "BOOTINFO_MAGIC" else f"{k} = {c.consts[k]}")
    out += [f"BOOTINFO_SIZE = 0x{c.structs['boot_info'][0]:x}",
            f"BOOTINFO_FIELDS = {fields('boot_info')}",
            "# (index, enum name, what happens between the previous event and this one)",
            "TIMELINE_EVENTS = (\n" + "".join(f"    ({i}, {n!r}, {t!r}),\n"
                                             for i, n, _, t in c.timeline) + ")",
            "# the short names the kernel and `fj timeline` print, in index order",
            "TIMELINE_NAMES = (" + "".join(f"{s!r}, " for _, _, s, _ in c.timeline) + ")",
            ""]
    out += ["# CPU exceptions (contracts/exceptions.h): (vector, mnemonic without '#',",
            "# name, pushes an error code); reserved vectors have the mnemonic '-'",
            "EXCEPTIONS = (\n" + "".join(f"    ({v}, {m.lstrip('#')!r}, {n!r}, {ec}),\n"
                                        for v, m, n, ec in c.exceptions) + ")",
            "# the mnemonics as the SDM and the panic screen write them ('#PF', 'NMI', '-')",
            "EXCEPTION_MNEMONICS = (" + "".join(f"{m!r}, " for _, m, _, _ in c.exceptions) + ")",
            "ERROR_CODE_VECTORS = frozenset({" + ", ".join(
                str(v) for v, _, _, ec in c.exceptions if ec) + "})", ""]
    out += ["# Paging (contracts/paging.h) and GDT selectors (contracts/selectors.h)"]
    out += [f"{k} = 0x{v:x}" for k, v in c.consts.items() if k.startswith(("PTE_", "PAGE_", "LARGE_PAGE"))]
    out += [f"{k} = 0x{v:x}" for k, v in c.consts.items() if k.startswith("SEL_")]
    out += ["", "# Boot paths, framebuffer formats (contracts/bootinfo.h) and Multiboot (contracts/multiboot.h)"]
    out += [f"{k} = 0x{v:x}" for k, v in c.consts.items()
            if k.startswith(("BOOT_PATH_", "MB1_", "MB2_", "FB_"))]
    out += ["", "# The kernel's symbol table (contracts/ksymtab.h)",
            f"KSYMTAB_MAGIC = {magic('KSYMTAB_MAGIC')}",
            f"KSYMTAB_SIZE = {c.consts['KSYMTAB_SIZE']}",
            f"KSYM_HEADER_SIZE = {c.structs['ksym_header'][0]}",
            f"KSYM_HEADER_FIELDS = {fields('ksym_header')}",
            f"KSYM_ENTRY_SIZE = {c.structs['ksym'][0]}",
            f"KSYM_ENTRY_FIELDS = {fields('ksym')}", ""]
    out += ["# Starting the other CPUs (contracts/smp.h; AP_TRAMPOLINE etc. are above)"]
    out += [f"{k} = 0x{v:x}" for k, v in c.consts.items() if k.startswith("AP_")]
    out += [f"AP_PARAMS_SIZE = {c.structs['ap_params'][0]}",
            f"AP_PARAMS_FIELDS = {fields('ap_params')}"]
    return "\n".join(out) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("asm", help="gcc -S output of contracts/gen.c")
    ap.add_argument("--outdir", required=True, help="directory to write (build/gen)")
    args = ap.parse_args(argv)
    try:
        c = parse(Path(args.asm).read_text())
        out = Path(args.outdir)
        out.mkdir(parents=True, exist_ok=True)
        write_if_changed(out / "contracts.inc", nasm(c))
        write_if_changed(out / "layout.ld", ld(c))
        write_if_changed(out / "farjump_contracts.py", python(c))
    except (OSError, ContractError, KeyError) as e:
        print(f"gencontracts: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
