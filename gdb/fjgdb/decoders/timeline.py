"""The boot timeline in struct boot_info (src/bootinfo.h): TSC stamps at each transition.

Stage 2, the loader and the kernel write the TSC (RDTSC) into ``timeline_tsc[event]`` and
set bit ``event`` of ``timeline_recorded``; the kernel measures the TSC rate against the
ACPI PM timer and stores it in ``tsc_hz`` (0 when unknown). Stage 1 has no room for a
stamp, so the timeline starts at stage 2. Pure: bytes in, a :class:`Timeline` out.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .errors import DecodeError

BOOTINFO_ADDR = 0x5000
BOOTINFO_MAGIC = 0x494A4246          # "FJBI"
OFF_RECORDED = 0x628
OFF_TSC_HZ = 0x630
OFF_TSC = 0x638
BOOTINFO_SIZE = 0x678                # sizeof(struct boot_info) with the timeline

# enum timeline_event, in order, and what happens between the previous event and each one
EVENTS = ("stage2_start", "a20_e820", "kernel_read", "pm_entry", "lm_entry", "elf_loaded",
          "kernel_main", "hello")
STEPS = {
    "a20_e820": "COM1, A20, E820, CPU check",
    "kernel_read": "kernel file read (INT 13h)",
    "pm_entry": "GDT, to protected mode",
    "lm_entry": "identity map, to long mode",
    "elf_loaded": "ELF checked, copied, mapped",
    "kernel_main": "jump to the kernel, _start",
    "hello": "console, GDT/IDT, report",
}


@dataclass
class Event:
    index: int
    name: str
    recorded: bool
    tsc: int | None

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "recorded": self.recorded,
                "tsc": self.tsc}


@dataclass
class Step:
    start: str
    end: str
    what: str
    cycles: int
    us: float | None

    def to_dict(self) -> dict:
        return {"from": self.start, "to": self.end, "what": self.what, "cycles": self.cycles,
                "us": self.us}


@dataclass
class Timeline:
    tsc_hz: int
    recorded: int
    events: list[Event]
    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def monotonic(self) -> bool:
        stamps = [e.tsc for e in self.events if e.recorded]
        return all(a <= b for a, b in zip(stamps, stamps[1:]))

    @property
    def complete(self) -> bool:
        return all(e.recorded for e in self.events)

    @property
    def total_cycles(self) -> int | None:
        stamps = [e.tsc for e in self.events if e.recorded]
        if len(stamps) < 2 or not self.monotonic:
            return None
        return stamps[-1] - stamps[0]

    @property
    def total_us(self) -> float | None:
        total = self.total_cycles
        return None if total is None or not self.tsc_hz else total * 1e6 / self.tsc_hz

    def to_dict(self) -> dict:
        return {"tsc_hz": self.tsc_hz, "recorded": self.recorded,
                "complete": self.complete, "monotonic": self.monotonic,
                "events": [e.to_dict() for e in self.events],
                "steps": [s.to_dict() for s in self.steps],
                "total_cycles": self.total_cycles, "total_us": self.total_us,
                "problems": list(self.problems)}


def decode_timeline(data: bytes) -> Timeline:
    """The timeline from the bytes of a struct boot_info (at least BOOTINFO_SIZE of them)."""
    data = bytes(data)
    if len(data) < 8:
        raise DecodeError(f"{len(data)} bytes are too few for a boot_info header")
    magic, size = struct.unpack_from("<II", data, 0)
    if magic != BOOTINFO_MAGIC:
        raise DecodeError(f"no boot_info (magic 0x{magic:08x}, want 0x{BOOTINFO_MAGIC:08x} "
                          "\"FJBI\"): stage 2 has not written it yet")
    if size < BOOTINFO_SIZE:
        raise DecodeError(f"boot_info is {size} bytes, too small to hold a timeline "
                          f"({BOOTINFO_SIZE}): a loader from before the timeline?")
    if len(data) < BOOTINFO_SIZE:
        raise DecodeError(f"{len(data)} bytes of boot_info given, the timeline needs "
                          f"{BOOTINFO_SIZE}")
    recorded, = struct.unpack_from("<I", data, OFF_RECORDED)
    tsc_hz, = struct.unpack_from("<Q", data, OFF_TSC_HZ)
    stamps = struct.unpack_from(f"<{len(EVENTS)}Q", data, OFF_TSC)
    events = [Event(i, name, bool(recorded >> i & 1), stamps[i] if recorded >> i & 1 else None)
              for i, name in enumerate(EVENTS)]
    tl = Timeline(tsc_hz=tsc_hz, recorded=recorded, events=events)
    if recorded >> len(EVENTS):
        tl.problems.append(f"unknown events recorded (mask 0x{recorded:x})")
    prev = None
    for e in events:
        if not e.recorded:
            continue
        if prev is not None:
            if e.tsc < prev.tsc:
                tl.problems.append(f"TSC went backwards at {e.name} "
                                   f"(0x{e.tsc:x} < 0x{prev.tsc:x} at {prev.name})")
            else:
                cycles = e.tsc - prev.tsc
                us = cycles * 1e6 / tsc_hz if tsc_hz else None
                what = STEPS.get(e.name, "")
                if prev.index != e.index - 1:
                    what = f"{what} (from {prev.name}: events in between not recorded)"
                tl.steps.append(Step(prev.name, e.name, what, cycles, us))
        prev = e
    return tl


def format_timeline(tl: Timeline) -> str:
    """Text like the kernel's report: one line per step, then the total."""
    if tl.tsc_hz:
        head = (f"boot timeline: TSC at {tl.tsc_hz / 1e6:.0f} MHz (measured by the kernel "
                "against the ACPI PM timer); stage 1 is not timed")
    else:
        head = "boot timeline: TSC cycles (rate not known yet: the kernel measures it at Hello World!)"
    lines = [head]
    for s in tl.steps:
        us = f"{s.us:9.0f} us" if s.us is not None else " " * 12
        lines.append(f"  {s.end:<12} {s.cycles:>12} cycles {us}  {s.what}")
    if tl.total_cycles is not None:
        us = f"{tl.total_us:9.0f} us" if tl.total_us is not None else " " * 12
        last = [e.name for e in tl.events if e.recorded][-1]
        lines.append(f"  {'total':<12} {tl.total_cycles:>12} cycles {us}  "
                     f"stage2_start to {last}")
    missing = [e.name for e in tl.events if not e.recorded]
    if missing:
        lines.append(f"not recorded (yet): {', '.join(missing)}")
    for p in tl.problems:
        lines.append(f"problem: {p}")
    return "\n".join(lines)
