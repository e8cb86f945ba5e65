"""Bochs's own view of the CPU at every magic breakpoint, field by field, against farjump's
pure decoders run on raw memory dumped by the same Bochs session (writemem).

Where Bochs and the decoders legitimately disagree the test says which one the Intel SDM
supports (Vol. 3A section numbers as in the decoders' docstrings).
"""
import pytest

import bochs_output as bo
from bochs_output import BITS_OF, STOP_NAMES
from fjgdb.decoders import descriptors, idt, mode, paging, realmode
from fjgdb.render.paging import format_walk

REAL_STOPS = [n for n in STOP_NAMES if BITS_OF[n] == 16]
PAGED_STOPS = [n for n in STOP_NAMES if BITS_OF[n] == 64]


# ---- helpers ---------------------------------------------------------------------------------

def creg(rec):
    return bo.parse_creg(rec.outputs["creg"])


def sreg(rec):
    return bo.parse_sreg(rec.outputs["sreg"])


def long_mode_active(rec) -> bool:
    return creg(rec)["EFER"][1]["LMA"]


def read_table_fn(rec):
    return lambda phys: rec.read_phys(phys, 4096)


def read_linear(rec, addr: int, size: int) -> bytes:
    """Guest memory at a linear address, translated with OUR page walker when CR0.PG=1."""
    c = creg(rec)
    if not c["CR0"][1]["PG"]:
        return rec.read_phys(addr, size)
    out = b""
    while size:
        w = paging.walk(read_table_fn(rec), c["CR3"], addr, nxe=c["EFER"][1]["NXE"])
        assert w.phys is not None, f"0x{addr:x} is not mapped: {w.fault}"
        chunk = min(size, 0x1000 - (addr & 0xFFF))
        out += rec.read_phys(w.phys, chunk)
        addr, size = addr + chunk, size - chunk
    return out


def bochs_bits(d: descriptors.Descriptor) -> int:
    """The code-segment size Bochs prints: 64 only for L=1 with D=0 (SDM §5.2.1: L=1, D=1 is
    reserved and raises #GP on load), else 32 for D=1, 16 for D=0."""
    return 64 if d.long and not d.db else 32 if d.db else 16


# Bochs's names for legacy system types (bx_dbg_print_descriptor's table); '???' elsewhere.
BOCHS_UNDEFINED_LEGACY = {0x0, 0x8, 0xA, 0xD}
BOCHS_GATES = {0x4, 0x5, 0x6, 0x7, 0xC, 0xE, 0xF}


def assert_descriptor_matches(shown: dict, raw8: bytes, where: str) -> None:
    """Bochs's description of an 8-byte descriptor == farjump's decode of the same bytes."""
    ours = descriptors.decode_descriptor(raw8, 0, long_mode=False)
    if shown["kind"] == "code":
        assert ours.type == "code", where
        assert (shown["base"], shown["limit"]) == (ours.base, ours.limit), where
        assert shown["readable"] == ours.readable, where
        assert shown["conforming"] == ours.conforming, where
        assert shown["accessed"] == ours.accessed, where
        assert shown["bits"] == bochs_bits(ours), where
    elif shown["kind"] == "data":
        assert ours.type == "data", where
        assert (shown["base"], shown["limit"]) == (ours.base, ours.limit), where
        assert shown["writable"] == ours.writable, where
        assert shown["expand_down"] == ours.expand_down, where
        assert shown["accessed"] == ours.accessed, where
    elif shown["kind"] == "undefined":
        # Bochs 2.7 prints "???" with the raw dwords for a null descriptor and for the
        # reserved system types 0, 8, 0Ah, 0Dh (SDM Table 3-2).
        assert shown["raw"] == ours.raw, where
        assert ours.type == "null" or (ours.type == "system"
                                       and ours.type_bits in BOCHS_UNDEFINED_LEGACY), where
    elif shown["kind"] == "system":
        assert ours.type == "system", where
        assert shown["name"].lower() == ours.type_name.lower(), where
        if "base" in shown:   # TSS: Bochs prints base and the raw 20-bit limit
            assert (shown["base"], shown["raw_limit"]) == (ours.base, ours.raw_limit), where
        if "selector" in shown:   # a gate: selector, offset, DPL
            gate = idt.decode_gate(raw8, 0, long_mode=False)
            assert (shown["selector"], shown["dpl"]) == (gate.selector, gate.dpl), where
            if gate.gate_type == "task":
                # SDM Vol. 3A Figure 6-2: a task gate's offset fields are reserved. Bochs
                # prints them as an offset anyway; decode_gate reports 0. Both read the
                # same bytes: check Bochs's number against them.
                lo = int.from_bytes(raw8, "little")
                assert shown["offset"] == (lo & 0xFFFF) | (lo >> 48) << 16, where
            else:
                assert shown["offset"] == gate.offset, where
    else:
        raise AssertionError(f"{where}: unexpected {shown}")


# ---- GDT -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", STOP_NAMES)
def test_info_gdt_matches_decode_gdt(bochs_boot, name):
    rec = bochs_boot.stop(name)
    base, limit, shown = bo.parse_info_gdt(rec.outputs["info gdt"])
    _, tables = sreg(rec)
    assert (base, limit) == tables["gdtr"], "info gdt and sreg disagree on GDTR"
    raw = read_linear(rec, base, limit + 1)
    ours = descriptors.decode_gdt(raw, base, limit, long_mode=long_mode_active(rec))
    by_sel = {e.selector: e for e in ours.entries}
    assert shown, "Bochs printed no GDT entries"
    skipped = set()
    for sel, fields in shown:
        where = f"{name}: GDT[0x{sel:04x}] Bochs={fields}"
        if sel in skipped:
            continue
        entry = by_sel.get(sel)
        assert entry is not None, f"{where}: not decoded by decode_gdt"
        if entry.size == 16:
            # An IA-32e 16-byte LDT/TSS descriptor (SDM Vol. 3A §7.2.3, Figure 7-4; Table 3-2
            # IA-32e column: type 9/0Bh is the 64-bit TSS, with base 63:32 in the upper 8
            # bytes). Disagreement, SDM on farjump's side: Bochs 2.7's `info gdt` decodes
            # the low 8 bytes as a legacy descriptor ("32-Bit TSS (Busy) at <base 31:0>") and
            # prints the upper 8 bytes as a separate "???" entry at selector+8. decode_gdt
            # gives one "64-bit TSS" entry with the full 64-bit base.
            assert fields["kind"] == "system", where
            legacy = descriptors.system_type_name(entry.type_bits, long_mode=False)
            assert fields["name"].lower() in (entry.type_name.lower(), legacy.lower()), where
            if "base" in fields:
                assert fields["base"] == entry.base & 0xFFFFFFFF, where
                assert fields["raw_limit"] == entry.raw_limit, where
            upper = dict(shown).get(sel + 8)
            if upper is not None:      # Bochs 2.7: the upper half as its own "entry"
                assert upper == {"kind": "undefined", "raw": entry.raw_high}, where
                skipped.add(sel + 8)
            continue
        assert_descriptor_matches(fields, raw[sel:sel + 8], where)
    # Every slot inside the limit was printed (Bochs's list == ours).
    assert [s for s, _ in shown if s not in skipped] == \
        [e.selector for e in ours.entries]


def test_gdtr_is_stage2_gdt_after_lgdt(bochs_boot):
    gdt = bochs_boot.elf_symbols["stage2.elf"]["gdt"].addr
    for name in ("pm_entry", "lm_entry"):
        _, tables = sreg(bochs_boot.stop(name))
        assert tables["gdtr"][0] == gdt, name
    # The GDT described in the task: 08h code32, 10h data32, 18h code64, 20h data.
    rec = bochs_boot.stop("lm_entry")
    base, limit = sreg(rec)[1]["gdtr"]
    table = descriptors.decode_gdt(rec.read_phys(base, limit + 1), base, limit, True)
    kinds = {e.selector: (e.type, bochs_bits(e) if e.type == "code" else None)
             for e in table.entries}
    assert kinds[0x08] == ("code", 32) and kinds[0x18] == ("code", 64)
    assert kinds[0x10][0] == "data" and kinds[0x20][0] == "data"


# ---- segment registers -------------------------------------------------------------------------

@pytest.mark.parametrize("name", STOP_NAMES)
def test_sreg_caches_match_decoder_and_gdt(bochs_boot, name):
    rec = bochs_boot.stop(name)
    segs, tables = sreg(rec)
    real = not creg(rec)["CR0"][1]["PE"]
    gdt_base, gdt_limit = tables["gdtr"]
    for seg in segs.values():
        where = f"{name}: {seg.name}=0x{seg.selector:04x} dh=0x{seg.dh:08x} dl=0x{seg.dl:08x}"
        raw8 = seg.raw.to_bytes(8, "little")
        if seg.description is not None:
            assert_descriptor_matches(bo.parse_descriptor_text(seg.description), raw8, where)
        cache = descriptors.decode_descriptor(raw8, 0, long_mode=False)
        # A cache still holding a real-mode segment: everything at the real-mode stops, and
        # at pm_entry DS..SS (stage 2 reloads them only after the breakpoint). LDTR and TR
        # are never loaded, so they keep their reset values.
        real_cache = real or (seg.name in ("ldtr", "tr") and seg.selector == 0) or (
            seg.name != "cs" and seg.selector == 0 and cache.limit == 0xFFFF
            and seg.dh & 0x00FFFF00 == 0x9300)
        if real_cache:
            ours = descriptors.real_mode_segment(seg.name.replace("ldtr", "ldt"),
                                                 seg.selector)
            assert (cache.base, cache.limit) == (ours.base, ours.limit), where
            if seg.name == "cs":
                # Disagreement, SDM on Bochs's side: after reset the CS cache is "Present,
                # R/W, Accessed" (SDM Vol. 3A Table 9-1), i.e. 93h, the type of a data
                # segment, and a real-mode far jump changes only selector and base. Bochs
                # shows 93h; real_mode_segment() uses 9Bh (execute/read code) because that
                # is what QEMU shows. Real-mode code fetch does not look at these bits.
                assert seg.dh & 0x00FFFF00 == 0x9300, where
                assert ours.flags == 0x9B00
            else:
                assert seg.dh & 0x00FFFF00 == ours.flags, where
        elif seg.selector == 0:
            # A null selector loaded in 64-bit mode (allowed for DS..GS, and SS at CPL 0):
            # nothing in the GDT to compare with.
            assert long_mode_active(rec), where
        else:
            # Protected/long mode: the hidden cache must be the GDT entry the selector names
            # (as it is in memory now: the CPU set its accessed bit when loading it).
            index, ti = seg.selector >> 3, seg.selector >> 2 & 1
            assert ti == 0 and index * 8 + 7 <= gdt_limit, where
            in_memory = read_linear(rec, gdt_base + index * 8, 8)
            assert int.from_bytes(in_memory, "little") == seg.raw, where


# ---- IDT / IVT ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", STOP_NAMES)
def test_info_idt_matches_decode_idt(bochs_boot, name):
    rec = bochs_boot.stop(name)
    base, limit, shown = bo.parse_info_idt(rec.outputs["info idt"])
    assert (base, limit) == sreg(rec)[1]["idtr"]
    lm = long_mode_active(rec)
    size = 16 if lm else 8
    raw = read_linear(rec, base, limit + 1)
    ours = idt.decode_idt(raw, base, limit, long_mode=lm)
    assert [v for v, _ in shown] == [g.vector for g in ours.gates]
    for (vec, fields), gate in zip(shown, ours.gates):
        where = f"{name}: IDT[0x{vec:02x}] Bochs={fields} ours={gate}"
        entry = raw[vec * size:(vec + 1) * size]
        if not lm:
            # Outside long mode Bochs prints each 8 bytes as a legacy descriptor. In real
            # mode that is wrong: IDTR then points at the IVT of 4-byte far pointers (SDM Vol.
            # 3A §21.1.4), so these "gates" are two IVT entries each. `info ivt` and
            # decoders.realmode.decode_ivt are right (test_info_ivt_...); here we only check
            # that Bochs read the same bytes.
            assert_descriptor_matches(fields, entry, where)
            continue
        if fields["kind"] == "system" and "selector" in fields:
            assert fields["name"] == {"interrupt": "64-Bit Interrupt Gate",
                                      "trap": "64-Bit Trap Gate",
                                      "call": "64-Bit Call Gate"}[gate.gate_type], where
            assert gate.bits == 64, where
            assert (fields["selector"], fields["offset"], fields["dpl"]) == \
                (gate.selector, gate.offset, gate.dpl), where
        elif fields["kind"] == "undefined":
            assert gate.gate_type in ("empty", "reserved"), where
            assert fields["raw"] == int.from_bytes(entry, "little"), where
        elif fields["kind"] == "s=1 in 64-bit table":
            assert gate.gate_type == "reserved" and gate.raw >> 44 & 1, where
        elif fields["kind"] == "system":   # LDT / 64-bit TSS types in an IDT
            # SDM §6.14.1: only 64-bit interrupt and trap gates are valid in an IA-32e IDT.
            assert gate.gate_type == "reserved" and gate.type_bits in (0x2, 0x9, 0xB), where
        else:
            raise AssertionError(where)


def test_kernel_idt_at_final_stop(bochs_boot):
    """32 present 64-bit interrupt gates into kernel text, read through our page walker."""
    rec = bochs_boot.stop("final")
    base, limit = sreg(rec)[1]["idtr"]
    assert base == bochs_boot.elf_symbols["kernel.elf"]["idt"].addr
    gates = idt.decode_idt(read_linear(rec, base, limit + 1), base, limit, True).gates
    text_lo = min(s.addr for s in bochs_boot.symbols.values()
                  if s.type in "tT" and s.addr >= 0xFFFFFFFF80000000)
    cs = sreg(rec)[0]["cs"].selector
    assert len(gates) >= 32
    for g in gates[:32]:
        assert (g.gate_type, g.bits, g.present, g.selector) == ("interrupt", 64, True, cs), g
        assert g.offset >= text_lo, g


@pytest.mark.parametrize("name", REAL_STOPS)
def test_info_ivt_matches_decode_ivt(bochs_boot, name):
    rec = bochs_boot.stop(name)
    rows = bo.parse_info_ivt(rec.outputs["info ivt"])
    base, limit = sreg(rec)[1]["idtr"]
    assert base == 0 and limit == 0x3FF
    ours = realmode.decode_ivt(rec.read_phys(0, 1024))
    assert len(rows) == 256
    assert rows == [(e.vector, e.segment, e.offset, e.linear) for e in ours]


def test_info_ivt_refused_in_protected_mode(bochs_boot):
    for name in STOP_NAMES:
        if name not in REAL_STOPS:
            assert bo.parse_info_ivt(bochs_boot.stop(name).outputs["info ivt"]) is None


# ---- control registers and CPU mode -------------------------------------------------------------

EXPECTED_MODE = {"stage1_start": ("real", 16, None), "stage2_start": ("real", 16, None),
                 "pm_entry": ("protected", 32, None), "lm_entry": ("long", 64, "64-bit"),
                 "kernel_main": ("long", 64, "64-bit"), "final": ("long", 64, "64-bit")}
BOCHS_MODE = {"real mode": ("real", None), "protected mode": ("protected", None),
              "long mode": ("long", "64-bit"), "compatibility mode": ("long", "compatibility")}


@pytest.mark.parametrize("name", STOP_NAMES)
def test_creg_flags_and_cpu_mode(bochs_boot, name):
    rec = bochs_boot.stop(name)
    c = creg(rec)
    segs, _ = sreg(rec)
    cs_cache = descriptors.decode_descriptor(segs["cs"].raw.to_bytes(8, "little"), 0, False)
    cs = descriptors.segment_from_cache("cs", segs["cs"].selector, cs_cache.base,
                                        cs_cache.limit, segs["cs"].dh)
    eflags = bo.parse_r(rec.outputs["r"])["eflags"]
    ours = mode.cpu_mode(c["CR0"][0], c["CR4"][0], c["EFER"][0], cs, eflags)
    cr0, cr4, efer = c["CR0"][1], c["CR4"][1], c["EFER"][1]
    # Every flag Bochs names that CpuMode has.
    assert (cr0["PE"], cr0["PG"], cr0["WP"]) == (ours.pe, ours.paging, ours.wp)
    assert (cr4["PAE"], cr4["PSE"], cr4["LA57"]) == (ours.pae, ours.pse, ours.la57)
    assert (efer["LME"], efer["LMA"], efer["NXE"]) == (ours.lme, ours.lma, ours.nxe)
    assert (ours.mode, ours.bits, ours.submode) == EXPECTED_MODE[name], str(ours)
    # Bochs's own account of the mode ("show mode"): the last switch before this stop.
    switches = [s for r in bochs_boot.stops[:STOP_NAMES.index(name) + 1]
                for s in r.stop.mode_switches]
    assert switches, "no mode switch reported by Bochs"
    assert BOCHS_MODE[switches[-1][1]] == (ours.mode, ours.submode), switches[-1]
    if ours.paging:
        assert c["CR3"] == 0x10000   # PML4 at PT_BASE


def test_paging_off_at_pm_entry(bochs_boot):
    rec = bochs_boot.stop("pm_entry")
    out = bo.parse_page(rec.pages[0x7C00])
    assert not creg(rec)["CR0"][1]["PG"]
    assert out.entries == [] and out.linear_page == out.physical_page == 0x7000


# ---- paging -------------------------------------------------------------------------------------

LEVEL_OF = {"PML4": 4, "PDPE": 3, "PDE": 2, "PTE": 1}


@pytest.mark.parametrize("name", PAGED_STOPS)
def test_page_walks_match_decoder(bochs_boot, name):
    rec = bochs_boot.stop(name)
    c = creg(rec)
    assert c["EFER"][1]["NXE"], "XD is compared as NX; stage 2 enables NXE on this CPU"
    for addr in bochs_boot.page_addrs:
        shown = bo.parse_page(rec.pages[addr])
        w = paging.walk(read_table_fn(rec), c["CR3"], addr, nxe=True)
        where = f"{name}: page 0x{addr:x}\nBochs: {shown}\nours: {format_walk(w)}"
        assert [LEVEL_OF[lv] for lv, _, _ in shown.entries] == \
            [s.entry.level for s in w.steps], where
        for (lv, value, flags), step in zip(shown.entries, w.steps):
            e = step.entry
            assert value == e.value, where
            assert flags["P"] == e.present and flags["RW"] == e.writable, where
            assert flags["US"] == e.user and flags["PWT"] == e.pwt, where
            assert flags["PCD"] == e.pcd and flags["A"] == e.accessed, where
            assert flags.get("XD", False) == e.nx, where
            if lv != "PTE":
                assert flags["PS"] == bool(e.value >> 7 & 1), where
                assert flags["PS"] == e.large or lv == "PML4", where
            if e.leaf and e.present:
                assert (flags["G"], flags["PAT"], flags["D"]) == \
                    (e.global_, e.pat, e.dirty), where
        if shown.physical_page is None:
            assert w.phys is None and w.fault, where
        else:
            assert w.phys is not None, where
            assert shown.linear_page == addr & ~0xFFF, where
            assert shown.physical_page == w.phys & ~0xFFF, where


@pytest.mark.parametrize("name", PAGED_STOPS)
def test_info_tab_matches_ranges(bochs_boot, name):
    rec = bochs_boot.stop(name)
    c = creg(rec)
    cr3, shown = bo.parse_info_tab(rec.outputs["info tab"])
    assert cr3 == c["CR3"]
    pm = paging.ranges(read_table_fn(rec), cr3, nxe=c["EFER"][1]["NXE"])
    assert not pm.problems
    # Bochs merges runs that are contiguous in both spaces whatever their permissions;
    # ranges() also splits on permission changes. Merge ours the same way to compare.
    merged = []
    for r in pm.ranges:
        if merged and merged[-1][1] + 1 == r.virt and merged[-1][3] + 1 == r.phys:
            merged[-1][1] += r.size
            merged[-1][3] += r.size
        else:
            merged.append([r.virt, r.virt + r.size - 1, r.phys, r.phys + r.size - 1])
    assert [tuple(m) for m in merged] == shown


def test_kernel_sections_permissions(bochs_boot):
    """At the final stop: text RX, rodata R, data/bss RW+NX, each as Bochs's page shows it."""
    rec = bochs_boot.stop("final")
    syms = bochs_boot.elf_symbols["kernel.elf"]
    checks = {"kernel_main": (False, False),        # (writable, nx): .text
              "idt": (True, True)}                  # .bss
    for sym, (w, nx) in checks.items():
        flags = bo.parse_page(rec.pages[syms[sym].addr]).entries[-1][2]
        assert (flags["RW"], flags.get("XD", False)) == (w, nx), sym
