"""What every benchmark shares: the Row of the table, alternating runs, paths, limits."""
from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field

from .. import BUILD, IMAGE
from ..gdbrun import GdbError, run_driver
from ..vm import QemuVM

BENCH = BUILD / "bench"      # the benchmarks' work files (floor image, logs, JSON)
PROCESS_TIMEOUT = 60         # seconds for any single measured process


class BenchError(RuntimeError):
    pass


@dataclass
class Row:
    name: str
    subject: str
    reference: str
    subject_s: float | None = None      # median seconds (or bytes for sizes)
    reference_s: float | None = None
    ratio: float | None = None
    target: float | None = None          # the ratio the issue asks for, at most
    unit: str = "s"
    runs: int = 0
    note: str = ""
    samples: dict = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.ratio is None or self.target is None:
            return None
        return self.ratio <= self.target


def progress(text: str | None) -> None:
    """A progress line on a terminal (overwritten in place); None clears it."""
    if not sys.stderr.isatty():
        return
    if text is None:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)
    else:
        print(f"\r  {text}", end="", file=sys.stderr, flush=True)


def alternate(a, b, runs: int, what: str):
    """Run a() and b() alternately `runs` times each; return the two lists of seconds."""
    xs, ys = [], []
    for i in range(runs):
        progress(f"{what}: run {i + 1}/{runs}")
        xs.append(a())
        ys.append(b())
    progress(None)
    return xs, ys


def ratio_row(row: Row, xs, ys) -> Row:
    row.subject_s = statistics.median(xs)
    row.reference_s = statistics.median(ys)
    row.ratio = row.subject_s / row.reference_s if row.reference_s else None
    row.runs = len(xs)
    row.samples = {"subject": xs, "reference": ys}
    return row


def driver_session(driver, label: str, config: dict, farjump: bool = True) -> dict:
    """One fresh QEMU (farjump's disk, paused, gdbstub) and one batch GDB running `driver`
    with `config` (the driver protocol of fjqemu.gdbrun); its result, or BenchError."""
    with QemuVM(IMAGE, gdb=True) as vm:
        try:
            run = run_driver(driver, port=vm.gdb_port, config=config, farjump=farjump,
                             timeout=PROCESS_TIMEOUT * 2)
        except GdbError as e:
            raise BenchError(f"GDB ({label}): {str(e)[:1600]}") from None
    if run.result is None:
        tail = (run.stdout[-800:] + run.stderr[-800:]).strip()
        raise BenchError(f"GDB ({label}) wrote no result (status {run.status}): {tail}")
    return run.result
