"""Text of a decoded IDT (fj idt)."""
from __future__ import annotations

from collections.abc import Callable

from ..decoders.idt import GateTable, exception_info


def exception_label(vector: int) -> str:
    """The short column label of an exception vector: "#DE", "NMI", "" (reserved or
    not an exception). Two-letter SDM mnemonics get their '#'."""
    info = exception_info(vector)
    if info is None or info.mnemonic in ("", "-"):
        return ""
    return f"#{info.mnemonic}" if len(info.mnemonic) == 2 else info.mnemonic


def format_idt(table: GateTable,
               symbolize: Callable[[int], str | None] | None = None,
               show_empty: bool = False) -> str:
    """Human-readable IDT listing; empty entries are skipped by default.

    *symbolize* maps a handler offset to a symbol name (or None).
    """
    width = 18 if table.long_mode else 10
    lines = [f"IDT base=0x{table.base:x} limit=0x{table.limit:x} "
             f"({len(table.gates)} entries)"]
    lines.append(f"{'VEC':>3} {'':4}  {'TYPE':14}  {'SEL':6}  "
                 f"{'OFFSET':{width}}  IST  DPL  P  SYMBOL")
    skipped = 0
    for g in table.gates:
        if g.gate_type == "empty" and not show_empty:
            skipped += 1
            continue
        kind = g.gate_type if not g.bits else f"{g.gate_type}{g.bits}"
        sym = ""
        if symbolize is not None and g.gate_type in ("interrupt", "trap",
                                                     "call"):
            try:
                sym = symbolize(g.offset) or ""
            except Exception:  # a symbolizer must never break the listing
                sym = ""
        line = (f"{g.vector:>3} {exception_label(g.vector):4}  "
                f"{kind:14}  0x{g.selector:04x}  "
                f"0x{g.offset:0{width - 2}x}  {g.ist:>3}  {g.dpl:>3}  "
                f"{'P' if g.present else '-'}  {sym}").rstrip()
        if g.note:
            line += f"  !! {g.note}"
        lines.append(line)
    if skipped:
        lines.append(f"({skipped} empty entries not shown)")
    return "\n".join(lines)
