"""Test-only stage 2 variants for `make why` / `fj why` (tests/test_why.py): farjump's
own stage2.bin with the selector of one far jump replaced by one past the GDT's limit.

    python3 tests/guests/triple/patch_selector.py pm|lm STAGE2_ELF STAGE2_BIN -o OUT

pm: `jmp dword SEL_CODE32:pm_entry` (16-bit code, 66 EA off32 sel16), the jump into
    protected mode; lm: `jmp SEL_CODE64:lm_entry` (32-bit code, EA off32 sel16), the jump
into long mode. Only the selector's two bytes change, so stage2.elf's symbols and line
table still describe the patched code exactly (only the constant differs). The CPU then
raises #GP(selector) (SDM Vol 3A §6.15, "Interrupt 13"); with no IDT of its own loaded yet,
delivering it fails too, and the machine triple-faults.
"""
import argparse
import struct
import sys

from elftools.elf.elffile import ELFFile

BAD_SELECTOR = 0x0040      # index 8: stage 2's GDT has 5 entries (limit 0x27)


def symbol(elf_path: str, name: str) -> int:
    with open(elf_path, "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)
    if not sym:
        sys.exit(f"patch_selector: no symbol {name} in {elf_path}")
    return sym[0]["st_value"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("which", choices=("pm", "lm"))
    ap.add_argument("elf")
    ap.add_argument("bin")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    data = bytearray(open(a.bin, "rb").read())
    if a.which == "pm":
        jump = b"\x66\xea" + struct.pack("<IH", symbol(a.elf, "pm_entry"), 0x08)
    else:
        jump = b"\xea" + struct.pack("<IH", symbol(a.elf, "lm_entry"), 0x18)
    at = data.find(jump)
    if at < 0 or data.find(jump, at + 1) >= 0:
        sys.exit(f"patch_selector: the {a.which} far jump is not in {a.bin} exactly once")
    data[at + len(jump) - 2:at + len(jump)] = struct.pack("<H", BAD_SELECTOR)
    open(a.output, "wb").write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
