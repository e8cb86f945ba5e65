"""The VGA text screen as a PNG, drawn with a PSF console font (fj vga --png)."""
from __future__ import annotations

import os

from ..decoders.errors import DecodeError, FontError
from ..decoders.vga import PsfFont, VgaScreen, parse_psf
from .vga import VGA_PALETTE

DEFAULT_FONTS = (
    "/usr/share/consolefonts/Lat15-VGA16.psf.gz",
    "/usr/share/consolefonts/default8x16.psf.gz",
    "/usr/share/kbd/consolefonts/default8x16.psf.gz",
)


def load_psf(path: str | os.PathLike) -> PsfFont:
    """Load a PSF1 or PSF2 font file, gzip-compressed or not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FontError(f"cannot read font {path}: {exc}") from exc
    return parse_psf(data, str(path))


def default_font_path() -> str:
    """First existing entry of DEFAULT_FONTS, else FontError."""
    for path in DEFAULT_FONTS:
        if os.path.exists(path):
            return path
    raise FontError("no console font found; tried " + ", ".join(DEFAULT_FONTS)
                    + " (install the 'kbd' or 'console-setup' fonts, or pass "
                    "font_path)")


def render_png(screen: VgaScreen, path: str | os.PathLike,
               font_path: str | os.PathLike | None = None, scale: int = 1):
    """Render *screen* to a PNG file at *path* and return the PIL image.

    Cells are 9 pixels wide like real VGA: for an 8-pixel-wide font the 9th
    column repeats column 8 for box-drawing characters 0xC0..0xDF and is
    background otherwise; so 80x25 with an 8x16 font gives 720x400 (times
    *scale*). Fonts wider than 8 pixels are drawn without the extra column.
    Colours use the standard VGA palette; the blink bit is ignored.
    """
    from PIL import Image  # lazy: only this function needs Pillow

    if scale < 1:
        raise DecodeError(f"scale must be >= 1, got {scale}")
    font = load_psf(font_path or default_font_path())
    gw, gh = font.width, font.height
    cw = gw + 1 if gw == 8 else gw
    width, height = screen.cols * cw, screen.rows * gh
    pixels = bytearray(width * height * 3)
    glyph_cache: dict[int, list[int]] = {}
    for r in range(screen.rows):
        for c in range(screen.cols):
            char, attr = screen.cell(r, c)
            fg = bytes(VGA_PALETTE[attr & 0xF])
            bg = bytes(VGA_PALETTE[attr >> 4 & 0x7])
            idx = font.glyph_index(char)
            rows_ = glyph_cache.get(idx)
            if rows_ is None:
                rows_ = glyph_cache[idx] = font.pixel_rows(idx)
            dup = cw > gw and 0xC0 <= char <= 0xDF
            for y, bits in enumerate(rows_):
                line = bytearray()
                for x in range(gw):
                    line += fg if bits >> (gw - 1 - x) & 1 else bg
                if cw > gw:
                    line += fg if dup and bits & 1 else bg
                start = ((r * gh + y) * width + c * cw) * 3
                pixels[start:start + cw * 3] = line
    img = Image.frombytes("RGB", (width, height), bytes(pixels))
    if scale > 1:
        img = img.resize((width * scale, height * scale), Image.NEAREST)
    img.save(path, format="PNG")
    return img
