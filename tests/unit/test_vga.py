"""VGA text mode decoding and rendering."""

import gzip
import struct

import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError, FontError
from fjgdb.decoders.vga import decode_text
from fjgdb.render.png import default_font_path, load_psf, render_png
from fjgdb.render.vga import ansi_lines, ansi_sgr


def screen_bytes(rows_text: dict, attr=0x07, cols=80, rows=25):
    buf = bytearray(b"\x20" + bytes([attr])) * (cols * rows)
    for (r, c), (text, a) in rows_text.items():
        for i, b in enumerate(text):
            buf[(r * cols + c + i) * 2] = b
            buf[(r * cols + c + i) * 2 + 1] = a
    return bytes(buf)


def test_decode_text_lines():
    buf = screen_bytes({(0, 0): (b"Hello", 0x0A), (1, 2): (b"\xc9\xcd\xbb", 0x1F),
                        (2, 0): (b"a\x00b\x01", 0x07)})
    s = decode_text(buf)
    assert (s.cols, s.rows, len(s.cells)) == (80, 25, 2000)
    assert s.cell(0, 0) == (ord("H"), 0x0A)
    lines = s.lines()
    assert lines[0] == "Hello"
    assert lines[1] == "  ╔═╗"        # CP437 0xc9 0xcd 0xbb
    assert lines[2] == "a b☺"         # NUL -> space, 0x01 -> ☺ (VGA glyph)
    assert s.text() == "Hello\n  ╔═╗\na b☺"   # trailing blank rows dropped
    with pytest.raises(DecodeError):
        decode_text(buf[:-1])
    with pytest.raises(DecodeError):
        decode_text(b"", 0, 0)


def test_ansi():
    # VGA attribute 0x4e: bg 4 (red) fg 0xe (yellow) -> ANSI yellow is 3,
    # bright -> 93; red is ANSI 1 -> 41.
    assert ansi_sgr(0x4E) == "\x1b[0;93;41m"
    # 0x17: bg 1 (blue -> ANSI 4), fg 7 (light grey -> ANSI white 37)
    assert ansi_sgr(0x17) == "\x1b[0;37;44m"
    # blink bit 7 ignored: 0xc1 = blink, bg 4 (red), fg 1 (blue -> 34)
    assert ansi_sgr(0xC1) == "\x1b[0;34;41m"
    buf = screen_bytes({(0, 0): (b"ab", 0x0A), (0, 2): (b"cd", 0x0C)},
                       cols=4, rows=2)
    s = decode_text(buf, cols=4, rows=2)
    a = ansi_lines(s)
    assert a[0] == "\x1b[0;92;40mab\x1b[0;91;40mcd\x1b[0m"
    assert a[1] == "\x1b[0m"   # blank row on black background


def _psf2(tmp_path, gz):
    """A tiny PSF2 font: glyph 0 blank, glyph 1 solid, 'A' -> glyph 1."""
    hdr = struct.pack("<4s7I", b"\x72\xb5\x4a\x86", 0, 32, 1, 2, 16, 16, 8)
    glyphs = bytes(16) + b"\xff" * 16
    table = b"\xff" + "A".encode() + b"\xff"
    data = hdr + glyphs + table
    path = tmp_path / ("f.psf.gz" if gz else "f.psf")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _psf1(tmp_path):
    hdr = bytes([0x36, 0x04, 0x02, 16])        # mode HASTAB, height 16
    glyphs = bytearray(256 * 16)
    glyphs[7 * 16:8 * 16] = b"\xff" * 16       # glyph 7 solid
    table = bytearray()
    for i in range(256):
        if i == 7:
            table += struct.pack("<H", ord("B"))
        table += b"\xff\xff"
    path = tmp_path / "f1.psf"
    path.write_bytes(hdr + bytes(glyphs) + bytes(table))
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_load_psf2(tmp_path, gz):
    f = load_psf(_psf2(tmp_path, gz))
    assert (f.width, f.height, len(f.glyphs)) == (8, 16, 2)
    assert f.glyph_index(ord("A")) == 1
    assert f.pixel_rows(1)[0] == 0xFF


def test_load_psf1(tmp_path):
    f = load_psf(_psf1(tmp_path))
    assert (f.width, f.height, len(f.glyphs)) == (8, 16, 256)
    assert f.glyph_index(ord("B")) == 7


def test_font_errors(tmp_path):
    with pytest.raises(FontError):
        load_psf(tmp_path / "missing.psf")
    bad = tmp_path / "bad.psf"
    bad.write_bytes(b"not a font")
    with pytest.raises(FontError):
        load_psf(bad)
    assert issubclass(FontError, DecodeError)


def test_render_png_synthetic_font(tmp_path):
    from PIL import Image
    buf = screen_bytes({(0, 0): (b"A", 0x1E), (0, 1): (b"\xc4", 0x0F)},
                       attr=0x00)
    out = tmp_path / "s.png"
    render_png(decode_text(buf), out, font_path=_psf2(tmp_path, False))
    img = Image.open(out).convert("RGB")
    assert img.size == (720, 400)
    # cell (0,0): solid glyph in yellow (VGA 14 = #ffff55) on blue
    assert img.getpixel((3, 5)) == (0xFF, 0xFF, 0x55)
    # 9th column of a normal char is background (blue, VGA 1 = #0000aa)
    assert img.getpixel((8, 5)) == (0, 0, 0xAA)
    # background cell elsewhere is black
    assert img.getpixel((400, 200)) == (0, 0, 0)


def test_render_png_default_font(tmp_path):
    from PIL import Image
    try:
        default_font_path()
    except FontError:
        pytest.fail("no console font installed (scripts/install-deps installs "
                    "console-setup-linux)")
    buf = screen_bytes({(1, 1): (b"Hello World!", 0x0A)}, attr=0x17)
    out = tmp_path / "hello.png"
    render_png(decode_text(buf), out, scale=2)
    img = Image.open(out).convert("RGB")
    assert img.size == (1440, 800)
    # the 'H' cell (row 1, col 1) has foreground (light green) pixels,
    # an empty cell has only the background (blue)
    cell = img.crop((9 * 2, 16 * 2, 18 * 2, 32 * 2))
    assert (0x55, 0xFF, 0x55) in {c for _, c in cell.getcolors()}
    blank = img.crop((9 * 2 * 40, 16 * 2 * 10, 9 * 2 * 41, 16 * 2 * 11))
    assert {c for _, c in blank.getcolors()} == {(0, 0, 0xAA)}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 20), st.integers(0, 10))
def test_decode_text_random(buf, cols, rows):
    try:
        s = decode_text(buf, cols, rows)
    except DecodeError:
        return
    s.text()
    ansi_lines(s)
