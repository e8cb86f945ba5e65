"""Real-mode addressing and the interrupt vector table.

References: Intel SDM Vol. 3A §21.1.1 (real-mode address translation:
linear = segment * 16 + offset) and §21.1.4 (the IVT: 256 four-byte
far pointers at linear 0, offset word first, then segment word).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import DecodeError


def check16(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise DecodeError(f"{name} 0x{value:x} is not a 16-bit value")


def linear(segment: int, offset: int, a20: bool = True) -> int:
    """Linear address of segment:offset (up to 0x10ffef with A20 on).

    With ``a20=False`` the result wraps at 1 MiB like an 8086.
    """
    check16("segment", segment)
    check16("offset", offset)
    addr = (segment << 4) + offset
    return addr if a20 else addr & 0xFFFFF


def parse_segoff(text: str) -> tuple[int, int] | None:
    """``"1020:006c"`` / ``"0x1020:0x6c"`` -> (0x1020, 0x6c): both hexadecimal, as the
    disassembler's CS:IP comments print them (a ``0x`` prefix is optional). None if
    *text* has no colon (not SEG:OFF); DecodeError if it has one but is malformed."""
    if ":" not in text:
        return None
    parts = text.strip().split(":")
    if len(parts) != 2:
        raise DecodeError(f"'{text}' is not SEG:OFF (one colon)")
    values = []
    for name, part in zip(("segment", "offset"), parts):
        part = part.strip().lower()
        part = part[2:] if part.startswith("0x") else part
        try:
            value = int(part, 16)
        except ValueError:
            raise DecodeError(f"{name} '{part}' in '{text}' is not hexadecimal") from None
        check16(name, value)
        values.append(value)
    return values[0], values[1]


@dataclass(frozen=True)
class IvtEntry:
    """One IVT far pointer."""

    vector: int
    segment: int
    offset: int
    linear: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return f"{self.segment:04x}:{self.offset:04x}"


def decode_ivt(data: bytes) -> list[IvtEntry]:
    """Decode up to 256 IVT entries (4 bytes each: offset, then segment).

    ``len(data)`` must be a multiple of 4 and at most 1024, else DecodeError.
    """
    data = bytes(data)
    if len(data) % 4 or len(data) > 1024:
        raise DecodeError(f"IVT data must be a multiple of 4 bytes and at "
                          f"most 1024 bytes, got {len(data)}")
    out = []
    for vector in range(len(data) // 4):
        off = int.from_bytes(data[vector * 4:vector * 4 + 2], "little")
        seg = int.from_bytes(data[vector * 4 + 2:vector * 4 + 4], "little")
        out.append(IvtEntry(vector, seg, off, linear(seg, off)))
    return out
