"""Text of a decoded boot timeline (fj timeline), like the kernel's own report."""
from __future__ import annotations

from ..decoders.timeline import Timeline


def format_timeline(tl: Timeline) -> str:
    """Text like the kernel's report: one line per step, then the total."""
    if tl.tsc_hz:
        head = (f"boot timeline: TSC at {tl.tsc_hz / 1e6:.0f} MHz (measured by the kernel "
                "against the ACPI PM timer); stage 1 is not timed")
    else:
        head = "boot timeline: TSC cycles (rate not known yet: the kernel measures it at Hello World!)"
    lines = [head]
    for s in tl.steps:
        us = f"{s.us:9.0f} us" if s.us is not None else " " * 12
        lines.append(f"  {s.end:<12} {s.cycles:>12} cycles {us}  {s.what}")
    if tl.total_cycles is not None:
        us = f"{tl.total_us:9.0f} us" if tl.total_us is not None else " " * 12
        last = [e.name for e in tl.events if e.recorded][-1]
        lines.append(f"  {'total':<12} {tl.total_cycles:>12} cycles {us}  "
                     f"stage2_start to {last}")
    missing = [e.name for e in tl.events if not e.recorded]
    if missing:
        lines.append(f"not recorded (yet): {', '.join(missing)}")
    for p in tl.problems:
        lines.append(f"problem: {p}")
    return "\n".join(lines)
