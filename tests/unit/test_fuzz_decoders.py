"""Property-based tests (hypothesis) for the pure parts the other unit tests do not fuzz:
mode classification, segment caches, real-mode addresses, the paging helpers and the
walk's unreadable="fault" mode, PSF fonts, ELF symbol tables and the stack scan.

Each must either give a result (that formats and serialises) or raise DecodeError, the
decoders' own error type, never another exception; and each has a positive check: a
DecodeError only for an input the decoder's contract calls invalid, and valid inputs
decode to what they hold (a decoder that always raised would fail them). The other decoders' random-input
tests live beside their unit tests: test_descriptors.py (descriptors, GDTs), test_idt.py
(gates, IDTs), test_realmode.py (IVT), test_paging.py (entries, walks and ranges over
random tables), test_qemuregs.py (random text), test_vga.py (text screens).
"""
import json
import os
import struct
import tempfile

from hypothesis import given, settings, strategies as st
from test_elfsyms import make_elf

from fjgdb.decoders.descriptors import real_mode_segment, segment_from_cache
from fjgdb.decoders.elfsyms import SymbolTable, read_elf_symbols
from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.idt import decode_idt
from fjgdb.decoders.mode import cpu_mode
from fjgdb.decoders.paging import canonical, sign_extend, split, walk
from fjgdb.decoders.realmode import decode_ivt, linear
from fjgdb.decoders.stackscan import stack_delta
from fjgdb.decoders.vga import PSF1_MAGIC, PSF2_MAGIC
from fjgdb.render.descriptors import format_segments
from fjgdb.render.idt import format_idt
from fjgdb.render.paging import format_walk
from fjgdb.render.png import load_psf
from fjgdb.render.realmode import format_ivt, format_segoff

U64 = st.integers(0, 2**64 - 1)
ANY_INT = st.one_of(st.integers(-2**70, 2**70), U64, st.integers(-5, 0x20000))


# ---- mode and segment caches -----------------------------------------------------------
@st.composite
def segment(draw):
    return segment_from_cache(draw(st.sampled_from(["cs", "CS", "ds", "tr"])),
                              draw(st.integers(0, 0xFFFF)), draw(U64),
                              draw(st.integers(0, 0xFFFFFFFF)),
                              draw(st.integers(0, 0xFFFFFFFF)), draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(U64, U64, U64, st.one_of(st.none(), segment()), U64)
def test_cpu_mode_random(cr0, cr4, efer, cs, eflags):
    m = cpu_mode(cr0, cr4, efer, cs, eflags)
    assert m.mode in ("real", "protected", "long", "virtual-8086")
    assert m.bits in (16, 32, 64, None)
    assert (m.bits is None) == (cs is None and m.mode in ("protected", "long"))
    assert m.pe == bool(cr0 & 1)
    str(m)
    json.dumps(m.to_dict())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=5), ANY_INT, ANY_INT, ANY_INT, ANY_INT, st.booleans())
def test_segment_from_cache_random(name, selector, base, limit, flags, long_mode):
    valid = 0 <= selector <= 0xFFFF and base >= 0 and limit >= 0 and 0 <= flags <= 0xFFFFFFFF
    try:
        s = segment_from_cache(name, selector, base, limit, flags, long_mode)
    except DecodeError:
        assert not valid
        return
    assert valid and (s.selector, s.base, s.limit) == (selector, base, limit)
    format_segments([s])
    json.dumps(s.to_dict())
    s.type_name, s.rpl, s.index, s.present   # noqa: B018 - properties must not raise


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"]), ANY_INT)
def test_real_mode_segment_random(name, selector):
    try:
        s = real_mode_segment(name, selector)
    except DecodeError:
        assert not 0 <= selector <= 0xFFFF
        return
    assert s.base == selector << 4
    format_segments({name: s})


# ---- real mode ----------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(ANY_INT, ANY_INT, st.booleans())
def test_real_mode_addresses_random(seg, off, a20):
    try:
        lin = linear(seg, off, a20)
    except DecodeError:
        assert not (0 <= seg <= 0xFFFF and 0 <= off <= 0xFFFF)
        return
    assert 0 <= lin <= 0x10FFEF
    assert len(format_segoff(seg, off)) == 9


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1100))
def test_ivt_random_formats(data):
    try:
        entries = decode_ivt(data)
    except DecodeError:
        assert len(data) % 4 or len(data) > 1024
        return
    assert len(entries) == len(data) // 4
    for e in entries:
        want = data[e.vector * 4:e.vector * 4 + 4]
        assert (e.offset, e.segment) == struct.unpack("<HH", want)
    format_ivt(entries, symbolize=lambda a: None, show_zero=True)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=600), st.integers(-1, 0x300), st.booleans(),
       st.booleans())
def test_idt_random_formats(table, limit, long_mode, show_empty):
    try:
        t = decode_idt(table, 0xB000, limit, long_mode)
    except DecodeError:
        assert not (0 <= limit <= 0xFFFF and len(table) >= limit + 1)
        return
    assert len(t.gates) == min((limit + 1) // (16 if long_mode else 8), 256)
    format_idt(t, symbolize=lambda a: "sym" if a & 1 else None, show_empty=show_empty)
    json.dumps(t.to_dict())


# ---- paging helpers and the walk's unreadable="fault" mode ---------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(-2**65, 2**65))
def test_canonical_split_sign_extend_random(vaddr):
    try:
        c = canonical(vaddr)
        parts = split(vaddr)
    except DecodeError:
        assert not 0 <= vaddr < 2**64
        return
    assert canonical(sign_extend(vaddr))
    assert c == (sign_extend(vaddr) == vaddr)
    assert all(0 <= p < 512 for p in parts[:4]) and 0 <= parts[4] < 4096


class FlakyReader:
    """Tables from *mem*; other addresses raise an arbitrary exception type, or return a
    wrong length, like a broken guest-memory reader."""

    ERRORS = (OSError("I/O"), ValueError("bad"), RuntimeError("gone"), KeyError(1),
              MemoryError(), b"short", b"")

    def __init__(self, mem, how):
        self.mem, self.how = mem, how

    def __call__(self, addr):
        if addr in self.mem:
            return self.mem[addr]
        e = self.ERRORS[self.how % len(self.ERRORS)]
        if isinstance(e, bytes):
            return e
        raise e


@st.composite
def tables(draw):
    addrs = [0x1000 * i for i in range(1, 5)]
    mem = {}
    for addr in addrs:
        data = bytearray(4096)
        for index, value in draw(st.dictionaries(
                st.integers(0, 511),
                st.one_of(U64, st.builds(lambda a, f: a | f,
                                         st.sampled_from(addrs + [0x9000, 0x7FF00000]),
                                         st.integers(0, 0x1FF))),
                max_size=6)).items():
            struct.pack_into("<Q", data, index * 8, value)
        mem[addr] = bytes(data)
    return mem


@settings(max_examples=200, deadline=None)
@given(tables(), st.integers(0, 6), st.sampled_from([0x1000, 0x2000, 0x9000]), U64,
       st.booleans(), st.sampled_from(["raise", "fault", "bogus"]))
def test_walk_unreadable_modes_random(mem, how, cr3, vaddr, nxe, unreadable):
    try:
        w = walk(FlakyReader(mem, how), cr3, vaddr, nxe=nxe, unreadable=unreadable)
    except DecodeError:
        # "fault" mode raises only for what it cannot turn into a fault: a non-canonical
        # address or an unreadable PML4 (no step to end at).
        assert unreadable != "fault" or not canonical(vaddr) or cr3 not in mem
        return
    assert unreadable in ("raise", "fault")
    assert (w.phys is None) == (w.fault is not None)
    assert 1 <= len(w.steps) <= 4
    format_walk(w)
    json.dumps(w.to_dict())


# ---- PSF console fonts ----------------------------------------------------------------------
@st.composite
def font_bytes(draw):
    kind = draw(st.sampled_from(["psf1", "psf2", "raw"]))
    if kind == "psf1":
        head = PSF1_MAGIC + bytes([draw(st.integers(0, 7)), draw(st.integers(0, 20))])
    elif kind == "psf2":
        head = PSF2_MAGIC + struct.pack(
            "<7I", 0, draw(st.sampled_from([0, 1, 32, 40, 2**32 - 1])),
            draw(st.integers(0, 3)), draw(st.integers(0, 300)),
            draw(st.integers(0, 40)), draw(st.integers(0, 20)),
            draw(st.integers(0, 17)))
    else:
        head = b""
    return head + draw(st.binary(max_size=draw(st.sampled_from([64, 5000]))))


@settings(max_examples=200, deadline=None)
@given(font_bytes(), st.booleans())
def test_load_psf_random(data, gz):
    import gzip
    if gz:
        data = gzip.compress(data) if data[:1] != b"\0" else b"\x1f\x8b" + data
    fd, path = tempfile.mkstemp(prefix="fjfont-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            font = load_psf(path)
        except DecodeError:      # FontError is a DecodeError
            return
    finally:
        os.unlink(path)
    for byte in range(256):
        idx = font.glyph_index(byte)
        assert 0 <= idx < len(font.glyphs) or idx == 0
        if idx < len(font.glyphs):
            assert len(font.pixel_rows(idx)) == font.height


@st.composite
def valid_font(draw):
    """A well-formed PSF1 or PSF2 font: (bytes, width, height, glyph count)."""
    if draw(st.booleans()):
        height, count = draw(st.integers(1, 32)), 256
        glyphs = draw(st.binary(min_size=count * height, max_size=count * height))
        return PSF1_MAGIC + bytes([0, height]) + glyphs, 8, height, count
    width, height, count = draw(st.integers(1, 20)), draw(st.integers(1, 32)), \
        draw(st.integers(1, 300))
    charsize = height * ((width + 7) // 8)
    head = PSF2_MAGIC + struct.pack("<7I", 0, 32, 0, count, charsize, height, width)
    return head + draw(st.binary(min_size=count * charsize, max_size=count * charsize)), \
        width, height, count


@settings(max_examples=100, deadline=None)
@given(valid_font())
def test_load_psf_valid_fonts_load(font):
    data, width, height, count = font
    fd, path = tempfile.mkstemp(prefix="fjfont-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        loaded = load_psf(path)
    finally:
        os.unlink(path)
    assert (loaded.width, loaded.height, len(loaded.glyphs)) == (width, height, count)
    assert loaded.glyphs[-1] == data[len(data) - len(loaded.glyphs[-1]):]


# ---- ELF symbol tables ------------------------------------------------------------------------
ELF = make_elf([("stage1_start", 0x7C00, 0x10, 1), ("print", 0x7C50, 0x00, 1),
                ("print.loop", 0x7C51, 0x00, 1), ("ABS", 5, 0x10, 0xFFF1)])


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda b: b"\x7fELF\x02\x01" + b, st.binary(max_size=300)),
    # a valid file with some bytes overwritten, or cut short
    st.builds(lambda pos, junk: ELF[:pos] + junk + ELF[pos + len(junk):],
              st.integers(0, len(ELF)), st.binary(min_size=1, max_size=12)),
    st.builds(lambda n: ELF[:n], st.integers(0, len(ELF)))),
    st.lists(U64, max_size=5))
def test_read_elf_symbols_random(data, addrs):
    try:
        syms = read_elf_symbols(data)
    except DecodeError:
        assert data != ELF
        return
    if data == ELF:
        assert [s.name for s in syms] == ["stage1_start", "print", "print.loop"]
    table = SymbolTable(syms)
    for a in addrs + [s.addr for s in syms]:
        table.lookup(a)
        table.symbolize(a)
        table.function_start(a)
    for s in syms:
        assert table.address_of(s.name) is not None


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_.]{0,12}", fullmatch=True),
                       st.integers(0x7C00, 0x7DFF), max_size=8))
def test_read_elf_symbols_valid_files(symbols):
    """Any well-formed file: every symbol defined in its .text comes back."""
    data = make_elf([(name, addr, 0x10, 1) for name, addr in symbols.items()])
    syms = read_elf_symbols(data)
    assert {(s.name, s.addr) for s in syms} == set(symbols.items())
    for name, addr in symbols.items():
        assert SymbolTable(syms).address_of(name) == addr


# ---- stack depth scan --------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 0xFFFF), st.integers(0, 80),
       st.sampled_from([16, 32, 64]))
def test_stack_delta_random(code, start, off, bits):
    d = stack_delta(code, start, start + off, bits)
    assert d is None or isinstance(d, int)
    if off == 0:
        assert d == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["push", "pop", "pushf", "sub"]), max_size=12),
       st.sampled_from([16, 32, 64]))
def test_stack_delta_counts_straight_line_code(ops, bits):
    """Positive check: pushes, pops and 'sub sp' of known sizes give their exact sum."""
    width = bits // 8
    code, want = b"", 0
    for op in ops:
        if op == "push":
            code, want = code + b"\x50", want + width       # push ax/eax/rax
        elif op == "pop":
            code, want = code + b"\x5b", want - width       # pop bx/ebx/rbx
        elif op == "pushf":
            code, want = code + b"\x9c", want + width
        else:                                               # sub sp/esp/rsp, 8
            code = code + (b"\x48" if bits == 64 else b"") + b"\x83\xec\x08"
            want += 8
    assert stack_delta(code + b"\x90" * 15, 0x1000, 0x1000 + len(code), bits) == want
