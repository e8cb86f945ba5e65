"""Target access: the ONLY code that talks to GDB's target and to QEMU.

connection (is there a gdbstub, the monitor, packets), memory (linear, physical,
page tables), symbols (ELF tables, GDB expressions), state (:data:`STATE`: the per-stop
cache and its invalidation, building the one :class:`CpuSnapshot` per stop),
code (next instructions), run (continue with a timeout, reset, breakpoints).
"""
from .errors import FjError, NotConnected
from ..decoders.snapshot import CpuSnapshot

__all__ = ["CpuSnapshot", "FjError", "NotConnected"]
