"""Text of real-mode far pointers and the IVT (fj ivt)."""
from __future__ import annotations

from collections.abc import Callable

from ..decoders.realmode import IvtEntry, check16


def format_segoff(segment: int, offset: int) -> str:
    """'f000:fff0' style far pointer."""
    check16("segment", segment)
    check16("offset", offset)
    return f"{segment:04x}:{offset:04x}"


def format_ivt(entries: list[IvtEntry],
               symbolize: Callable[[int], str | None] | None = None,
               show_zero: bool = True) -> str:
    """One line per vector: 'VEC  SEG:OFF  LINEAR  [symbol]'."""
    lines = [f"{'VEC':>3}  {'':4}  {'SEG:OFF':9}  {'LINEAR':9}  SYMBOL"]
    for e in entries:
        if not show_zero and e.segment == 0 and e.offset == 0:
            continue
        sym = ""
        if symbolize is not None:
            try:
                sym = symbolize(e.linear) or ""
            except Exception:  # a symbolizer must never break the listing
                sym = ""
        lines.append(f"{e.vector:>3}  0x{e.vector:02x}  {e}  "
                     f"0x{e.linear:06x}  {sym}".rstrip())
    return "\n".join(lines)
