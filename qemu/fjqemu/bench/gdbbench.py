"""GDB benchmarks: fj's decode latency against QEMU's own monitor, and what farjump costs a
stepi. Each session is one fresh QEMU (paused, gdbstub) and one batch GDB running
gdb_driver.py (beside this file) under the driver protocol of fjqemu.gdbrun."""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from ..gdbrun import GdbError, gdb_command, run_batch
from .common import (PROCESS_TIMEOUT, BenchError, Row, alternate, driver_session, progress,
                     ratio_row)
from .lockstep import lockstep

DRIVER = Path(__file__).with_name("gdb_driver.py")
STEPS = 2000          # stepi per stepping run
CHUNK = 100           # stepi of one configuration before the next one's turn (lockstep)


def gdb_session(mode: str, n: int) -> dict:
    """One fresh QEMU and one batch GDB running DRIVER in `mode` (plain GDB for step-plain)."""
    return driver_session(DRIVER, mode, {"mode": mode, "n": n}, farjump=mode != "step-plain")


def bench_gdb_decode(runs: int) -> list[Row]:
    """`fj gdt` against `monitor info registers` (fj pt: ptbench.py, the gdb-pt rows)."""
    r = gdb_session("decode", max(10, 3 * runs))
    gdt = Row("gdb-fj-gdt", "`fj gdt` at kernel_main (cache dropped as at a stop)",
              "`monitor info registers` from the same GDB",
              note="fj gdt = that same round trip + reading and decoding the GDT")
    return [ratio_row(gdt, r["fj gdt"], r["monitor info registers"])]


def bench_gdb_step(runs: int) -> list[Row]:
    """Three configurations, each in its own QEMU and GDB, side by side (lockstep.py:
    CHUNK steps of one, then of the next, in a rotating order), 1-5 rounds: each stepi
    from kernel_main until the PC has changed STEPS times (the same instructions in every
    configuration); compared per stepi (a step QEMU reports without advancing is one more
    round trip, counted)."""
    runs = max(1, min(runs, 5))   # ~5-10 s per round of 3 x 2000 steps
    per = {"step-on": [], "step-off": [], "step-plain": []}
    results = []
    for i in range(runs):
        progress(f"GDB stepping: round {i + 1}/{runs} (3 configurations in lockstep)")
        round_results = lockstep(DRIVER, list(per), STEPS, CHUNK,
                                 farjump=lambda mode: mode != "step-plain")
        for mode, xs in per.items():
            r = round_results[mode]
            results.append((mode, r))
            xs.append(r["seconds"] * STEPS / max(1, r["stepis"]))
    progress(None)
    hexes = lambda pcs: "/".join(f"0x{pc:x}" for pc in sorted(pcs))   # noqa: E731
    starts = {r["start_pc"] for _, r in results}
    ends = {r["end_pc"] for _, r in results}
    where = f"{STEPS} stepi from kernel_main ({hexes(starts)} -> {hexes(ends)}, 64-bit code)"
    notes = []
    extra = sum(r["stepis"] - r["advanced"] for _, r in results)
    if extra:
        notes.append(f"{extra} of {sum(r['stepis'] for _, r in results)} stepi did not "
                     "advance (QEMU; REP string steps included): time taken per stepi")
    short = [r for _, r in results if r["advanced"] < STEPS]
    if short:
        notes.append(f"{len(short)} run(s) stopped advancing after "
                     f"{min(r['advanced'] for r in short)} instructions (a halted CPU?)")
    if len({r["trace"] for _, r in results}) > 1:
        notes.append("the runs did not all step the same instructions (the guest took "
                     "another path: an interrupt?); their times are compared anyway")
    missing = [(r["stepis"], r["panels"]) for m, r in results
               if m == "step-on" and r["panels"] != r["stepis"]]
    if missing:
        notes.append("context panels missing: " + ", ".join(
            f"{p} for {n} stepi" for n, p in missing) + " (a farjump bug: please report)")
    note = "; ".join(notes)
    paired = "; ratio: the median of the rounds' own ratios (the times: medians)"
    rows = [Row("gdb-step-on", f"{where}, farjump loaded, `set fj-context on`",
                "the same in plain GDB (no farjump)", target=1.5,
                note=f"seconds per {STEPS} stepi" + (f"; {note}" if note else "") + paired),
            Row("gdb-step-off", "the same, farjump loaded, context panel off",
                "the same in plain GDB (no farjump)",
                note="what loading farjump costs a stepi" + paired)]
    return [paired_row(rows[0], per["step-on"], per["step-plain"]),
            paired_row(rows[1], per["step-off"], per["step-plain"])]


def paired_row(row: Row, xs, ys) -> Row:
    """ratio_row, but the ratio is the median of the rounds' ratios: a round's three
    configurations ran in lockstep on the same machine, while the machine may change
    from one round to the next (a median of each side would mix rounds)."""
    row = ratio_row(row, xs, ys)
    if all(ys):
        row.ratio = statistics.median(x / y for x, y in zip(xs, ys))
    return row


def start_env() -> dict:
    """The environment of the start-up runs: Python's bytecode cache on, as Python has it
    by default (PYTHONDONTWRITEBYTECODE=1 would make every start compile fjgdb anew)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def gdb_start_once(farjump: bool) -> float:
    """Seconds from starting a batch GDB (-nx: no ~/.gdbinit) to its exit, with or
    without `source gdb/farjump.py`."""
    args = gdb_command(farjump=farjump, symbols=False)
    t = time.perf_counter()
    status, out, err = run_batch(args, PROCESS_TIMEOUT, env=start_env())
    seconds = time.perf_counter() - t
    if status != 0 or (farjump and "'fj' commands loaded" not in out):
        raise BenchError(f"GDB start-up ({'farjump' if farjump else 'bare'}) failed "
                         f"(status {status}): {(out + err).strip()[-400:]}")
    return seconds


def bench_gdb_start(runs: int) -> list[Row]:
    """`gdb -batch -nx -ex 'source gdb/farjump.py'` against `gdb -batch -nx`, alternately."""
    n = max(5, runs)
    gdb_start_once(True)              # warm the file cache and write the .pyc files
    try:
        fj, bare = alternate(lambda: gdb_start_once(True), lambda: gdb_start_once(False), n,
                             "GDB start-up")
    except GdbError as e:
        raise BenchError(str(e)[:800]) from None
    row = Row("gdb-start", "GDB start-up with `source gdb/farjump.py` (batch, -nx)",
              "a bare `gdb -batch -nx`", target=2.0,
              note="medians; capstone is imported only when 16/32-bit code is disassembled"
                   + ("; PYTHONDONTWRITEBYTECODE is set here: the runs drop it (a start "
                      "without .pyc files compiles fjgdb: slower)"
                      if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""))
    return [ratio_row(row, fj, bare)]
