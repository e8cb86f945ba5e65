"""Symbols: the ELF symbol tables of the files GDB has loaded, and GDB expressions.

GDB's Python API finds a symbol by name but not a minimal symbol (a NASM label without
DWARF) by address, so the symbol tables are read from the ELF files themselves
(:mod:`fjgdb.decoders.elfsyms`), once, until the objfiles change.
"""
from __future__ import annotations

import os

import gdb

from ..decoders.elfsyms import SymbolTable, read_elf_symbols
from ..decoders.errors import DecodeError
from .errors import FjError


class Symbols:
    """Mixed into :class:`fjgdb.target.state.State`."""

    symbols_generation = 0      # bumped whenever the symbol files change

    def forget_symbols(self, *_args) -> None:
        self._symbols = None
        self.symbols_generation += 1

    def symbols(self) -> SymbolTable:
        if self._symbols is None:
            syms = []
            seen = set()
            for objfile in gdb.objfiles():
                path = objfile.filename
                if not path or path in seen or not os.path.isfile(path):
                    continue
                seen.add(path)
                try:
                    with open(path, "rb") as f:
                        syms += read_elf_symbols(f.read())
                except (OSError, DecodeError, ValueError, IndexError):
                    continue
            self._symbols = SymbolTable(syms)
        return self._symbols

    def symbolize(self, addr: int) -> str | None:
        return self.symbols().symbolize(addr)

    def resolve(self, name: str) -> int | None:
        """Address of a symbol: the ELF tables first, then GDB's own lookup."""
        addr = self.symbols().address_of(name)
        if addr is not None:
            return addr
        try:
            return int(gdb.parse_and_eval(f"&{name}").cast(
                gdb.lookup_type("unsigned long")))
        except gdb.error:
            return None

    @staticmethod
    def _eval(expr: str):
        try:
            v = gdb.parse_and_eval(expr)
        except gdb.error as e:
            raise FjError(f"cannot evaluate '{expr}': {e}")
        code = v.type.strip_typedefs().code
        if code in (gdb.TYPE_CODE_FLT, getattr(gdb, "TYPE_CODE_DECFLOAT", -1)):
            raise FjError(f"'{expr}' is not an integer")
        return v, code

    def eval_int(self, expr: str) -> int:
        """A GDB expression as a (signed) integer, e.g. a vector number."""
        v, _code = self._eval(expr)
        try:
            return int(v)
        except (gdb.error, TypeError, ValueError) as e:
            raise FjError(f"'{expr}' is not an integer: {e}")

    def eval_address(self, expr: str) -> int:
        """A GDB expression as an address (``&kernel_main``, ``$pc``, ``kernel_main``,
        0x...); a negative integer is taken modulo 2^64."""
        v, code = self._eval(expr)
        if code in (gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_ARRAY):
            v = v.address
        try:
            return int(v) & 0xFFFFFFFFFFFFFFFF
        except (gdb.error, TypeError, ValueError):
            try:
                return int(v.cast(gdb.lookup_type("unsigned long"))) & 0xFFFFFFFFFFFFFFFF
            except gdb.error as e:
                raise FjError(f"'{expr}' is not an address: {e}")
