"""The per-stop cache's fast path (gdb/fjgdb/target/fastpath.py) against the plain path
(`fj-always-refresh`: 'monitor info registers' and fresh memory reads at every stop):
tests/gdb/fastpath_driver.py steps with the context panel on through farjump's boot
transitions (stage 1 in real mode, to pm_entry, through compatibility mode to lm_entry,
into the kernel), through the test guest's (tests/guests/modes: real, 32-bit paging, PAE,
compatibility, 64-bit, 5-level paging, CPL 3) and on an AP of an SMP boot with every
thread compared at every stop; 'fj mode --json', 'fj seg --json', the panel, 'x/3i $pc',
'bt 2' and the whole register snapshot must be the same on both paths at every stop,
and the fast path must have been taken; a fast snapshot's general registers (read
lazily) are refused once the guest has run again. In a replay (reverse execution) it must never be
taken, also after farjump's reverse-stepi."""
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from fjqemu import ROOT
from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM

DRIVER = Path(__file__).with_name("fastpath_driver.py")


def elf_symbol(path, name):
    with open(path, "rb") as f:
        for sym in ELFFile(f).get_section_by_name(".symtab").iter_symbols():
            if sym.name == name:
                return sym["st_value"]
    raise KeyError(name)


def stage2_pm_switch(build):
    """The `cli` before `lgdt [gdt_descriptor]` in stage 2 (real mode)."""
    elf = build / "stage2.elf"
    gdtr = elf_symbol(elf, "gdt_descriptor")
    with open(elf, "rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        data, base = text.data(), text["sh_addr"]
    at = data.find(b"\xfa\x0f\x01\x16" + gdtr.to_bytes(2, "little"))
    assert at >= 0, "no 'cli; lgdt [gdt_descriptor]' in stage 2"
    return base + at


def check(r, modes, min_fast):
    assert not r["errors"], r["errors"]
    assert not r["mismatches"], r["mismatches"][:3]
    seen = set(r["modes"])
    for m in modes:
        assert m in seen, (m, r["modes"])
    # the fast path was taken (a stop after a mode-changing instruction asks QEMU)
    assert r["fast"] >= min_fast, (r["fast"], r["monitor"], r["stops"])


def test_farjump_boot_transitions(build):
    s2 = build / "stage2.elf"
    no_nx = elf_symbol(s2, "pm_entry.no_nx")
    segments = [
        {"name": "stage1", "start": ["tbreak *0x7c00", "continue"], "steps": 40},
        {"name": "to_pm", "start": [f"tbreak *0x{stage2_pm_switch(build):x}", "continue"],
         "steps": 16},
        {"name": "to_lm", "start": [f"tbreak *0x{no_nx:x}", "continue"], "steps": 24},
        # jmp rax to the kernel's _start, then on into kernel_main's first calls
        {"name": "kernel", "start": ["tbreak kernel_jump", "continue"], "steps": 160},
    ]
    with QemuVM(build / "disk.img", gdb=True) as vm:
        run = run_driver(DRIVER, port=vm.gdb_port, config={"segments": segments,
                                                           "stale_gprs": True},
                         timeout=240)
    assert run.result is not None, run.tail(4000)
    r = run.result
    check(r, ["real/None/16", "protected/None/32", "long/compatibility/32",
              "long/64-bit/64"], min_fast=150)
    assert r["stops"] >= 40 + 16 + 24 + 160
    # the general registers of a fast-path snapshot are read from GDB when first asked
    # for (every stop above compared them with QEMU's); after the guest ran: refused
    assert r["stale_gprs"].startswith("the general registers of an earlier stop"), \
        r["stale_gprs"]


@pytest.fixture(scope="module")
def modes_guest(build):
    subprocess.run(["make", "-s", "build/guests/modes.img"], cwd=ROOT, check=True,
                   timeout=60, stdout=subprocess.DEVNULL)
    return ROOT / "build" / "guests"


def test_modes_guest_transitions(modes_guest):
    segments = [{"name": "modes", "start": ["fj break 1020:0000", "continue"],
                 "steps": 400}]
    with QemuVM(modes_guest / "modes.img", gdb=True, cpu="qemu64,+la57,+pdpe1gb") as vm:
        run = run_driver(DRIVER, config={"port": vm.gdb_port, "connect": True,
                                         "setup": [f"file {modes_guest / 'modes.elf'}"],
                                         "segments": segments},
                         timeout=240, symbols=False)
    assert run.result is not None, run.tail(4000)
    check(run.result, ["real/None/16", "protected/None/32", "long/compatibility/32",
                       "long/64-bit/64"], min_fast=60)


def test_smp_threads(build):
    segments = [
        {"name": "ap", "start": ["break ap_pm_entry", "continue", "delete"],
         "symbol": "ap_pm_entry", "steps": 30},
        {"name": "bsp", "start": [], "thread": 1, "steps": 10},
    ]
    with QemuVM(build / "disk.img", gdb=True, smp=2) as vm:
        run = run_driver(DRIVER, port=vm.gdb_port,
                         config={"segments": segments, "all_threads": True,
                                 "other_thread_gprs": True}, timeout=240)
    assert run.result is not None, run.tail(4000)
    r = run.result
    check(r, ["protected/None/32"], min_fast=10)
    assert [s["thread"] for s in r["segments"]] == [2, 1], r["segments"]
    # a fast snapshot's general registers are the CPU's own: with another CPU's thread
    # selected they are refused (GDB's newest frame would be that CPU's), with its own
    # thread they are GDB's
    g = r["other_thread_gprs"]
    assert g["other"].startswith("the general registers of CPU 0 are read with its thread "
                                 "selected ('thread 1')"), g
    assert g["own"] == g["gdb"], g


def test_replay_never_takes_the_fast_path(build, tmp_path):
    """In a replay (reverse execution possible) every stop asks QEMU: forward stepi,
    farjump's reverse-stepi, then stepi again, compared with the plain path."""
    from fjqemu.record import INFO, rr_in
    from replayrun import record
    recording = record(build, tmp_path / "record")
    segments = [
        {"name": "forward", "start": ["tbreak kernel_main", "continue"], "steps": 12},
        {"name": "after reverse-stepi", "start": ["reverse-stepi 5"], "steps": 8},
    ]
    with QemuVM(build / "disk.img", gdb=True, stop_on_fault=True,
                rr=rr_in(recording, "replay")) as vm:
        run = run_driver(DRIVER, port=vm.gdb_port, timeout=300,
                         env={"FJ_REPLAY": str(recording / INFO)},
                         config={"segments": segments})
    assert run.result is not None, run.tail(4000)
    r = run.result
    assert not r["errors"], r["errors"]
    assert not r["mismatches"], r["mismatches"][:3]
    assert r["stops"] == 20 and r["fast"] == 0, (r["stops"], r["fast"])
    forward, back = r["segments"]
    assert forward["pc"] < back["pc"] < forward["end"], r["segments"]   # went back
