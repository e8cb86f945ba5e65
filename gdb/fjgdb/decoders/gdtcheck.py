"""Do the loaded segment registers agree with the GDT they were loaded from?

A segment register's hidden part (base, limit, attributes) is copied from the descriptor
when the selector is loaded (SDM Vol. 3A §3.4.3) and never re-read: if the table changed
since, or GDTR now points elsewhere, the two disagree, which is what a debugger should
warn about. Entry 0 is never read by the CPU (§3.4.2: the null selector only marks a
register unusable), so whatever it holds (Linux keeps the GDT's own pointer there) is no
sign of a bad table.

Compared for each loaded GDT selector (TI=0, index > 0) outside real and virtual-8086
mode: present, S, type (ignoring the accessed bit of code/data and the busy bit of a TSS,
which the CPU sets itself), DPL, L, D/B, G, the effective limit, and the base (except FS
and GS in IA-32e mode, whose bases come from MSRs).
"""
from __future__ import annotations

from .descriptors import DescriptorTable, SegmentCache


def selector_mismatches(table: DescriptorTable, segments: dict[str, SegmentCache],
                        long_mode: bool) -> list[str]:
    """One line per loaded selector whose cache disagrees with its GDT entry."""
    by_index = {d.index: d for d in table.entries}
    problems = []
    for name, seg in segments.items():
        if seg.ti or seg.index == 0:
            continue
        d = by_index.get(seg.index)
        label = f"{name.upper()}=0x{seg.selector:04x}"
        if d is None and seg.index * 8 + 7 > table.limit:
            problems.append(f"{label}: index {seg.index} is beyond the GDT limit "
                            f"0x{table.limit:x} (the cache holds what was loaded "
                            "from an earlier table)")
            continue
        if d is None:
            problems.append(f"{label}: slot {seg.index} is the upper half of a 16-byte "
                            "system descriptor, not a descriptor of its own")
            continue
        diffs = []
        ignore = 0
        if d.type in ("code", "data"):
            ignore = 0x1                         # accessed
        elif d.type_bits in (0x1, 0x3, 0x9, 0xB):
            ignore = 0x2                         # TSS busy
        if d.type == "null":
            diffs.append("the entry is empty")
        else:
            if d.present != seg.present:
                diffs.append(f"present {int(d.present)} vs {int(seg.present)}")
            if (d.type == "system") != seg.system or \
                    (d.type_bits & ~ignore) != (seg.type_bits & ~ignore):
                diffs.append(f"type {d.type_name} vs {seg.type_name}")
            for field, short in (("dpl", "DPL"), ("long", "L"), ("db", "D/B"),
                                 ("granularity", "G")):
                a, b = getattr(d, field), getattr(seg, field)
                if a != b:
                    diffs.append(f"{short} {int(a)} vs {int(b)}")
            if d.limit != seg.limit:
                diffs.append(f"limit 0x{d.limit:x} vs 0x{seg.limit:x}")
            msr_base = long_mode and name in ("fs", "gs")
            if not msr_base and d.base != seg.base:
                diffs.append(f"base 0x{d.base:x} vs 0x{seg.base:x}")
        if diffs:
            problems.append(f"{label}: GDT entry {seg.index} disagrees with the loaded "
                            f"cache (table vs cache: {', '.join(diffs)})")
    return problems
