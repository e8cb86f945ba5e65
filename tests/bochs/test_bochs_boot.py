"""build/disk.img boots in Bochs: every magic breakpoint is reached, in order, at the address
the ELF files say, and the kernel's "Hello World!" is in VGA memory and on COM1."""
import re

import bochs_output as bo
from bochs_output import STOP_NAMES
from fjgdb.decoders import paging, vga


def test_six_magic_breakpoints_in_boot_order(bochs_boot):
    # Exactly the six stops, all magic breakpoints (no PANIC, no other stop in between).
    assert [s.name for s in bochs_boot.stops] == list(STOP_NAMES)
    assert all(s.stop.magic for s in bochs_boot.stops)
    assert bochs_boot.transcript.count("(0) Magic breakpoint") == len(STOP_NAMES)
    ticks = [s.stop.ticks for s in bochs_boot.stops]
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)


def test_each_stop_is_right_after_its_xchg_bx_bx(bochs_boot):
    """Which stop is which: RIP (from `r`) and the address in the stop line equal the address
    after the `xchg bx, bx` found by disassembling the ELF, and Bochs, with build/bochs.sym
    loaded, names it symbol+2 (87 DB) or symbol+3 (66 87 DB)."""
    for rec in bochs_boot.stops:
        addr, label = bochs_boot.expected[rec.name]
        rip = bo.parse_r(rec.outputs["r"])["rip"]
        assert rip == addr, f"{rec.name}: rip 0x{rip:x}, expected 0x{addr:x} ({label})"
        assert rec.stop.ip == addr, rec.name
        assert rec.stop.label == label, rec.name
    # The first four are exactly at symbol + size of the instruction.
    labels = [bochs_boot.expected[n][1] for n in STOP_NAMES[:4]]
    assert labels == ["stage1_start+2", "stage2_start+2", "pm_entry+3", "lm_entry+3"]


def test_bytes_before_each_stop_are_the_magic_instruction(bochs_boot):
    """Guest memory (Bochs's writemem dump) right before the stop holds 87 DB / 66 87 DB; the
    physical address in the stop line is where our page walker puts RIP."""
    for rec in bochs_boot.stops:
        c = bo.parse_creg(rec.outputs["creg"])
        rip = rec.stop.ip
        if c["CR0"][1]["PG"]:
            w = paging.walk(lambda p: rec.read_phys(p, 4096), c["CR3"], rip)
            phys = w.phys
        else:
            segs, _ = bo.parse_sreg(rec.outputs["sreg"])
            phys = segs["cs"].selector * 16 + rip if not c["CR0"][1]["PE"] else rip
        assert rec.stop.linear == phys, rec.name
        size = 2 if rec.name in ("stage1_start", "stage2_start") else 3
        want = b"\x87\xdb" if size == 2 else b"\x66\x87\xdb"
        assert rec.read_phys(phys - size, size) == want, rec.name


def test_vga_text_buffer_has_hello_world(bochs_boot):
    """writemem of 0xb8000 at the final stop, decoded with decoders.vga."""
    screen = vga.decode_text(bochs_boot.vga)
    assert "Hello World!" in screen.lines(), "\n".join(screen.lines())
    # The same bytes as the 2 MiB dump and as Bochs's own `xp` of 0xb8000.
    final = bochs_boot.stop("final")
    assert bochs_boot.vga == final.read_phys(0xB8000, len(bochs_boot.vga))
    xp = [int(b, 16) for b in re.findall(r"\t(0x[0-9a-f]{2})", bochs_boot.vga_xp)]
    assert len(xp) == 24 and bytes(xp) == bochs_boot.vga[:24]


def test_serial_has_hello_world(bochs_boot):
    assert "Hello World!" in bochs_boot.serial
    assert "memory map (BIOS E820" in bochs_boot.serial


def test_no_panic_or_error_in_bochs_log(bochs_boot):
    log = (bochs_boot.outdir / "boot.bochs.log").read_text(errors="replace")
    bad = [line for line in log.splitlines() if re.match(r"^\d+[pe]\[", line)
           and "autodetection enabled" not in line]
    assert not bad, "\n".join(bad)
