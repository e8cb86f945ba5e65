"""Text of page-table walks and mapped ranges (fj pt)."""
from __future__ import annotations

from ..decoders.paging import FORMATS, LEVEL_NAMES, PageMap, PagingEntry, Range, Walk, indices


def format_size(size: int) -> str:
    """4096 -> '4K', 2 MiB -> '2M', 3 GiB -> '3G'; otherwise bytes."""
    units = (("T", 40), ("G", 30), ("M", 20), ("K", 10))
    for unit, shift in units:
        if size and size % (1 << shift) == 0 and size >> shift < 10000:
            return f"{size >> shift}{unit}"
    for unit, shift in units:  # inexact: approximate, marked with '~'
        if size >= 1 << shift:
            return f"~{size / (1 << shift):.1f}{unit}"
    return f"{size}"


def format_perms(writable: bool, user: bool, nx: bool) -> str:
    """'rwx' style: r always, w if writable, x unless NX; then 'u' or 's'."""
    return f"r{'w' if writable else '-'}{'-' if nx else 'x'} " \
           f"{'u' if user else 's'}"


def _range_flags(r: Range) -> str:
    key = f" key {r.pkey}" if r.pkey is not None else ""
    return (f"{format_perms(r.writable, r.user, r.nx)} "
            f"{'g' if r.global_ else '-'}{'a' if r.accessed else '-'}"
            f"{'d' if r.dirty else '-'}{key}")


def format_ranges(pagemap: PageMap) -> str:
    """Table of mapped ranges. Flags: r w x (x absent if NX), u/s (user or
    supervisor), g (global), a (accessed), d (dirty)."""
    n = len(pagemap.ranges)
    lines = [f"CR3 0x{pagemap.cr3:x} ({pagemap.format} paging): "
             f"{n} range{'' if n == 1 else 's'}",
             f"{'VIRT START':18}  {'VIRT END':18}  {'PHYS START':18}  "
             f"{'SIZE':>6}  {'PAGE':>4}  FLAGS"]
    for r in pagemap.ranges:
        lines.append(f"0x{r.virt:016x}  0x{r.end - 1:016x}  "
                     f"0x{r.phys:016x}  {format_size(r.size):>6}  "
                     f"{format_size(r.page_size):>4}  {_range_flags(r)}")
    for p in pagemap.problems:
        lines.append(f"!! {p}")
    return "\n".join(lines)


def _entry_flags(e: PagingEntry) -> str:
    if not e.present:
        return "not present"
    words = ["P", "W" if e.writable else "R", "U" if e.user else "S"]
    for flag, label in ((e.pwt, "PWT"), (e.pcd, "PCD"), (e.accessed, "A"),
                        (e.dirty, "D"), (e.large, "PS"), (e.global_, "G"),
                        (e.pat, "PAT"), (e.nx, "NX")):
        if flag:
            words.append(label)
    if e.pkey is not None:
        words.append(f"PKEY={e.pkey}")
    if e.reserved_bits_set:
        words.append(f"RSVD=0x{e.reserved_bits_set:x}")
    return " ".join(words)


def format_walk(w: Walk) -> str:
    """Step-by-step description of a page walk."""
    fmt = FORMATS[w.format]
    parts = ", ".join(f"{LEVEL_NAMES[lv]} {i}"
                      for lv, i in zip(fmt.levels, indices(w.vaddr, fmt)))
    width = 8 if w.format in ("32-bit", "PAE") else 16
    lines = [f"vaddr 0x{w.vaddr:0{width}x}  ({parts}, offset 0x{w.vaddr & 0xFFF:03x})",
             f"cr3   0x{w.cr3:x}  ({w.format} paging)"]
    for s in w.steps:
        e = s.entry
        target = ""
        if e.present and not e.reserved_bits_set:
            target = (f"{format_size(e.page_size)} page 0x{e.addr:x}"
                      if e.leaf else f"-> 0x{e.addr:x}")
        label = f"{s.level_name}[{s.index}]"
        lines.append(f"  {label:10} @ 0x{s.entry_addr:<12x} = "
                     f"0x{e.value:0{16 if e.value >> 32 or width == 16 else 8}x}  "
                     f"{target:24}  {_entry_flags(e)}")
    if w.fault:
        lines.append(f"=> fault: {w.fault}")
    else:
        lines.append(f"=> phys 0x{w.phys:x}  ({format_size(w.page_size)} "
                     f"page, {format_perms(w.writable, w.user, w.nx)})")
    return "\n".join(lines)
