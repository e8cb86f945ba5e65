"""Segment descriptors, the GDT and cached segment registers.

References (Intel SDM Vol. 3A):
  * §3.4.5   Segment Descriptors (Figure 3-8: the 8-byte layout)
  * §3.4.5.1 Code- and Data-Segment Descriptor Types (Table 3-1)
  * §3.5     System Descriptor Types (Table 3-2)
  * §7.2.3   TSS Descriptor in 64-bit mode (Figure 7-4: 16-byte layout)
  * §5.8.3.1 IA-32e Mode Call Gates (16-byte layout)

8-byte descriptor, as a little-endian 64-bit integer::

    bits  0..15  limit 15:0          bits 40..43  type
    bits 16..39  base 23:0           bit  44      S (1 = code/data)
    bits 45..46  DPL                 bit  47      P
    bits 48..51  limit 19:16         bit  52      AVL
    bit  53      L (64-bit code)     bit  54      D/B
    bit  55      G (4 KiB units)     bits 56..63  base 31:24

In IA-32e mode LDT, TSS and call-gate descriptors are 16 bytes: the upper
8 bytes hold base (or offset) 63:32 in bits 0..31, and bits 8..12 of the
upper dword at +12 (bits 40..44 of the upper quadword) must be zero.

Why over 400 lines: GDT descriptors and the cached segment registers (SegmentCache) decode
the same type/attribute bits with the same tables; one module keeps them in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import DecodeError

# Table 3-2, indexed by the 4-bit type of a system (S=0) descriptor.
_SYSTEM_TYPES_LEGACY = (
    "reserved", "16-bit TSS (available)", "LDT", "16-bit TSS (busy)",
    "16-bit call gate", "task gate", "16-bit interrupt gate",
    "16-bit trap gate", "reserved", "32-bit TSS (available)", "reserved",
    "32-bit TSS (busy)", "32-bit call gate", "reserved",
    "32-bit interrupt gate", "32-bit trap gate",
)
_SYSTEM_TYPES_IA32E = (
    "reserved (upper 8 bytes of a 16-byte descriptor)", "reserved", "LDT",
    "reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
    "64-bit TSS (available)", "reserved", "64-bit TSS (busy)",
    "64-bit call gate", "reserved", "64-bit interrupt gate",
    "64-bit trap gate",
)
#: System types that occupy 16 bytes (two GDT slots) in IA-32e mode.
WIDE_SYSTEM_TYPES = frozenset({0x2, 0x9, 0xB, 0xC})


def system_type_name(type_bits: int, long_mode: bool) -> str:
    """Name of a system-descriptor type (SDM Vol. 3A Table 3-2)."""
    table = _SYSTEM_TYPES_IA32E if long_mode else _SYSTEM_TYPES_LEGACY
    return table[type_bits & 0xF]


def code_data_type_name(type_bits: int) -> str:
    """Name of a code/data type (SDM Vol. 3A Table 3-1), accessed bit omitted."""
    if type_bits & 0x8:
        name = "code, execute/read" if type_bits & 0x2 else "code, execute-only"
        if type_bits & 0x4:
            name += ", conforming"
    else:
        name = "data, read/write" if type_bits & 0x2 else "data, read-only"
        if type_bits & 0x4:
            name += ", expand-down"
    return name


def _code_data_attrs(type_bits: int) -> dict:
    """accessed/readable/writable/conforming/expand_down for S=1 types."""
    code = bool(type_bits & 0x8)
    return {
        "accessed": bool(type_bits & 0x1),
        "readable": bool(type_bits & 0x2) if code else True,
        "writable": None if code else bool(type_bits & 0x2),
        "conforming": bool(type_bits & 0x4) if code else None,
        "expand_down": None if code else bool(type_bits & 0x4),
    }


_NO_ATTRS = {"accessed": None, "readable": None, "writable": None,
             "conforming": None, "expand_down": None}


def effective_limit(raw_limit: int, granularity: bool) -> int:
    """Byte limit: with G=1 the 20-bit limit counts 4 KiB units (§3.4.5)."""
    return (raw_limit << 12) | 0xFFF if granularity else raw_limit


@dataclass(frozen=True)
class Descriptor:
    """One decoded GDT/LDT descriptor (SDM Vol. 3A §3.4.5, §3.5, §7.2.3).

    ``limit`` is the effective byte limit; ``raw_limit`` the 20-bit field.
    ``raw`` is the low 8 bytes as an integer, ``raw_high`` the upper 8
    bytes of a 16-byte descriptor (else None). ``accessed``/``readable``/
    ``writable``/``conforming``/``expand_down`` are None where they do not
    apply (``writable`` for code, ``conforming`` for data, all for system
    descriptors). ``note`` carries a problem found by :func:`decode_gdt`
    (e.g. a truncated or malformed 16-byte descriptor), else None.
    """

    index: int
    selector: int
    raw: int
    type: str
    type_name: str
    type_bits: int
    base: int
    limit: int
    raw_limit: int
    granularity: bool
    dpl: int
    present: bool
    long: bool
    db: bool
    avl: bool
    accessed: bool | None
    readable: bool | None
    writable: bool | None
    conforming: bool | None
    expand_down: bool | None
    size: int
    raw_high: int | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fields(lo: int) -> dict:
    """Decode the common fields of an 8-byte descriptor given as int."""
    raw_limit = (lo & 0xFFFF) | ((lo >> 32) & 0xF0000)
    granularity = bool(lo >> 55 & 1)
    return {
        "raw": lo,
        "type_bits": lo >> 40 & 0xF,
        "base": (lo >> 16 & 0xFFFFFF) | ((lo >> 56 & 0xFF) << 24),
        "raw_limit": raw_limit,
        "limit": effective_limit(raw_limit, granularity),
        "granularity": granularity,
        "dpl": lo >> 45 & 3,
        "present": bool(lo >> 47 & 1),
        "avl": bool(lo >> 52 & 1),
        "long": bool(lo >> 53 & 1),
        "db": bool(lo >> 54 & 1),
    }


def needs_16_bytes(low8: bytes, long_mode: bool) -> bool:
    """True if the descriptor starting with *low8* is a 16-byte one."""
    if len(low8) < 8:
        raise DecodeError(f"descriptor needs 8 bytes, got {len(low8)}")
    lo = int.from_bytes(low8[:8], "little")
    return (long_mode and lo != 0 and not (lo >> 44 & 1)
            and (lo >> 40 & 0xF) in WIDE_SYSTEM_TYPES)


def _build(lo: int, hi: int | None, index: int, long_mode: bool,
           note: str | None = None) -> Descriptor:
    common = dict(index=index, selector=(index * 8) & 0xFFFF, note=note)
    if lo == 0:
        f = _fields(0)
        return Descriptor(type="null", type_name="null", size=8,
                          **f, **_NO_ATTRS, **common)
    f = _fields(lo)
    if lo >> 44 & 1:  # S=1: code or data
        kind = "code" if f["type_bits"] & 0x8 else "data"
        return Descriptor(type=kind,
                          type_name=code_data_type_name(f["type_bits"]),
                          size=8, **f, **_code_data_attrs(f["type_bits"]),
                          **common)
    name = system_type_name(f["type_bits"], long_mode)
    size = 8
    if hi is not None:
        f["base"] |= (hi & 0xFFFFFFFF) << 32
        size = 16
    return Descriptor(type="system", type_name=name, size=size, raw_high=hi,
                      **f, **_NO_ATTRS, **common)


def _check_high(hi: int) -> None:
    bad = hi >> 40 & 0x1F
    if bad:
        raise DecodeError(
            f"upper half of 16-byte descriptor has type bits 0x{bad:x} set "
            "(bits 12:8 at +12 must be zero, SDM Vol. 3A Fig. 7-4)")


def decode_descriptor(raw: bytes, index: int, long_mode: bool) -> Descriptor:
    """Decode one descriptor.

    *raw* is 8 bytes, or 16 bytes when *long_mode* and the descriptor is an
    LDT, TSS or call gate (IA-32e 16-byte system descriptors). Any other
    length, or a 16-byte descriptor whose upper half has non-zero type bits,
    raises DecodeError. Eight zero bytes decode as type "null".
    """
    raw = bytes(raw)
    if len(raw) not in (8, 16):
        raise DecodeError(f"descriptor must be 8 or 16 bytes, got {len(raw)}")
    if index < 0:
        raise DecodeError(f"negative descriptor index {index}")
    wide = needs_16_bytes(raw, long_mode)
    lo = int.from_bytes(raw[:8], "little")
    if wide != (len(raw) == 16):
        want = 16 if wide else 8
        raise DecodeError(
            f"descriptor {index} (raw 0x{lo:016x}) needs {want} bytes "
            f"in {'IA-32e' if long_mode else 'legacy'} mode, got {len(raw)}")
    hi = None
    if wide:
        hi = int.from_bytes(raw[8:], "little")
        _check_high(hi)
    return _build(lo, hi, index, long_mode)


@dataclass(frozen=True)
class DescriptorTable:
    """A decoded GDT (or LDT): base/limit as in GDTR, one entry per slot.

    A 16-byte system descriptor consumes two slots, so its successor index
    is skipped.
    """

    base: int
    limit: int
    entries: list[Descriptor]

    def to_dict(self) -> dict:
        return {"base": self.base, "limit": self.limit,
                "entries": [e.to_dict() for e in self.entries]}


# Slot 0 of a GDT is never read by the CPU (SDM Vol. 3A 3.4.2: "The first descriptor in
# the GDT is not used by the processor"); Linux keeps its GDT pointer there. Non-zero bytes
# in it are shown as this, never decoded as a descriptor.
UNUSED_SLOT0 = "null (slot 0 holds data)"


def decode_gdt(table: bytes, base: int, limit: int,
               long_mode: bool, gdt: bool = True) -> DescriptorTable:
    """Decode a GDT/LDT image read from *base* (GDTR.limit = *limit*).

    In a GDT (*gdt*, the default) slot 0 is always type "null" and 8 bytes: the CPU never
    reads it; non-zero bytes there get the type_name UNUSED_SLOT0 and keep their raw value.
    In an LDT (gdt=False) slot 0 is a descriptor like any other.

    *table* must hold at least limit+1 bytes (extra bytes are ignored);
    fewer raises DecodeError. If limit+1 is not a multiple of 8 the partial
    tail is ignored. A 16-byte descriptor that is cut off by the limit, or
    whose upper half is malformed, is decoded from its low 8 bytes and
    gets a ``note`` instead of failing the whole table.
    """
    table = bytes(table)
    if not 0 <= limit <= 0xFFFF:
        raise DecodeError(f"descriptor table limit 0x{limit:x} out of range")
    if len(table) < limit + 1:
        raise DecodeError(f"descriptor table limit 0x{limit:x} needs "
                          f"{limit + 1} bytes, got {len(table)}")
    size = limit + 1
    entries: list[Descriptor] = []
    off = 0
    while off + 8 <= size:
        index = off // 8
        low = table[off:off + 8]
        lo = int.from_bytes(low, "little")
        if gdt and index == 0:
            entry = _build(0, None, 0, long_mode)
            if lo:
                entry = dataclasses.replace(entry, raw=lo, type_name=UNUSED_SLOT0)
            entries.append(entry)
            off += 8
            continue
        if needs_16_bytes(low, long_mode):
            if off + 16 > size:
                entries.append(_build(lo, None, index, long_mode,
                                      note="16-byte descriptor truncated "
                                           "by the table limit"))
                off += 8
                continue
            hi = int.from_bytes(table[off + 8:off + 16], "little")
            note = None
            try:
                _check_high(hi)
            except DecodeError as exc:
                note = str(exc)
            entries.append(_build(lo, hi, index, long_mode, note=note))
            off += 16
        else:
            entries.append(_build(lo, None, index, long_mode))
            off += 8
    return DescriptorTable(base=base, limit=limit, entries=entries)


# --------------------------------------------------------------------------
# Cached segment registers (hidden part, as QEMU's "info registers" prints)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentCache:
    """A segment register including its hidden descriptor cache.

    ``flags`` is the word QEMU prints: the descriptor's high dword with the
    base bits masked out (type 8..11, S 12, DPL 13..14, P 15, AVL 20,
    L 21, D/B 22, G 23). ``limit`` is already the effective byte limit.
    ``long_mode`` selects IA-32e names for system types (TR/LDT).
    """

    name: str
    selector: int
    base: int
    limit: int
    flags: int
    long_mode: bool = False

    @property
    def type_bits(self) -> int:
        return self.flags >> 8 & 0xF

    @property
    def system(self) -> bool:
        return not self.flags >> 12 & 1

    @property
    def type(self) -> str:
        if self.system:
            if self.type_bits == 0 and not self.present:
                return "null"
            return "system"
        return "code" if self.type_bits & 0x8 else "data"

    @property
    def type_name(self) -> str:
        kind = self.type
        if kind == "null":
            return "null"
        if kind == "system":
            return system_type_name(self.type_bits, self.long_mode)
        return code_data_type_name(self.type_bits)

    @property
    def dpl(self) -> int:
        return self.flags >> 13 & 3

    @property
    def present(self) -> bool:
        return bool(self.flags >> 15 & 1)

    @property
    def avl(self) -> bool:
        return bool(self.flags >> 20 & 1)

    @property
    def long(self) -> bool:
        return bool(self.flags >> 21 & 1)

    @property
    def db(self) -> bool:
        return bool(self.flags >> 22 & 1)

    @property
    def granularity(self) -> bool:
        return bool(self.flags >> 23 & 1)

    def _attr(self, key: str):
        if self.type in ("code", "data"):
            return _code_data_attrs(self.type_bits)[key]
        return None

    @property
    def accessed(self) -> bool | None:
        return self._attr("accessed")

    @property
    def readable(self) -> bool | None:
        return self._attr("readable")

    @property
    def writable(self) -> bool | None:
        return self._attr("writable")

    @property
    def conforming(self) -> bool | None:
        return self._attr("conforming")

    @property
    def expand_down(self) -> bool | None:
        return self._attr("expand_down")

    @property
    def rpl(self) -> int:
        return self.selector & 3

    @property
    def ti(self) -> int:
        return self.selector >> 2 & 1

    @property
    def index(self) -> int:
        return self.selector >> 3

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for key in ("type", "type_name", "type_bits", "dpl", "present", "avl",
                    "long", "db", "granularity", "accessed", "readable",
                    "writable", "conforming", "expand_down", "rpl", "ti",
                    "index"):
            d[key] = getattr(self, key)
        return d


def segment_from_cache(name: str, selector: int, base: int, limit: int,
                       flags: int, long_mode: bool = False) -> SegmentCache:
    """Build a SegmentCache from QEMU-style cached values."""
    if not 0 <= selector <= 0xFFFF:
        raise DecodeError(f"selector 0x{selector:x} out of range")
    if base < 0 or limit < 0 or not 0 <= flags <= 0xFFFFFFFF:
        raise DecodeError("negative base/limit or flags out of range")
    return SegmentCache(name.lower(), selector, base, limit,
                        flags & 0x00FFFF00, long_mode)


_REAL_FLAGS = {"cs": 0x9B00, "ldt": 0x8200, "tr": 0x8B00}


def real_mode_segment(name: str, selector: int) -> SegmentCache:
    """Real-mode segment: base = selector * 16, limit 0xffff.

    Flags are as QEMU shows them after reset (CS 9Bh execute/read code, others
    93h). SDM Vol. 3A Table 9-1 gives CS "Present, R/W, Accessed" (93h), which
    Bochs shows; real-mode code fetch ignores these bits.
    """
    flags = _REAL_FLAGS.get(name.lower(), 0x9300)
    return segment_from_cache(name, selector, (selector & 0xFFFF) << 4,
                              0xFFFF, flags)
