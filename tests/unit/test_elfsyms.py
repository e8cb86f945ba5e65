"""ELF64 symbol tables: address -> symbol for NASM labels GDB cannot look up by address."""
import struct

import pytest

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.elfsyms import SymbolTable, read_elf_symbols


def make_elf(symbols, text_addr=0x7C00, text_size=0x200):
    """A minimal ELF64: null, .text (alloc), .symtab, .strtab, .shstrtab sections.
    *symbols*: (name, value, info, shndx[, size])."""
    strtab = b"\0"
    entries = [b"\0" * 24]
    for name, value, info, shndx, *size in symbols:       # an optional 5th: st_size
        off = len(strtab)
        strtab += name.encode() + b"\0"
        entries.append(struct.pack("<IBBHQQ", off, info, 0, shndx, value,
                                   size[0] if size else 0))
    symtab = b"".join(entries)
    shstr = b"\0.text\0.symtab\0.strtab\0.shstrtab\0"
    body = symtab + strtab + shstr
    shoff = 64 + len(body)
    hdr = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    hdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 5, 4)
    sh = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    sh.append(struct.pack("<IIQQQQIIQQ", 1, 1, 6, text_addr, 0, text_size, 0, 0, 16, 0))
    sh.append(struct.pack("<IIQQQQIIQQ", 7, 2, 0, 0, 64, len(symtab), 3, 1, 8, 24))
    sh.append(struct.pack("<IIQQQQIIQQ", 15, 3, 0, 0, 64 + len(symtab), len(strtab),
                          0, 0, 1, 0))
    sh.append(struct.pack("<IIQQQQIIQQ", 23, 3, 0, 0, 64 + len(symtab) + len(strtab),
                          len(shstr), 0, 0, 1, 0))
    return hdr + body + b"".join(sh)


GLOBAL_NOTYPE, LOCAL_NOTYPE, SECTION = 0x10, 0x00, 0x03


@pytest.fixture
def table():
    data = make_elf([("stage1_start", 0x7C00, GLOBAL_NOTYPE, 1),
                     ("normalised", 0x7C07, LOCAL_NOTYPE, 1),
                     ("print", 0x7C50, LOCAL_NOTYPE, 1),
                     ("print.loop", 0x7C51, LOCAL_NOTYPE, 1),
                     ("STACK_TOP", 0x7C00, GLOBAL_NOTYPE, 0xFFF1),   # ABS: dropped
                     ("", 0x7C00, SECTION, 1)])
    return SymbolTable(read_elf_symbols(data))


def test_lookup_and_symbolize(table):
    assert len(table) == 4
    assert table.symbolize(0x7C00) == "stage1_start"
    assert table.symbolize(0x7C09) == "normalised+0x2"
    assert table.symbolize(0x7C53) == "print.loop+0x2"
    assert table.symbolize(0x7BFF) is None            # before every symbol
    assert table.symbolize(0x7E00) is None            # past the end of .text
    assert table.address_of("normalised") == 0x7C07
    assert table.address_of("STACK_TOP") is None


def test_function_start_skips_local_labels(table):
    assert table.function_start(0x7C53).name == "print"
    assert table.function_start(0x7C07).name == "normalised"
    assert table.function_start(0x7E00) is None


def test_not_elf():
    with pytest.raises(DecodeError):
        read_elf_symbols(b"MZ" + b"\0" * 100)


def test_data_objects_inside_code():
    """NASM 'global name:data size' in an executable section (stage 2's header): the
    disassembler shows those bytes as data. A sized function or a label is not data."""
    table = SymbolTable(read_elf_symbols(make_elf([
        ("stage2_start", 0x7C00, GLOBAL_NOTYPE, 1),
        ("stage2_header_data", 0x7C04, 0x11, 1, 12),      # GLOBAL OBJECT, 12 bytes
        ("stage2_main", 0x7C10, 0x12, 1, 0x40)])))        # GLOBAL FUNC
    assert table.code_data_at(0x7C03) is None
    assert [table.code_data_at(a).name for a in (0x7C04, 0x7C0F)] == ["stage2_header_data"] * 2
    assert table.code_data_at(0x7C10) is None and table.code_data_at(0x7C20) is None
