"""fj timeline: the boot timeline from struct boot_info in guest memory."""
from __future__ import annotations

from ..decoders.timeline import (BOOTINFO_ADDR, BOOTINFO_MAGIC, BOOTINFO_SIZE, NoBootInfo,
                                  decode_timeline)
from ..render.timeline import format_timeline
from ..target.errors import FjError, NotConnected
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjTimeline(FjCommand):
    """Boot timeline: TSC stamps of each boot step, from struct boot_info in guest memory.

Usage: fj timeline [ADDR] [--json]
Reads struct boot_info (contracts/bootinfo.h) at physical ADDR (default 0x5000, BOOTINFO_ADDR)
and shows the cost of each step between the transitions stage 2, the loader and the
kernel stamp with RDTSC: stage2_start, a20_e820, kernel_read, pm_entry, lm_entry,
elf_loaded, kernel_main, hello (stage 1 has no room for a stamp). Cycles always;
microseconds once the kernel has measured the TSC rate against the ACPI PM timer (at
Hello World!). Under QEMU TCG the guest TSC is the host's TSC, so microseconds are host
time; under Bochs they are emulated time. Works at any stop: events not reached yet are
listed as not recorded.
JSON: {"address", "tsc_hz", "recorded", "complete", "monotonic", "events": [{"index",
"name", "recorded", "tsc"}], "steps": [{"from", "to", "what", "cycles", "us"}],
"total_cycles", "total_us", "problems"}"""

    name = "timeline"

    def add_arguments(self, parser):
        parser.add_argument("addr", nargs="*")

    def run(self, opts, from_tty):
        addr = STATE.eval_address(" ".join(opts.addr)) if opts.addr else BOOTINFO_ADDR
        ram = STATE.ram_size()
        if addr >> 52 or (ram is not None and ram <= 0xB0000000
                          and addr + BOOTINFO_SIZE > ram):
            raise FjError(f"0x{addr:x} is outside guest RAM"
                          + (f" (which ends at 0x{ram:x})" if ram is not None else "")
                          + ": no boot_info there")
        try:
            data = STATE.read_phys(addr, BOOTINFO_SIZE)
        except NotConnected:
            raise
        except FjError as e:
            raise FjError(f"cannot read a boot_info at physical 0x{addr:x}: {e}") from None
        if addr == BOOTINFO_ADDR and data == STATE.boot_info_before_reset \
                and int.from_bytes(data[:4], "little") == BOOTINFO_MAGIC:
            raise FjError(f"the boot_info at 0x{addr:x} is the previous boot's (memory "
                          "survives fj reset): this boot's stage 2 has not written it yet")
        try:
            tl = decode_timeline(data)
        except NoBootInfo as e:
            if addr == BOOTINFO_ADDR and STATE.resolve("stage2_start") is None:
                raise FjError(f"no boot timeline at physical 0x{addr:x}: fj timeline reads "
                              "the record farjump's own loader writes while it boots "
                              "(boot_info, magic \"FJBI\"); this guest was not booted by "
                              "farjump's loader, or not yet (farjump's symbols are not "
                              "loaded either)") from None
            if addr == BOOTINFO_ADDR:
                raise
            raise FjError(f"no boot_info at physical 0x{addr:x} (magic 0x{e.magic:08x}, "
                          f"want 0x{BOOTINFO_MAGIC:08x} \"FJBI\")") from None
        if opts.json:
            doc = {"address": addr}
            doc.update(tl.to_dict())
            emit_json(doc)
        else:
            out(format_timeline(tl))
