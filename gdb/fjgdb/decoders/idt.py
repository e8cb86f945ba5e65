"""IDT gate descriptors.

References (Intel SDM Vol. 3A):
  * §6.11   IDT Descriptors (Figure 6-2: task, interrupt and trap gates)
  * §6.14.1 64-Bit Mode IDT (Figure 6-8: 16-byte gates with IST)
  * §3.5    System Descriptor Types (Table 3-2)

Legacy 8-byte gate, as a little-endian integer: offset 15:0 in bits 0..15,
selector 16..31, type 40..43, S=0 bit 44, DPL 45..46, P 47, offset 31:16 in
bits 48..63. The 16-byte IA-32e gate adds IST in bits 32..34 and offset
63:32 in bits 64..95; bits 96..127 are reserved.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from farjump_contracts import ERROR_CODE_VECTORS, EXCEPTIONS as _EXCEPTIONS

from .errors import DecodeError

# type bits -> (gate_type, bits); legacy (Table 3-2, 32-bit column)
_LEGACY = {0x4: ("call", 16), 0x5: ("task", 0), 0x6: ("interrupt", 16),
           0x7: ("trap", 16), 0xC: ("call", 32), 0xE: ("interrupt", 32),
           0xF: ("trap", 32)}
# IA-32e mode: only 64-bit interrupt/trap (and call) gates exist.
_IA32E = {0xC: ("call", 64), 0xE: ("interrupt", 64), 0xF: ("trap", 64)}


@dataclass(frozen=True)
class Gate:
    """One IDT entry.

    ``gate_type`` is "interrupt", "trap", "task", "call", "reserved" (an
    invalid type, or S=1) or "empty" (all bytes zero). ``bits`` is 16, 32 or
    64, and 0 where it does not apply (task gates, reserved, empty).
    ``offset`` is 0 for task gates (the selector names a TSS). ``ist`` is
    always 0 outside long mode. ``raw`` is the whole descriptor as an
    integer (64 or 128 bits). ``note`` reports non-zero reserved bits.
    """

    vector: int
    selector: int
    offset: int
    gate_type: str
    bits: int
    ist: int
    dpl: int
    present: bool
    raw: int
    type_bits: int = 0
    note: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def decode_gate(raw: bytes, vector: int, long_mode: bool) -> Gate:
    """Decode one IDT gate: 16 bytes in long mode, 8 bytes otherwise.

    Wrong length raises DecodeError; invalid types decode as "reserved"
    and non-zero reserved bits are reported in ``note`` (a broken entry is
    exactly what one wants to see while debugging, not an exception).
    """
    raw = bytes(raw)
    want = 16 if long_mode else 8
    if len(raw) != want:
        raise DecodeError(f"IDT gate must be {want} bytes in "
                          f"{'long' if long_mode else 'legacy'} mode, "
                          f"got {len(raw)}")
    if not 0 <= vector <= 255:
        raise DecodeError(f"vector {vector} out of range 0..255")
    value = int.from_bytes(raw, "little")
    if value == 0:
        return Gate(vector, 0, 0, "empty", 0, 0, 0, False, 0)
    lo = value & (2**64 - 1)
    type_bits = lo >> 40 & 0xF
    system = not lo >> 44 & 1
    table = _IA32E if long_mode else _LEGACY
    gate_type, bits = table.get(type_bits, ("reserved", 0)) if system \
        else ("reserved", 0)
    offset = (lo & 0xFFFF) | ((lo >> 48 & 0xFFFF) << 16)
    ist = 0
    notes = []
    if long_mode:
        offset |= (value >> 64 & 0xFFFFFFFF) << 32
        ist = lo >> 32 & 0x7
        if lo >> 35 & 0x1F:
            notes.append(f"reserved bits 39:35 = 0x{lo >> 35 & 0x1F:x}")
        if value >> 96:
            notes.append(f"reserved upper dword = 0x{value >> 96:x}")
    elif gate_type in ("interrupt", "trap") and lo >> 37 & 0x7:
        notes.append(f"bits 39:37 must be zero, got 0x{lo >> 37 & 7:x}")
    if gate_type == "task":
        offset = 0
    if not system:
        notes.append("S bit set: not a system descriptor")
    return Gate(vector=vector, selector=lo >> 16 & 0xFFFF, offset=offset,
                gate_type=gate_type, bits=bits, ist=ist, dpl=lo >> 45 & 3,
                present=bool(lo >> 47 & 1), raw=value, type_bits=type_bits,
                note="; ".join(notes) or None)


@dataclass(frozen=True)
class GateTable:
    """A decoded IDT: base/limit as in IDTR, one Gate per whole entry."""

    base: int
    limit: int
    gates: list[Gate]
    long_mode: bool = False

    def to_dict(self) -> dict:
        return {"base": self.base, "limit": self.limit,
                "long_mode": self.long_mode,
                "gates": [g.to_dict() for g in self.gates]}


def decode_idt(table: bytes, base: int, limit: int,
               long_mode: bool) -> GateTable:
    """Decode an IDT image (IDTR.limit = *limit*).

    *table* must hold at least limit+1 bytes, else DecodeError. Only whole
    entries (16 or 8 bytes) are decoded, at most 256; a partial tail is
    ignored.
    """
    table = bytes(table)
    if not 0 <= limit <= 0xFFFF:
        raise DecodeError(f"IDT limit 0x{limit:x} out of range")
    if len(table) < limit + 1:
        raise DecodeError(f"IDT limit 0x{limit:x} needs {limit + 1} bytes, "
                          f"got {len(table)}")
    size = 16 if long_mode else 8
    count = min((limit + 1) // size, 256)
    gates = [decode_gate(table[i * size:(i + 1) * size], i, long_mode)
             for i in range(count)]
    return GateTable(base=base, limit=limit, gates=gates, long_mode=long_mode)


@dataclass(frozen=True)
class ExceptionInfo:
    """An architectural exception vector (SDM Vol. 3A Table 6-1), from the one table in
    the generated ``farjump_contracts``. ``mnemonic`` is without '#' ("DE", "NMI"), empty
    for reserved vectors."""

    vector: int
    mnemonic: str
    name: str
    has_error_code: bool


EXCEPTIONS = tuple(ExceptionInfo(v, m, n, bool(e)) for v, m, n, e in _EXCEPTIONS)
__all__ = ["ERROR_CODE_VECTORS", "EXCEPTIONS", "ExceptionInfo", "Gate", "GateTable",
           "decode_gate", "decode_idt", "exception_info"]


def exception_info(vector: int) -> ExceptionInfo | None:
    """The exception at *vector* (0..31), None for any other vector."""
    return EXCEPTIONS[vector] if 0 <= vector < len(EXCEPTIONS) else None
