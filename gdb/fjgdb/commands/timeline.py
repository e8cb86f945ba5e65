"""fj timeline: the boot timeline from struct boot_info in guest memory."""
from __future__ import annotations

from ..decoders.timeline import BOOTINFO_ADDR, BOOTINFO_SIZE, decode_timeline
from ..render.timeline import format_timeline
from ..target.state import STATE
from .base import FjCommand, emit_json, out


class FjTimeline(FjCommand):
    """Boot timeline: TSC stamps of each boot step, from struct boot_info in guest memory.

Usage: fj timeline [ADDR] [--json]
Reads struct boot_info (src/bootinfo.h) at physical ADDR (default 0x5000, BOOTINFO_ADDR)
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
        tl = decode_timeline(STATE.read_phys(addr, BOOTINFO_SIZE))
        if opts.json:
            doc = {"address": addr}
            doc.update(tl.to_dict())
            emit_json(doc)
        else:
            out(format_timeline(tl))
