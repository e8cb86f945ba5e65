"""The contracts (contracts/*.h) as the build generates them for host code
(build/gen/farjump_contracts.py, via contracts/gen.c and fjqemu.gencontracts)."""
from pathlib import Path

import farjump_contracts as fc
import pytest

from fjqemu import gencontracts

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("boot", "common", "contracts", "kernel", "qemu", "gdb", "scripts", "tests")
SOURCE_SUFFIXES = {".c", ".h", ".asm", ".inc", ".ld", ".py", ""}


def sources():
    for d in SOURCE_DIRS:
        for p in (ROOT / d).rglob("*"):
            if p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts \
                    and "fixtures" not in p.parts:
                yield p


def test_exception_table_follows_the_sdm():
    assert [v for v, *_ in fc.EXCEPTIONS] == list(range(32))
    by_vector = {v: (m, n, ec) for v, m, n, ec in fc.EXCEPTIONS}
    assert by_vector[0] == ("DE", "Divide Error", False)
    assert by_vector[14] == ("PF", "Page Fault", True)
    assert by_vector[2][0] == "NMI"
    # Vector 9: no mnemonic since the 486, the SDM's name; 28-30 in the table (AMD's use).
    assert by_vector[9] == ("-", "Coprocessor Segment Overrun (reserved)", False)
    assert all(by_vector[v][1].startswith("Reserved (AMD") for v in (28, 29, 30))
    assert fc.ERROR_CODE_VECTORS == {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
    assert fc.EXCEPTION_MNEMONICS[14] == "#PF" and fc.EXCEPTION_MNEMONICS[2] == "NMI"


def test_exception_names_have_one_home():
    homes = {p.relative_to(ROOT).as_posix() for p in sources()
             if p.name != Path(__file__).name and p.parent.name != "tests"
             and any(n in p.read_text(errors="replace")
                     for n in ("Divide Error", "Coprocessor Segment Overrun"))}
    assert homes == {"contracts/exceptions.h"}


def test_no_hand_kept_mirrors():
    mirrors = [p.relative_to(ROOT).as_posix() for p in sources()
               if p.name != Path(__file__).name
               and "mirror of" in p.read_text(errors="replace").lower()]
    assert not mirrors


@pytest.mark.parametrize("fields,size", [(fc.BOOT_LAYOUT_FIELDS, fc.BOOT_LAYOUT_SIZE),
                                         (fc.BOOTINFO_FIELDS, fc.BOOTINFO_SIZE),
                                         (fc.KSYM_HEADER_FIELDS, fc.KSYM_HEADER_SIZE),
                                         (fc.KSYM_ENTRY_FIELDS, fc.KSYM_ENTRY_SIZE)])
def test_struct_fields_are_packed_in_order(fields, size):
    at = 0
    for _name, offset, fsize in fields:
        assert offset == at
        at += fsize
    assert at == size


def test_layout_regions_fit_together():
    assert fc.BOOT_LAYOUT_FIELDS[0][0] == "magic" and fc.LAYOUT_MAGIC == b"FJ"
    assert fc.STAGE2_MAGIC == b"FJS2"
    # The table sits inside the MBR, below the partition table at 1BEh.
    assert fc.STAGE1_ADDR <= fc.BOOT_LAYOUT
    assert fc.BOOT_LAYOUT_MBR_OFFSET + fc.BOOT_LAYOUT_SIZE <= 0x1BE
    assert fc.BOOTINFO_ADDR + fc.BOOTINFO_SIZE <= fc.STACK_TOP <= fc.STAGE1_ADDR
    # stage 1's disk variables (boot/disk.inc, 10 bytes): past the MBR, below stage 2
    assert fc.STAGE1_ADDR + 512 <= fc.STAGE1_VARS and fc.STAGE1_VARS + 16 <= fc.STAGE2_ADDR
    assert fc.STAGE2_ADDR < fc.STAGE2_END <= fc.PT_BASE < fc.PT_END <= fc.KERNEL_BUF
    assert fc.KERNEL_BUF < fc.KERNEL_BUF_END <= 0xA0000 <= fc.KERNEL_PHYS_MIN <= fc.KERNEL_PHYS
    assert fc.KERNEL_VMA == 0xFFFFFFFF80000000
    assert fc.BOOTINFO_E820_MAX * fc.E820_ENTRY_SIZE == dict(
        (n, s) for n, _, s in fc.BOOTINFO_FIELDS)["e820"]


def test_paging_bits():
    assert (fc.PTE_P, fc.PTE_W, fc.PTE_PS, fc.PTE_NX) == (1, 2, 0x80, 1 << 63)
    assert fc.PTE_ADDR_MASK == 0x000FFFFFFFFFF000 and fc.PTE_PAT == fc.PTE_PS


def test_timeline_events():
    assert [i for i, _, _ in fc.TIMELINE_EVENTS] == list(range(len(fc.TIMELINE_EVENTS)))
    assert fc.TIMELINE_EVENTS[0][1] == "TL_STAGE2_START"
    assert fc.TIMELINE_EVENTS[-1][1] == "TL_HELLO"
    assert len(fc.TIMELINE_EVENTS) <= fc.BOOTINFO_TIMELINE_MAX


def test_nasm_include_has_the_strucs(build):
    inc = (build / "gen" / "contracts.inc").read_text()
    for struc in ("boot_layout", "boot_info"):
        assert f"struc {struc}" in inc
    assert ".timeline_tsc:" in inc and "EXCEPTION_ERROR_CODES" in inc
    assert "KERNEL_VMA = 0xffffffff80000000;" in (build / "gen" / "layout.ld").read_text()


GOOD = "\n".join(["->CONST\tBOOTINFO_TIMELINE_MAX\t$8",
                  "->CONST\tEXCEPTION_ERROR_CODES\t$256",
                  "->STRUCT\tpair\t$8", "->FIELD\tpair\ta\t$0\t$4", "->FIELD\tpair\tb\t$4\t$4"]
                 + [f"->EXC\t${v}\t${int(v == 8)}\t-\tReserved" for v in range(32)]
                 + ["->TL\t$0\tTL_A\ta\t"])


def test_generator_accepts_consistent_markers():
    c = gencontracts.parse(GOOD)
    assert c.structs["pair"] == (8, [("a", 0, 4), ("b", 4, 4)])
    assert gencontracts.error_code_mask(c) == 1 << 8


@pytest.mark.parametrize("broken,message", [
    (GOOD.replace("->FIELD\tpair\ta\t$0\t$4\n", ""), "field b at 4, expected 0"),
    (GOOD.replace("->STRUCT\tpair\t$8", "->STRUCT\tpair\t$12"), "sizeof is 12"),
    (GOOD.replace("->EXC\t$31\t$0\t-\tReserved", ""), "vectors 0..31"),
    (GOOD.replace("EXCEPTION_ERROR_CODES\t$256", "EXCEPTION_ERROR_CODES\t$0"), "disagrees"),
    (GOOD + "\n->BOGUS\tx", "unknown marker"),
])
def test_generator_rejects_inconsistent_markers(broken, message):
    with pytest.raises(gencontracts.ContractError, match=message):
        gencontracts.parse(broken)
