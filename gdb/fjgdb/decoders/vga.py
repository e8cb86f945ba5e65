"""VGA text mode (mode 3: 80x25 cells at physical 0xb8000).

Each cell is two bytes: the CP437 character, then the attribute byte
(foreground = bits 0..3, background = bits 4..6, bit 7 = blink with the
default attribute-controller setting). Glyph rendering uses PSF console
fonts (PSF1 and PSF2, as shipped by kbd/console-setup).

Character mapping: bytes 0x20..0xFF go through Python's ``cp437`` codec;
byte 0 is shown as a space; bytes 0x01..0x1F and 0x7F are mapped to the
glyphs the VGA ROM font actually draws for them (smileys, arrows, "⌂"...)
rather than to C0 control characters, so that printing a screen can never
emit terminal control codes.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, field

from .errors import DecodeError, FontError

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

DEFAULT_FONTS = (
    "/usr/share/consolefonts/Lat15-VGA16.psf.gz",
    "/usr/share/consolefonts/default8x16.psf.gz",
    "/usr/share/kbd/consolefonts/default8x16.psf.gz",
)

# What the VGA ROM font draws for the C0 range and DEL (CP437 graphics).
_LOW_GLYPHS = (" ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼")


def cp437_char(byte: int) -> str:
    """Unicode character shown for CP437 *byte* (0 -> space)."""
    if byte < 0x20:
        return _LOW_GLYPHS[byte]
    if byte == 0x7F:
        return "⌂"
    return bytes([byte]).decode("cp437")


def ansi_sgr(attr: int) -> str:
    """SGR sequence for a VGA attribute byte (blink bit ignored)."""
    fg, bg = attr & 0xF, attr >> 4 & 0x7
    fg_code = (90 if fg & 8 else 30) + VGA_TO_ANSI[fg & 7]
    return f"\x1b[0;{fg_code};{40 + VGA_TO_ANSI[bg]}m"


@dataclass(frozen=True)
class VgaScreen:
    """A decoded text screen; ``cells`` is row-major (char_byte, attr)."""

    cols: int
    rows: int
    cells: tuple[tuple[int, int], ...]

    def cell(self, row: int, col: int) -> tuple[int, int]:
        return self.cells[row * self.cols + col]

    def row(self, row: int) -> tuple[tuple[int, int], ...]:
        return self.cells[row * self.cols:(row + 1) * self.cols]

    def lines(self) -> list[str]:
        """One string per row, right-stripped."""
        return ["".join(cp437_char(c) for c, _ in self.row(r)).rstrip()
                for r in range(self.rows)]

    def text(self) -> str:
        """All rows joined by newlines, trailing blank rows dropped."""
        lines = self.lines()
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines)

    def ansi(self) -> list[str]:
        """Rows with ANSI colours: an SGR whenever the attribute changes,
        a reset at each line end. Trailing blank cells on a black
        background are dropped."""
        out = []
        for r in range(self.rows):
            row = list(self.row(r))
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

    def to_dict(self) -> dict:
        return {"cols": self.cols, "rows": self.rows, "lines": self.lines(),
                "attrs": [[a for _, a in self.row(r)]
                          for r in range(self.rows)]}


def decode_text(buf: bytes, cols: int = 80, rows: int = 25) -> VgaScreen:
    """Decode a text-mode buffer of exactly cols*rows*2 bytes."""
    buf = bytes(buf)
    if cols <= 0 or rows <= 0:
        raise DecodeError(f"bad screen geometry {cols}x{rows}")
    if len(buf) != cols * rows * 2:
        raise DecodeError(f"VGA text buffer for {cols}x{rows} needs "
                          f"{cols * rows * 2} bytes, got {len(buf)}")
    cells = tuple(zip(buf[0::2], buf[1::2]))
    return VgaScreen(cols, rows, cells)


# --------------------------------------------------------------------------
# PSF fonts
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PsfFont:
    """Glyph bitmaps (rows of ``(width + 7) // 8`` bytes, MSB = leftmost
    pixel) and a Unicode code point -> glyph index map."""

    width: int
    height: int
    glyphs: tuple[bytes, ...]
    unicode: dict[int, int] = field(default_factory=dict)

    @property
    def row_bytes(self) -> int:
        return (self.width + 7) // 8

    def glyph_index(self, byte: int) -> int:
        """Glyph for CP437 *byte*.

        With a Unicode table: the glyph of the character (see cp437_char);
        if the font lacks it, the glyph of U+FFFD or '?'. Without a table
        the glyph index is the byte itself (0 if out of range).
        """
        if self.unicode:
            for cp in (ord(cp437_char(byte)), 0xFFFD, ord("?")):
                idx = self.unicode.get(cp)
                if idx is not None and idx < len(self.glyphs):
                    return idx
        return byte if byte < len(self.glyphs) else 0

    def pixel_rows(self, index: int) -> list[int]:
        """The glyph as one int per row, bit (width-1) = leftmost pixel."""
        g = self.glyphs[index]
        rb = self.row_bytes
        shift = rb * 8 - self.width
        return [int.from_bytes(g[y * rb:(y + 1) * rb], "big") >> shift
                for y in range(self.height)]


PSF1_MAGIC = b"\x36\x04"
PSF2_MAGIC = b"\x72\xb5\x4a\x86"


def _parse_psf1(data: bytes) -> PsfFont:
    if len(data) < 4:
        raise FontError("truncated PSF1 header")
    mode, height = data[2], data[3]
    count = 512 if mode & 1 else 256
    end = 4 + count * height
    if height == 0 or len(data) < end:
        raise FontError("truncated PSF1 glyph data")
    glyphs = tuple(data[4 + i * height:4 + (i + 1) * height]
                   for i in range(count))
    table: dict[int, int] = {}
    if mode & 0x6:  # PSF1_MODEHASTAB | PSF1_MODEHASSEQ
        pos, index = end, 0
        in_seq = False
        while pos + 1 < len(data) and index < count:
            (u,) = struct.unpack_from("<H", data, pos)
            pos += 2
            if u == 0xFFFF:
                index += 1
                in_seq = False
            elif u == 0xFFFE:
                in_seq = True
            elif not in_seq:
                table.setdefault(u, index)
    return PsfFont(8, height, glyphs, table)


def _parse_psf2(data: bytes) -> PsfFont:
    if len(data) < 32:
        raise FontError("truncated PSF2 header")
    (_version, hdr, flags, count, charsize, height,
     width) = struct.unpack_from("<7I", data, 4)
    if not (width and height and count) or \
            charsize != height * ((width + 7) // 8):
        raise FontError("inconsistent PSF2 header")
    end = hdr + count * charsize
    if len(data) < end:
        raise FontError("truncated PSF2 glyph data")
    glyphs = tuple(data[hdr + i * charsize:hdr + (i + 1) * charsize]
                   for i in range(count))
    table: dict[int, int] = {}
    if flags & 1:  # PSF2_HAS_UNICODE_TABLE
        pos = end
        for index in range(count):
            stop = data.find(b"\xff", pos)
            if stop < 0:
                break
            entry = data[pos:stop].split(b"\xfe")[0]  # skip sequences
            pos = stop + 1
            for ch in entry.decode("utf-8", "ignore"):
                table.setdefault(ord(ch), index)
    return PsfFont(width, height, glyphs, table)


def load_psf(path: str | os.PathLike) -> PsfFont:
    """Load a PSF1 or PSF2 font, gzip-compressed or not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FontError(f"cannot read font {path}: {exc}") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FontError(f"bad gzip font {path}: {exc}") from exc
    if data[:2] == PSF1_MAGIC:
        return _parse_psf1(data)
    if data[:4] == PSF2_MAGIC:
        return _parse_psf2(data)
    raise FontError(f"{path} is not a PSF1/PSF2 font")


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
