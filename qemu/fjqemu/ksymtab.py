"""Generate (or check) the kernel's own symbol table for the .ksymtab section.

    python3 -m fjqemu.ksymtab KERNEL.elf -o TABLE.bin
        Write the table for KERNEL.elf's symbols (`nm -n -S`), padded to exactly the
        size of its .ksymtab section, for `objcopy --update-section .ksymtab=TABLE.bin`.
    python3 -m fjqemu.ksymtab --check FINAL.elf --against LINKED.elf
        Verify that FINAL.elf's symbols are LINKED.elf's (the update moved nothing) and
        that the table inside FINAL.elf is the one its own symbols give.

The table layout is contracts/ksymtab.h (read by kernel/symbols.c): a header
{magic "FJSY", count, strings offset, bytes used}, count entries {address, size, name
offset} sorted by address, then the NUL-terminated names; sizes and field order come from
farjump_contracts.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import farjump_contracts as fc

from .elf import Elf, ElfError
from .image import write_atomically

# nm types kept: text, read-only data, data, bss (global and local), and weak definitions
# (the kernel's test hooks). Absolute symbols (KERNEL_VMA...) are not addresses in the
# image; debug and file symbols are not code.
KEPT_TYPES = set("TtRrDdBbWV")
NM = os.environ.get("NM", "nm")


class KsymtabError(Exception):
    pass


def symbols(path) -> list[tuple[int, int, str]]:
    """[(address, size, name)] sorted by address, one name per address."""
    try:
        out = subprocess.run([NM, "-n", "-S", "--defined-only", str(path)], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise KsymtabError(f"{path}: nm failed: {getattr(e, 'stderr', '') or e}".strip()) from None
    by_addr = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            addr, size, typ, name = int(parts[0], 16), int(parts[1], 16), parts[2], parts[3]
        elif len(parts) == 3:
            addr, size, typ, name = int(parts[0], 16), 0, parts[1], parts[2]
        else:
            continue
        if typ not in KEPT_TYPES:
            continue
        # Several names at one address (a linker-script marker such as __kernel_start
        # beside _start): keep the sized one, then a name without the __ prefix.
        rank = (size > 0, not name.startswith("__"))
        old = by_addr.get(addr)
        if old is None or rank > old[0]:
            by_addr[addr] = (rank, size, name)
    # NASM local labels (`_start.halt`) come out as symbols of their own; as names in
    # a trace they only hide the function, so fold them into their parent.
    names = {n for _, _, n in by_addr.values()}
    return [(a, s, n) for a, (_, s, n) in sorted(by_addr.items())
            if not (s == 0 and "." in n and n.split(".")[0] in names)]


def _pack(fields, **values) -> bytes:
    out = bytearray()
    for name, _offset, size in fields:
        out += values[name].to_bytes(size, "little") if isinstance(values[name], int) \
            else values[name]
    return bytes(out)


def table(syms, capacity: int) -> bytes:
    names = bytearray()
    strings = fc.KSYM_HEADER_SIZE + fc.KSYM_ENTRY_SIZE * len(syms)
    entries = bytearray()
    for addr, size, name in syms:
        if size >= 1 << 32:
            raise KsymtabError(f"symbol {name} is {size} bytes: too big for the u32 size field")
        entries += _pack(fc.KSYM_ENTRY_FIELDS, address=addr, size=size,
                         name=strings + len(names))
        names += name.encode() + b"\0"
    used = strings + len(names)
    if used > capacity:
        raise KsymtabError(f"table needs {used} bytes but .ksymtab has {capacity}: raise "
                           "KSYMTAB_SIZE in contracts/ksymtab.h")
    header = _pack(fc.KSYM_HEADER_FIELDS, magic=fc.KSYMTAB_MAGIC, count=len(syms),
                   strings=strings, used=used)
    return (header + entries + names).ljust(capacity, b"\0")


def ksymtab_section(path):
    elf = Elf.read(path)
    if elf.section(".ksymtab") is None:
        raise KsymtabError(f"{path}: no .ksymtab section (is kernel/ksymtab.asm linked in?)")
    return elf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fjqemu.ksymtab",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("elf")
    ap.add_argument("-o", "--output")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--against")
    args = ap.parse_args(argv)
    if not args.check and not args.output:
        ap.error("-o is required unless --check")
    try:
        elf = ksymtab_section(args.elf)
        size = elf.section(".ksymtab").size
        if args.check:
            if args.against and symbols(args.against) != symbols(args.elf):
                raise KsymtabError(f"{args.elf}: symbols differ from {args.against}: filling "
                                   ".ksymtab moved something")
            if elf.section_bytes(".ksymtab") != table(symbols(args.elf), size):
                raise KsymtabError(f"{args.elf}: the embedded table does not match the ELF's "
                                   "own symbols")
            return 0
        write_atomically(args.output, table(symbols(args.elf), size))
    except (OSError, ElfError, KsymtabError) as e:
        print(f"ksymtab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
