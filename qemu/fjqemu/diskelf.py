"""Write the kernel ELF that goes on the disk: only what the loader reads, packed.

    python3 -m fjqemu.diskelf build/kernel.elf -o build/kernel.disk.elf

Stage 2 reads the whole file with the BIOS (SeaBIOS reads each sector with PIO, about
60 us per sector under QEMU TCG: docs/performance.md), and the loader (boot/loader.c) uses
only the ELF header, the program headers and each PT_LOAD segment's file bytes. So the
output has exactly those: the ELF header, the program headers right after it, then the
segments back to back (8-byte aligned), each without its trailing zero bytes: p_filesz
shrinks, p_memsz stays, and the loader zero-fills the rest as it does for .bss (the unused
tail of the fixed-size .ksymtab reservation is most of what this drops). No section
headers, no .symtab, no DWARF, no 4 KiB file-offset padding: addresses, sizes in memory,
flags and the entry point are unchanged, so the loaded image is byte for byte the same.
GDB reads the symbols from build/kernel.elf.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from .elf import EHDR, PHDR, PT_LOAD, Elf, ElfError
from .image import write_atomically


def pack(data: bytes) -> bytes:
    elf = Elf.parse(data)
    if not elf.segments:
        raise ElfError("no program headers")
    offset = EHDR.size + len(elf.segments) * PHDR.size
    body = bytearray()
    phdrs = []
    for ph in elf.segments:
        if ph.type != PT_LOAD:
            phdrs.append(dataclasses.replace(ph, offset=0, filesz=0))  # not loaded: not in the file
            continue
        if ph.offset + ph.filesz > len(data):
            raise ElfError(f"segment at file offset 0x{ph.offset:x} runs past the end of the file")
        seg = data[ph.offset:ph.offset + ph.filesz].rstrip(b"\0")
        body += b"\0" * (-(offset + len(body)) % 8)
        phdrs.append(dataclasses.replace(ph, offset=offset + len(body) if seg else 0,
                                         filesz=len(seg)))
        body += seg
    header = EHDR.pack(elf.ident, elf.type, elf.machine, elf.version, elf.entry, EHDR.size, 0,
                       elf.flags, EHDR.size, PHDR.size, len(phdrs), 0, 0, 0)
    return header + b"".join(PHDR.pack(*dataclasses.astuple(ph)) for ph in phdrs) + bytes(body)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fjqemu.diskelf",
                                 description="Pack a kernel ELF for the disk: ELF header, "
                                 "program headers and PT_LOAD bytes only (see the source).")
    ap.add_argument("elf", help="the linked kernel (build/kernel.elf)")
    ap.add_argument("-o", "--output", required=True, help="the packed file")
    args = ap.parse_args(argv)
    try:
        write_atomically(args.output, pack(Elf.read(args.elf).data))
    except (OSError, ElfError) as e:
        print(f"diskelf: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
