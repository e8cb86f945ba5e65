"""The boot timeline: TSC stamps in struct boot_info, the kernel's report, `fj timeline`.

One QEMU boot checks what the kernel wrote (read back through QMP) and printed; one GDB
session against a second boot checks that `fj timeline --json` agrees with guest memory.
Nothing here is timed: the numbers are only checked for presence, order and agreement.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest

from fjgdb.decoders.timeline import BOOTINFO_ADDR, BOOTINFO_SIZE, EVENTS, decode_timeline
from fjqemu.gdbrun import run_driver
from fjqemu.vm import QemuVM

ROOT = Path(__file__).resolve().parent.parent

STEP_LINE = re.compile(r"^  (\w+)\s+(\d+) cycles\s+(\d+) us  (.*)$", re.M)


@pytest.fixture(scope="module")
def booted(build):
    with QemuVM(build / "disk.img") as vm:
        serial = vm.wait_serial("stage2_start to here", timeout=30)
        raw = vm.read_phys(BOOTINFO_ADDR, BOOTINFO_SIZE)
    return serial.replace("\r\n", "\n"), decode_timeline(raw)


def test_every_transition_is_stamped_in_order(booted):
    _, tl = booted
    assert tl.complete, tl.to_dict()
    assert tl.monotonic and not tl.problems, tl.problems
    assert [e.name for e in tl.events] == list(EVENTS)
    stamps = [e.tsc for e in tl.events]
    assert all(a < b for a, b in zip(stamps, stamps[1:])), stamps
    assert tl.tsc_hz > 1_000_000          # the kernel measured the TSC against the PM timer


def test_kernel_prints_the_timeline_after_hello_world(booted):
    serial, tl = booted
    after = serial.split("\nHello World!\n", 1)[1]
    mhz = re.search(r"boot timeline \(TSC at (\d+) MHz by the ACPI PM timer; stage 1 untimed\)",
                    after)
    assert mhz, after
    assert abs(int(mhz.group(1)) - tl.tsc_hz / 1e6) <= 1
    rows = STEP_LINE.findall(after)
    assert [r[0] for r in rows] == list(EVENTS[1:]) + ["total"]
    # The kernel's cycle counts are the differences of the stamps in guest memory.
    assert [int(r[1]) for r in rows[:-1]] == [s.cycles for s in tl.steps]
    assert int(rows[-1][1]) == tl.total_cycles
    for r, s in zip(rows, tl.steps):
        assert abs(int(r[2]) - s.us) <= 1 and r[3] == s.what


GDB_SCRIPT = """
import json, os, gdb
R = {}
def run(cmd):
    try:
        return {"out": gdb.execute(cmd, to_string=True), "error": None}
    except gdb.error as e:
        return {"out": "", "error": str(e)}
R["at_reset"] = run("fj timeline")
R["bad_option"] = run("fj timeline --bogus")
R["help"] = run("help fj timeline")
gdb.execute("tbreak kernel_main")
gdb.execute("continue", to_string=True)
R["kernel_main"] = json.loads(run("fj timeline --json")["out"])
gdb.execute("tbreak kernel/main.c:%(line)d")
gdb.execute("continue", to_string=True)
R["end_json"] = json.loads(run("fj timeline --json")["out"])
R["end_text"] = run("fj timeline")
with open(os.environ["FJ_OUT"], "w") as f:
    json.dump(R, f)
"""


@pytest.fixture(scope="module")
def gdb_session(build, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fjtimeline")
    main_c = (ROOT / "kernel/main.c").read_text().splitlines()
    line = next(i for i, l in enumerate(main_c, 1) if "timeline_print(bi);" in l) + 1
    script = tmp / "drive.py"
    script.write_text(GDB_SCRIPT % {"line": line})
    with QemuVM(build / "disk.img", gdb=True) as vm:
        run = run_driver(script, port=vm.gdb_port)
        assert run.result is not None, f"GDB {run.tail()}"
        # GDB detached; the kernel is halted and the timeline final: read it through QMP.
        raw = vm.read_phys(BOOTINFO_ADDR, BOOTINFO_SIZE)
    return run.result, decode_timeline(raw)


def test_fj_timeline_json_agrees_with_guest_memory(gdb_session):
    r, tl = gdb_session
    doc = r["end_json"]
    assert doc["address"] == BOOTINFO_ADDR and doc["complete"] and doc["monotonic"]
    assert doc["tsc_hz"] == tl.tsc_hz and doc["recorded"] == tl.recorded == 0xFF
    assert [e["tsc"] for e in doc["events"]] == [e.tsc for e in tl.events]
    assert [(s["from"], s["to"], s["cycles"]) for s in doc["steps"]] == \
        [(s.start, s.end, s.cycles) for s in tl.steps]
    assert doc["total_cycles"] == tl.total_cycles


def test_fj_timeline_at_kernel_main_is_partial(gdb_session):
    doc = gdb_session[0]["kernel_main"]
    assert [e["recorded"] for e in doc["events"]] == [True] * 6 + [False] * 2
    assert doc["steps"] and doc["tsc_hz"] == 0
    assert all(s["us"] is None for s in doc["steps"])


def test_fj_timeline_text_help_and_one_line_errors(gdb_session):
    r = gdb_session[0]
    text = r["end_text"]["out"]
    assert "boot timeline: TSC at" in text and re.search(r"total\s+\d+ cycles", text)
    for key in ("at_reset", "bad_option"):
        err = r[key]["error"]
        assert err and err.startswith("fj timeline: ") and "\n" not in err.strip(), err
    assert "no boot_info" in r["at_reset"]["error"]
    assert "Usage: fj timeline [ADDR] [--json]" in r["help"]["out"]


def test_bench_smoke_sizes(build, tmp_path):
    """scripts/bench runs (one run, sizes only: nothing is timed here)."""
    out = tmp_path / "bench.json"
    r = subprocess.run([str(ROOT / "scripts/bench"), "--runs", "1",
                        "--only", "sizes", "--json", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    names = [row["name"] for row in doc["rows"]]
    assert names == ["size-stage1", "size-stage2", "size-kernel"]
    assert all("ratio" in row and "target" in row for row in doc["rows"])
    assert "size-stage1" in r.stdout
