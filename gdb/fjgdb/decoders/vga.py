"""VGA text mode (mode 3: 80x25 cells at physical 0xb8000).

Each cell is two bytes: the CP437 character, then the attribute byte
(foreground = bits 0..3, background = bits 4..6, bit 7 = blink with the
default attribute-controller setting). PSF console fonts (PSF1 and PSF2, as
shipped by kbd/console-setup) are parsed here from their bytes; colours,
ANSI and PNG output are in :mod:`fjgdb.render.vga` and :mod:`fjgdb.render.png`.

Character mapping: bytes 0x20..0xFF go through Python's ``cp437`` codec;
byte 0 is shown as a space; bytes 0x01..0x1F and 0x7F are mapped to the
glyphs the VGA ROM font actually draws for them (smileys, arrows, "⌂"...)
rather than to C0 control characters, so that printing a screen can never
emit terminal control codes.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field

from .errors import DecodeError, FontError

# What the VGA ROM font draws for the C0 range and DEL (CP437 graphics).
_LOW_GLYPHS = (" ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼")


def cp437_char(byte: int) -> str:
    """Unicode character shown for CP437 *byte* (0 -> space)."""
    if byte < 0x20:
        return _LOW_GLYPHS[byte]
    if byte == 0x7F:
        return "⌂"
    return bytes([byte]).decode("cp437")


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


def parse_psf(data: bytes, name: str = "font") -> PsfFont:
    """A PSF1 or PSF2 font from its bytes, gzip-compressed or not (*name* is for errors)."""
    data = bytes(data)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FontError(f"bad gzip font {name}: {exc}") from exc
    if data[:2] == PSF1_MAGIC:
        return _parse_psf1(data)
    if data[:4] == PSF2_MAGIC:
        return _parse_psf2(data)
    raise FontError(f"{name} is not a PSF1/PSF2 font")
