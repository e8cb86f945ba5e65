"""Address -> symbol lookup from ELF32/ELF64 symbol tables (pure Python, no ``gdb``).

GDB's Python API can look a symbol up by name but not a *minimal* symbol
(an assembler label without DWARF) by address. The farjump stages are NASM
code whose labels exist only in ``.symtab``, so the workbench reads the
symbol tables of the ELF files GDB has loaded itself.

Only symbols defined in an allocated section (not ABS/UNDEF/COMMON, not
section/file symbols) are kept: NASM ``equ`` constants are ABS and would
otherwise shadow real addresses.
"""
from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

from .errors import DecodeError

_SHT_SYMTAB = 2
_SHF_ALLOC = 0x2
_SHF_EXECINSTR = 0x4
_STT_OBJECT = 1
_STT_SECTION, _STT_FILE = 3, 4
_SHN_UNDEF, _SHN_LORESERVE = 0, 0xFF00


@dataclass(frozen=True)
class ElfSymbol:
    addr: int
    size: int
    name: str
    kind: int        # STT_* value
    global_: bool
    section_start: int
    section_end: int
    section_exec: bool = False

    @property
    def code_data(self) -> bool:
        """Data with a size inside code (NASM ``global name:data size`` in an executable
        section): disassemblers show it as data, not as instructions."""
        return self.kind == _STT_OBJECT and self.size > 0 and self.section_exec

    @property
    def local_label(self) -> bool:
        """NASM local labels are named ``parent.label``."""
        return "." in self.name


def read_elf_symbols(data: bytes) -> list[ElfSymbol]:
    """Defined symbols of an ELF64 or ELF32 little-endian image (a 32-bit kernel,
    GRUB), sorted by address.

    Anything that is not a well-formed ELF file (truncated, offsets out of
    range) raises DecodeError."""
    data = bytes(data)
    if data[:4] != b"\x7fELF" or data[4:6] not in (b"\x02\x01", b"\x01\x01"):
        raise DecodeError("not a little-endian ELF32/ELF64 file")
    elf64 = data[4] == 2
    try:
        return _read_symbols(data, elf64)
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise DecodeError(f"malformed ELF{64 if elf64 else 32} file: {exc}") from None


def _read_symbols(data: bytes, elf64: bool = True) -> list[ElfSymbol]:
    if elf64:
        (shoff,) = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sh_fmt = "<IIQQQQIIQQ"
    else:
        (shoff,) = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
        sh_fmt = "<IIIIIIIIII"
    sections = []
    for i in range(shnum):
        sh = struct.unpack_from(sh_fmt, data, shoff + i * shentsize)
        sections.append(sh)
    out = []
    for sh in sections:
        if sh[1] != _SHT_SYMTAB:
            continue
        strtab = sections[sh[6]]
        str_off, str_size = strtab[4], strtab[5]
        off, size, entsize = sh[4], sh[5], sh[9] or (24 if elf64 else 16)
        for pos in range(off + entsize, off + size, entsize):   # entry 0 is null
            if elf64:
                st_name, st_info, _other, st_shndx, st_value, st_size = \
                    struct.unpack_from("<IBBHQQ", data, pos)
            else:
                st_name, st_value, st_size, st_info, _other, st_shndx = \
                    struct.unpack_from("<IIIBBH", data, pos)
            kind = st_info & 0xF
            if kind in (_STT_SECTION, _STT_FILE) or st_shndx == _SHN_UNDEF \
                    or st_shndx >= _SHN_LORESERVE or st_shndx >= len(sections):
                continue
            sec = sections[st_shndx]
            if not sec[2] & _SHF_ALLOC:
                continue
            end = data.index(b"\0", str_off + st_name, str_off + str_size)
            name = data[str_off + st_name:end].decode("utf-8", "replace")
            if not name:
                continue
            out.append(ElfSymbol(st_value, st_size, name, kind, st_info >> 4 == 1,
                                 sec[3], sec[3] + sec[5], bool(sec[2] & _SHF_EXECINSTR)))
    out.sort(key=lambda s: (s.addr, s.local_label, not s.global_, s.name))
    return out


class SymbolTable:
    """Sorted symbols of several ELF files; lookups by address and by name."""

    def __init__(self, symbols=()):
        self._syms = sorted(symbols, key=lambda s: (s.addr, s.local_label,
                                                     not s.global_, s.name))
        self._addrs = [s.addr for s in self._syms]
        self._by_name = {}
        for s in self._syms:
            self._by_name.setdefault(s.name, s)

    def __len__(self) -> int:
        return len(self._syms)

    def address_of(self, name: str) -> int | None:
        s = self._by_name.get(name)
        return None if s is None else s.addr

    def lookup(self, addr: int) -> ElfSymbol | None:
        """The nearest symbol at or below *addr* in the same section."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return None
        # several symbols can share an address: prefer global, non-local names
        best = self._syms[i]
        j = i
        while j > 0 and self._syms[j - 1].addr == best.addr:
            j -= 1
        cands = self._syms[j:i + 1]
        best = min(cands, key=lambda s: (s.local_label, not s.global_,
                                        s.name.startswith("__"), s.kind != 2, s.name))
        if not best.section_start <= addr < best.section_end:
            return None
        return best

    def code_data_at(self, addr: int) -> ElfSymbol | None:
        """The data object inside code (ElfSymbol.code_data) that holds *addr*, if any."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        while i >= 0 and addr - self._syms[i].addr < 0x1000:
            s = self._syms[i]
            if s.code_data and s.addr <= addr < s.addr + s.size:
                return s
            i -= 1
        return None

    def symbolize(self, addr: int) -> str | None:
        """'name' or 'name+0x1f' for *addr*, or None."""
        s = self.lookup(addr)
        if s is None:
            return None
        off = addr - s.addr
        return s.name if off == 0 else f"{s.name}+0x{off:x}"

    def function_start(self, addr: int) -> ElfSymbol | None:
        """The nearest non-local label at or below *addr* (NASM ``.x`` labels
        belong to the label before them)."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        while i >= 0:
            s = self._syms[i]
            if not s.section_start <= addr < s.section_end:
                return None
            if not s.local_label:
                return s
            i -= 1
        return None
