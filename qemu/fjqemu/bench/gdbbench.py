"""GDB benchmarks: fj's decode latency against QEMU's own monitor, and what farjump costs a
stepi. Each session is one fresh QEMU (paused, gdbstub) and one batch GDB running
gdb_driver.py (beside this file) under the driver protocol of fjqemu.gdbrun."""
from __future__ import annotations

from pathlib import Path

from .. import IMAGE
from ..gdbrun import GdbError, run_driver
from ..vm import QemuVM
from .common import PROCESS_TIMEOUT, BenchError, Row, progress, ratio_row

DRIVER = Path(__file__).with_name("gdb_driver.py")
STEPS = 2000          # stepi per stepping run


def gdb_session(mode: str, n: int) -> dict:
    """One fresh QEMU and one batch GDB running DRIVER in `mode` (plain GDB for step-plain)."""
    with QemuVM(IMAGE, gdb=True) as vm:
        try:
            run = run_driver(DRIVER, port=vm.gdb_port, config={"mode": mode, "n": n},
                             farjump=mode != "step-plain", timeout=PROCESS_TIMEOUT * 2)
        except GdbError as e:
            raise BenchError(f"GDB ({mode}): {str(e)[:1600]}") from None
    if run.result is None:
        tail = (run.stdout[-800:] + run.stderr[-800:]).strip()
        raise BenchError(f"GDB ({mode}) wrote no result (status {run.status}): {tail}")
    return run.result


def bench_gdb_decode(runs: int) -> list[Row]:
    """`fj gdt` against `monitor info registers` (fj pt: ptbench.py, the gdb-pt rows)."""
    r = gdb_session("decode", max(10, 3 * runs))
    gdt = Row("gdb-fj-gdt", "`fj gdt` at kernel_main (cache dropped as at a stop)",
              "`monitor info registers` from the same GDB",
              note="fj gdt = that same round trip + reading and decoding the GDT")
    return [ratio_row(gdt, r["fj gdt"], r["monitor info registers"])]


def bench_gdb_step(runs: int) -> list[Row]:
    runs = max(1, min(runs, 3))   # ~1-3 s per run of 2000 steps
    on, off, plain = [], [], []
    ends = set()
    for i in range(runs):
        for mode, xs in (("step-on", on), ("step-off", off), ("step-plain", plain)):
            progress(f"GDB stepping: run {i + 1}/{runs} {mode:<10}")
            r = gdb_session(mode, STEPS)
            if mode == "step-on" and r["panels"] != STEPS:
                raise BenchError(f"{r['panels']} context panels for {STEPS} stepi")
            ends.add((r["start_pc"], r["end_pc"]))
            xs.append(r["seconds"])
    progress(None)
    starts = sorted({start for start, _ in ends})
    stops = sorted({end for _, end in ends})
    hexes = lambda pcs: "/".join(f"0x{pc:x}" for pc in pcs)   # noqa: E731
    where = (f"{STEPS} stepi from kernel_main ({hexes(starts)} -> {hexes(stops)}, "
             "64-bit code)")
    differ = ""
    if len(ends) != 1:
        # Not an error: QEMU sometimes reports a step that did not advance (more often on
        # a loaded machine), so runs can end a few instructions apart. The work measured is
        # still 2000 gdbstub round trips each.
        differ = (f"; runs ended at {len(stops)} different PCs (QEMU reported steps that "
                  "did not advance)")
    rows = [Row("gdb-step-on", f"{where}, farjump loaded, `set fj-context on`",
                "the same in plain GDB (no farjump)", target=1.5,
                note="seconds per run of 2000 stepi" + differ),
            Row("gdb-step-off", "the same, farjump loaded, context panel off",
                "the same in plain GDB (no farjump)",
                note="what loading farjump costs a stepi")]
    return [ratio_row(rows[0], on, plain), ratio_row(rows[1], off, plain)]
