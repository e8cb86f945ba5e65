"""The VGA text screen as plain text or ANSI-coloured lines (fj vga)."""
from __future__ import annotations

from ..decoders.vga import VgaScreen, cp437_char

#: Standard VGA 16-colour palette (RGB), VGA index order.
VGA_PALETTE = (
    (0x00, 0x00, 0x00), (0x00, 0x00, 0xAA), (0x00, 0xAA, 0x00),
    (0x00, 0xAA, 0xAA), (0xAA, 0x00, 0x00), (0xAA, 0x00, 0xAA),
    (0xAA, 0x55, 0x00), (0xAA, 0xAA, 0xAA), (0x55, 0x55, 0x55),
    (0x55, 0x55, 0xFF), (0x55, 0xFF, 0x55), (0x55, 0xFF, 0xFF),
    (0xFF, 0x55, 0x55), (0xFF, 0x55, 0xFF), (0xFF, 0xFF, 0x55),
    (0xFF, 0xFF, 0xFF),
)
VGA_COLOR_NAMES = (
    "black", "blue", "green", "cyan", "red", "magenta", "brown",
    "light grey", "dark grey", "light blue", "light green", "light cyan",
    "light red", "light magenta", "yellow", "white",
)
#: VGA colour index (0..7) -> ANSI colour index (black red green yellow
#: blue magenta cyan white).
VGA_TO_ANSI = (0, 4, 2, 6, 1, 5, 3, 7)


def ansi_sgr(attr: int) -> str:
    """SGR sequence for a VGA attribute byte (blink bit ignored)."""
    fg, bg = attr & 0xF, attr >> 4 & 0x7
    fg_code = (90 if fg & 8 else 30) + VGA_TO_ANSI[fg & 7]
    return f"\x1b[0;{fg_code};{40 + VGA_TO_ANSI[bg]}m"


def ansi_lines(screen: VgaScreen) -> list[str]:
    """Rows with ANSI colours: an SGR whenever the attribute changes,
    a reset at each line end. Trailing blank cells on a black
    background are dropped."""
    out = []
    for r in range(screen.rows):
        row = list(screen.row(r))
        while row and row[-1][0] in (0, 0x20) and not row[-1][1] & 0x70:
            row.pop()
        parts = []
        attr = None
        for char, a in row:
            if a != attr:
                parts.append(ansi_sgr(a))
                attr = a
            parts.append(cp437_char(char))
        parts.append("\x1b[0m")
        out.append("".join(parts))
    return out
