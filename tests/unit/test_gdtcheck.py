"""fj gdt's check of loaded selectors against their GDT entries (SDM Vol. 3A §3.4.3):
Linux's GDT pointer in slot 0 is no problem; a changed or foreign table is."""
import struct

from hypothesis import given, settings, strategies as st

from fjgdb.decoders.descriptors import decode_gdt, segment_from_cache
from fjgdb.decoders.gdtcheck import selector_mismatches

CODE64 = 0x00AF9B000000FFFF     # flat 64-bit code, accessed
DATA = 0x00CF93000000FFFF       # flat data, accessed
CODE32 = 0x00CF9A000000FFFF     # flat 32-bit code, not accessed
TSS64 = (0x00008B0000000067 | (0x1000 << 16), 0)   # busy TSS at 0x1000, limit 0x67


def gdt(*entries) -> bytes:
    return b"".join(struct.pack("<Q", e) for e in entries)


def cache(name, sel, raw, long_mode=True):
    base = (raw >> 16 & 0xFFFFFF) | (raw >> 56 & 0xFF) << 24
    limit = (raw & 0xFFFF) | (raw >> 48 & 0xF) << 16
    if raw >> 55 & 1:
        limit = limit << 12 | 0xFFF
    return segment_from_cache(name, sel, base, limit, raw >> 32, long_mode)


def segs(**kw):
    return {n: cache(n, *v) for n, v in kw.items()}


def test_linux_slot0_pointer_is_fine():
    data = gdt(0x0000_FFFF_8000_1000_007F, CODE64, DATA, *TSS64)  # slot 0: a pointer
    table = decode_gdt(data, 0x1000, len(data) - 1, True)
    s = segs(cs=(0x08, CODE64 & ~(1 << 40)), ss=(0x10, DATA), ds=(0, 0), tr=(0x18, TSS64[0]))
    assert selector_mismatches(table, s, True) == []


def test_changed_entry_warns():
    data = gdt(0, CODE32, DATA)
    table = decode_gdt(data, 0x1000, len(data) - 1, False)
    # CS loaded from a 16-bit code descriptor that has since been rewritten as 32-bit
    cs16 = 0x000F9A000000FFFF
    out = selector_mismatches(table, segs(cs=(0x08, cs16, False), ds=(0x10, DATA, False)),
                              False)
    assert len(out) == 1 and out[0].startswith("CS=0x0008: GDT entry 1 disagrees")
    assert "D/B 1 vs 0" in out[0] and "G 1 vs 0" in out[0] and "limit 0xffffffff vs 0xffff" \
        in out[0]
    # a selector beyond the limit, and an empty entry
    out = selector_mismatches(decode_gdt(gdt(0, 0), 0, 15, False),
                              segs(ds=(0x08, DATA, False), es=(0x18, DATA, False)), False)
    assert "the entry is empty" in out[0] and "beyond the GDT limit" in out[1]


def test_fs_gs_base_from_msr_in_long_mode():
    table = decode_gdt(gdt(0, CODE64, DATA), 0, 23, True)
    fs = segment_from_cache("fs", 0x10, 0x7F00_0000_1000, 0xFFFFFFFF, DATA >> 32, True)
    assert selector_mismatches(table, {"fs": fs}, True) == []
    assert "base 0x0 vs 0x7f0000001000" in selector_mismatches(table, {"fs": fs}, False)[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8), st.booleans(),
       st.integers(1, 7))
def test_cache_loaded_from_its_entry_agrees(entries, long_mode, index):
    """Positive check: a cache built from the very entry it names never warns."""
    entries = [0] + [e | 1 << 44 for e in entries]     # code/data: 8 bytes each
    index = index % len(entries) or 1
    raw = entries[index] | 1 << 44 | 1 << 47          # a present code/data descriptor
    entries[index] = raw
    table = decode_gdt(gdt(*entries), 0, len(entries) * 8 - 1, long_mode)
    s = {"ds": cache("ds", index * 8, raw, long_mode)}
    assert selector_mismatches(table, s, long_mode) == []
