"""Pure decoders for x86 architectural structures.

Every module here takes bytes/ints and returns frozen dataclasses; none of
them imports ``gdb``, does I/O or formats text (that is :mod:`fjgdb.render`).
Facts shared with the C side (boot_info and timeline events, the exception
table, page-table bits) come from the generated ``farjump_contracts``.
Also here: ELF symbol tables (elfsyms), the stack depth of 16/32-bit code
(stackscan) and :class:`snapshot.CpuSnapshot`, the CPU at one stop.
Bad input raises :class:`errors.DecodeError`.
"""

from .errors import DecodeError, FontError, NonCanonicalError

__all__ = ["DecodeError", "FontError", "NonCanonicalError"]
