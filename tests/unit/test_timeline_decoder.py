"""The boot-timeline decoder (struct boot_info's TSC stamps, contracts/bootinfo.h)."""

import re
import struct

import farjump_contracts as fc
import pytest
from hypothesis import given, settings, strategies as st

from fjgdb.decoders.errors import DecodeError
from fjgdb.decoders.timeline import (
    BOOTINFO_MAGIC, BOOTINFO_SIZE, EVENTS, OFF_RECORDED, OFF_TSC, OFF_TSC_HZ, STEPS,
    decode_timeline)
from fjgdb.render.timeline import format_timeline



def boot_info(stamps, hz=0, recorded=None, size=BOOTINFO_SIZE, magic=BOOTINFO_MAGIC):
    """Bytes of a struct boot_info whose timeline holds *stamps* (None = not recorded)."""
    buf = bytearray(BOOTINFO_SIZE)
    struct.pack_into("<II", buf, 0, magic, size)
    mask = 0
    for i, t in enumerate(stamps):
        if t is not None:
            struct.pack_into("<Q", buf, OFF_TSC + 8 * i, t)
            mask |= 1 << i
    struct.pack_into("<I", buf, OFF_RECORDED, mask if recorded is None else recorded)
    struct.pack_into("<Q", buf, OFF_TSC_HZ, hz)
    return bytes(buf)


def test_layout_matches_the_c_header():
    """The decoder's offsets and events against the contract generated from
    contracts/bootinfo.h (build/gen/farjump_contracts.py)."""
    assert [name[3:].lower() for _, name, _ in fc.TIMELINE_EVENTS] == list(EVENTS)
    assert list(fc.TIMELINE_NAMES) == list(EVENTS)
    assert [i for i, _, _ in fc.TIMELINE_EVENTS] == list(range(len(EVENTS)))
    assert [text for _, _, text in fc.TIMELINE_EVENTS[1:]] == [STEPS[e] for e in EVENTS[1:]]
    fields = {name: (off, size) for name, off, size in fc.BOOTINFO_FIELDS}
    for field, off in (("timeline_recorded", OFF_RECORDED), ("tsc_hz", OFF_TSC_HZ),
                       ("timeline_tsc", OFF_TSC)):
        assert fields[field][0] == off
    assert fc.BOOTINFO_SIZE == BOOTINFO_SIZE and fc.BOOTINFO_MAGIC == BOOTINFO_MAGIC
    assert fields["timeline_tsc"][1] == 8 * fc.BOOTINFO_TIMELINE_MAX == 8 * len(EVENTS)
    assert {n[3:].lower(): t for _, n, t in fc.TIMELINE_EVENTS if t} == STEPS


def test_complete_timeline_with_rate():
    stamps = [1000, 3000, 7000, 7100, 7200, 9000, 9050, 12000]
    tl = decode_timeline(boot_info(stamps, hz=1_000_000))
    assert tl.complete and tl.monotonic and not tl.problems
    assert [(s.start, s.end, s.cycles) for s in tl.steps] == [
        (a, b, y - x) for a, b, x, y in zip(EVENTS, EVENTS[1:], stamps, stamps[1:])]
    assert tl.steps[0].what == STEPS["a20_e820"]
    assert tl.steps[1].us == pytest.approx(4000.0)
    assert tl.total_cycles == 11000 and tl.total_us == pytest.approx(11000.0)
    doc = tl.to_dict()
    assert doc["steps"][0] == {"from": "stage2_start", "to": "a20_e820",
                               "what": STEPS["a20_e820"], "cycles": 2000, "us": 2000.0}
    assert [e["tsc"] for e in doc["events"]] == stamps and doc["recorded"] == 0xFF
    text = format_timeline(tl)
    assert "1 MHz" in text and re.search(r"kernel_read\s+4000 cycles\s+4000 us", text)
    assert re.search(r"total\s+11000 cycles\s+11000 us\s+stage2_start to hello", text)


def test_partial_timeline_at_kernel_main_has_no_rate_yet():
    stamps = [10, 20, 30, 40, 50, 60, None, None]
    tl = decode_timeline(boot_info(stamps))
    assert not tl.complete and tl.monotonic
    assert [s.end for s in tl.steps] == list(EVENTS[1:6])
    assert all(s.us is None for s in tl.steps) and tl.total_us is None
    assert tl.total_cycles == 50
    text = format_timeline(tl)
    assert "not recorded (yet): kernel_main, hello" in text
    assert "rate not known yet" in text and " us " not in text


def test_gap_is_bridged_and_said():
    stamps = [10, None, 30, 40, 50, 60, 70, 80]
    tl = decode_timeline(boot_info(stamps))
    assert tl.steps[0].start == "stage2_start" and tl.steps[0].end == "kernel_read"
    assert "not recorded" in tl.steps[0].what and tl.steps[0].cycles == 20


def test_backwards_tsc_is_a_problem_not_a_negative_step():
    stamps = [100, 200, 150, 300, 400, 500, 600, 700]
    tl = decode_timeline(boot_info(stamps))
    assert not tl.monotonic and tl.total_cycles is None
    assert any("backwards at kernel_read" in p for p in tl.problems)
    assert all(s.cycles >= 0 for s in tl.steps)
    assert "problem: TSC went backwards" in format_timeline(tl)


def test_unknown_bits_are_reported():
    tl = decode_timeline(boot_info([1] * 8, recorded=0x1FF))
    assert any("unknown events" in p for p in tl.problems)


@pytest.mark.parametrize("data, message", [
    (b"\0" * 4, "too few"),
    (boot_info([1] * 8, magic=0), "no boot_info"),
    (boot_info([1] * 8, size=0x628), "too small to hold a timeline"),
    (boot_info([1] * 8)[:0x640], "the timeline needs"),
])
def test_errors_are_one_line(data, message):
    with pytest.raises(DecodeError) as e:
        decode_timeline(data)
    assert message in str(e.value) and "\n" not in str(e.value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 2**64 - 1)), min_size=8, max_size=8),
       st.integers(0, 2**64 - 1))
def test_any_bytes_decode_without_crashing(stamps, hz):
    tl = decode_timeline(boot_info(stamps, hz=hz))
    assert len(tl.events) == len(EVENTS)
    assert all(s.cycles >= 0 for s in tl.steps)
    recorded = [t for t in stamps if t is not None]
    if len(recorded) >= 2 and tl.monotonic:
        assert sum(s.cycles for s in tl.steps) == recorded[-1] - recorded[0]
    format_timeline(tl)
    tl.to_dict()
