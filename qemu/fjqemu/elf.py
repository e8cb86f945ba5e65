"""The one host-side ELF reader: pyelftools (Debian python3-pyelftools) behind a small,
typed view of what farjump's host tools need (header, program headers, sections, symbols).

    elf = Elf.read("build/kernel.elf")
    elf.entry, elf.segments, elf.section(".ksymtab"), elf.symbols()

Errors are ElfError (a ValueError) with a one-line message, never a pyelftools traceback.
EHDR and PHDR are the ELF64 little-endian header layouts, for tools that write ELF files
(pyelftools only reads).
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")   # ELF64 header (System V gABI)
PHDR = struct.Struct("<IIQQQQQQ")           # ELF64 program header
PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4


class ElfError(ValueError):
    """Not an ELF64 file farjump can use, or a damaged one."""


@dataclass(frozen=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


@dataclass(frozen=True)
class Section:
    name: str
    type: str
    addr: int
    offset: int
    size: int


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int
    type: str       # STT_FUNC, STT_OBJECT, ...
    bind: str       # STB_GLOBAL, STB_LOCAL, STB_WEAK
    section: str    # section name, or SHN_UNDEF / SHN_ABS


@dataclass(frozen=True)
class Elf:
    data: bytes
    ident: bytes
    type: int
    machine: int
    version: int
    entry: int
    flags: int
    segments: tuple[Segment, ...]
    sections: tuple[Section, ...]

    @classmethod
    def read(cls, path) -> "Elf":
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ElfError(f"{path}: {e.strerror}") from None
        try:
            return cls.parse(data)
        except ElfError as e:
            raise ElfError(f"{path}: {e}") from None

    @classmethod
    def parse(cls, data: bytes) -> "Elf":
        if data[:4] != b"\x7fELF" or len(data) < EHDR.size or data[4] != 2 or data[5] != 1:
            raise ElfError("not a little-endian ELF64 file")
        # The two fixed-layout headers are read as numbers (pyelftools names the enum
        # values it knows, and farjump's messages want the numbers); the sections, their
        # names and the symbol table through pyelftools.
        try:
            (ident, etype, machine, version, entry, phoff, _shoff, flags, _ehsize, phentsize,
             phnum, _shentsize, _shnum, _shstrndx) = EHDR.unpack_from(data, 0)
            if phnum and phentsize != PHDR.size:
                raise ElfError(f"program headers of {phentsize} bytes, not {PHDR.size}")
            segments = tuple(Segment(*PHDR.unpack_from(data, phoff + i * PHDR.size))
                             for i in range(phnum))
            f = ELFFile(io.BytesIO(data))
            sections = tuple(Section(s.name, s["sh_type"], s["sh_addr"], s["sh_offset"],
                                     s["sh_size"]) for s in f.iter_sections())
        except (ELFError, struct.error, ValueError, KeyError) as e:
            raise ElfError(f"damaged ELF file ({e})") from None
        return cls(data=data, ident=ident, type=etype, machine=machine, version=version,
                   entry=entry, flags=flags, segments=segments, sections=sections)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_bytes(self, name: str) -> bytes:
        s = self.section(name)
        if s is None:
            raise ElfError(f"no {name} section")
        return self.data[s.offset:s.offset + s.size]

    def symbols(self) -> list[Symbol]:
        """Every .symtab symbol (none for a stripped file)."""
        f = ELFFile(io.BytesIO(self.data))
        tab = f.get_section_by_name(".symtab")
        if tab is None:
            return []
        names = {i: s.name for i, s in enumerate(f.iter_sections())}
        out = []
        for sym in tab.iter_symbols():
            ndx = sym["st_shndx"]
            out.append(Symbol(sym.name, sym["st_value"], sym["st_size"],
                              sym["st_info"]["type"], sym["st_info"]["bind"],
                              names.get(ndx, ndx) if isinstance(ndx, int) else ndx))
        return out
