"""The boot timeline in struct boot_info (contracts/bootinfo.h): TSC stamps at each transition.

Stage 2, the loader and the kernel write the TSC (RDTSC) into ``timeline_tsc[event]`` and
set bit ``event`` of ``timeline_recorded``; the kernel measures the TSC rate against the
ACPI PM timer and stores it in ``tsc_hz`` (0 when unknown). Stage 1 has no room for a
stamp, so the timeline starts at stage 2. Pure: bytes in, a :class:`Timeline` out;
the layout and the event names come from the generated ``farjump_contracts``
(rendering: :mod:`fjgdb.render.timeline`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from farjump_contracts import (BOOTINFO_ADDR, BOOTINFO_FIELDS, BOOTINFO_MAGIC, BOOTINFO_SIZE,
                                TIMELINE_EVENTS)

from .errors import DecodeError

__all__ = ["BOOTINFO_ADDR", "BOOTINFO_MAGIC", "BOOTINFO_SIZE", "EVENTS", "STEPS", "OFF_RECORDED",
           "OFF_TSC_HZ", "OFF_TSC", "NoBootInfo", "Event", "Step", "Timeline", "decode_timeline"]

_OFFSETS = {name: off for name, off, _size in BOOTINFO_FIELDS}
OFF_RECORDED = _OFFSETS["timeline_recorded"]
OFF_TSC_HZ = _OFFSETS["tsc_hz"]
OFF_TSC = _OFFSETS["timeline_tsc"]

# enum timeline_event, in order ("TL_STAGE2_START" -> "stage2_start"), and what happens
# between the previous event and each one
EVENTS = tuple(name[3:].lower() for _i, name, _text in TIMELINE_EVENTS)
STEPS = {name[3:].lower(): text for _i, name, text in TIMELINE_EVENTS if text}


class NoBootInfo(DecodeError):
    """The bytes do not start with BOOTINFO_MAGIC (``magic`` is what they hold)."""

    def __init__(self, magic: int, message: str):
        super().__init__(message)
        self.magic = magic


@dataclass(frozen=True)
class Event:
    index: int
    name: str
    recorded: bool
    tsc: int | None

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "recorded": self.recorded,
                "tsc": self.tsc}


@dataclass(frozen=True)
class Step:
    start: str
    end: str
    what: str
    cycles: int
    us: float | None

    def to_dict(self) -> dict:
        return {"from": self.start, "to": self.end, "what": self.what, "cycles": self.cycles,
                "us": self.us}


@dataclass(frozen=True)
class Timeline:
    tsc_hz: int
    recorded: int
    events: tuple[Event, ...]
    steps: tuple[Step, ...] = ()
    problems: tuple[str, ...] = ()

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
        raise NoBootInfo(magic, f"no boot_info (magic 0x{magic:08x}, want 0x{BOOTINFO_MAGIC:08x} "
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
    steps, problems = [], []
    if recorded >> len(EVENTS):
        problems.append(f"unknown events recorded (mask 0x{recorded:x})")
    prev = None
    for e in events:
        if not e.recorded:
            continue
        if prev is not None:
            if e.tsc < prev.tsc:
                problems.append(f"TSC went backwards at {e.name} "
                                   f"(0x{e.tsc:x} < 0x{prev.tsc:x} at {prev.name})")
            else:
                cycles = e.tsc - prev.tsc
                us = cycles * 1e6 / tsc_hz if tsc_hz else None
                what = STEPS.get(e.name, "")
                if prev.index != e.index - 1:
                    what = f"{what} (from {prev.name}: events in between not recorded)"
                steps.append(Step(prev.name, e.name, what, cycles, us))
        prev = e
    return Timeline(tsc_hz=tsc_hz, recorded=recorded, events=tuple(events),
                    steps=tuple(steps), problems=tuple(problems))
