"""CPU mode classification (SDM Vol. 3A §2.2, Figure 2-3; §5.2.1)."""


from fjgdb.decoders.descriptors import real_mode_segment, segment_from_cache
from fjgdb.decoders.mode import cpu_mode

CS32 = segment_from_cache("cs", 0x08, 0, 0xFFFFFFFF, 0x00CF9B00)  # D=1
CS16 = segment_from_cache("cs", 0x08, 0, 0xFFFF, 0x00009B00)      # D=0
CS64 = segment_from_cache("cs", 0x08, 0, 0xFFFFFFFF, 0x00AF9B00)  # L=1
EFER_LONG = 0xD00  # LME (8) | LMA (10) | NXE (11)


def test_real():
    # reset state: CR0 = 0x60000010 (PE=0)
    m = cpu_mode(0x60000010, 0, 0, real_mode_segment("cs", 0xF000))
    assert (m.mode, m.bits, m.submode, m.pe) == ("real", 16, None, False)


def test_protected_16_and_32():
    m = cpu_mode(0x11, 0, 0, CS16)
    assert (m.mode, m.bits) == ("protected", 16)
    m = cpu_mode(0x11, 0, 0, CS32)
    assert (m.mode, m.bits, m.paging) == ("protected", 32, False)
    # selector value does not matter, only the cached D bit
    m = cpu_mode(0x11, 0, 0, segment_from_cache("cs", 0xF000, 0, 0xFFFF,
                                                0x00409B00))
    assert m.bits == 32


def test_long_64_and_compat():
    # CR0 = PG|WP|NE|ET|MP|PE, CR4 = PAE|... (OVMF values)
    m = cpu_mode(0x80010033, 0x660, EFER_LONG, CS64)
    assert (m.mode, m.bits, m.submode) == ("long", 64, "64-bit")
    assert m.paging and m.wp and m.pae and m.lme and m.lma and m.nxe
    assert not m.la57 and not m.pse
    m = cpu_mode(0x80000011, 0x20, 0x500, CS32)
    assert (m.mode, m.bits, m.submode) == ("long", 32, "compatibility")
    m = cpu_mode(0x80000011, 0x20, 0x500, CS16)
    assert (m.mode, m.bits, m.submode) == ("long", 16, "compatibility")
    assert "compatibility" in str(m)
    # LME=1 but LMA=0 (paging not yet on): still protected mode
    m = cpu_mode(0x11, 0x20, 0x100, CS64)
    assert m.mode == "protected" and m.lme and not m.lma


def test_v86_and_unknown_cs():
    m = cpu_mode(0x11, 0, 0, CS32, eflags=1 << 17)
    assert (m.mode, m.bits) == ("virtual-8086", 16)
    assert cpu_mode(0x11, 0, 0, None).bits is None
    d = cpu_mode(0x80000011, 0x20, 0x500, None).to_dict()
    assert d["mode"] == "long" and d["bits"] is None
