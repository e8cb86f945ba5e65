"""Text of the GDT and of the segment registers with their caches (fj gdt, fj seg)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..decoders.descriptors import DescriptorTable, SegmentCache


def _bits_label(kind: str, long: bool, db: bool) -> str:
    if kind == "code":
        return "64-bit" if long else ("32-bit" if db else "16-bit")
    if kind == "data":
        return "32-bit" if db else "16-bit"
    return ""


def _flag_words(kind: str, long: bool, db: bool, granularity: bool,
                avl: bool, accessed: bool | None) -> str:
    words = []
    label = _bits_label(kind, long, db)
    if label:
        words.append(label)
    if kind != "null":
        words.append("G=4K" if granularity else "G=byte")
    if long and kind != "code":
        words.append("L")
    if avl:
        words.append("AVL")
    if accessed:
        words.append("accessed")
    return " ".join(words)


def format_gdt(table: DescriptorTable, show_null: bool = True) -> str:
    """Human-readable GDT listing, one descriptor per line."""
    lines = [f"GDT base=0x{table.base:x} limit=0x{table.limit:x} "
             f"({(table.limit + 1) // 8} slots)"]
    lines.append(f"{'IDX':>4}  {'SEL':6}  {'TYPE':30}  {'BASE':18}  "
                 f"{'LIMIT':10}  DPL  P  {'FLAGS':28}  RAW")
    for d in table.entries:
        if d.type == "null" and not show_null:
            continue
        raw = f"0x{d.raw:016x}"
        if d.raw_high is not None:
            raw = f"0x{d.raw_high:016x}_{d.raw:016x}"
        if d.type == "null":
            lines.append(f"{d.index:>4}  0x{d.selector:04x}  {d.type_name:30}  "
                         f"{'':18}  {'':10}  {'':3}  {'':1}  {'':28}  {raw}")
            continue
        flags = _flag_words(d.type, d.long, d.db, d.granularity, d.avl,
                            d.accessed)
        line = (f"{d.index:>4}  0x{d.selector:04x}  {d.type_name:30}  "
                f"0x{d.base:<16x}  0x{d.limit:08x}  {d.dpl:>3}  "
                f"{'P' if d.present else '-'}  {flags:28}  {raw}")
        if d.note:
            line += f"  !! {d.note}"
        lines.append(line)
    return "\n".join(lines)


def format_segments(segments: Mapping[str, SegmentCache] | Iterable[SegmentCache]
                    ) -> str:
    """Table of segment registers with their hidden caches."""
    segs = list(segments.values()) if isinstance(segments, Mapping) \
        else list(segments)
    lines = [f"{'SEG':4} {'SEL':6}  {'IDX':>4} TI RPL  {'BASE':18}  "
             f"{'LIMIT':10}  {'FLAGS':10}  DPL  P  {'TYPE':30}  ATTR"]
    for s in segs:
        attr = _flag_words(s.type, s.long, s.db, s.granularity, s.avl,
                           s.accessed) if s.type != "null" else ""
        lines.append(
            f"{s.name:4} 0x{s.selector:04x}  {s.index:>4} {s.ti:>2} {s.rpl:>3}"
            f"  0x{s.base:<16x}  0x{s.limit:08x}  0x{s.flags:08x}  "
            f"{s.dpl:>3}  {'P' if s.present else '-'}  {s.type_name:30}  "
            f"{attr}".rstrip())
    return "\n".join(lines)
