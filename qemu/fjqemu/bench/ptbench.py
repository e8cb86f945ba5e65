"""The gdb-pt benchmark: `fj pt` (the full dump at kernel_main, after a stop) against QEMU's
own `monitor info mem` from the same GDB, alternately, in each of fj pt's ways (the
direct /proc/PID/mem reads, the gdbstub-only fallback, a repeated fj pt whose tables did
not change, the plain path), and the same for the page-table commands of other GDB
plugins when $FJ_PEERS names a directory that holds them (never part of farjump):

    FJ_PEERS=/tmp/peers scripts/bench --only gdb-pt

with gef.py (hugsy/gef: `vmmap`) and/or bata24-gef.py (bata24/gef: `pagewalk`) in it.
Each session is one fresh QEMU (paused, gdbstub) and one batch GDB running pt_driver.py
(beside this file) under the driver protocol of fjqemu.gdbrun."""
from __future__ import annotations

import os
import statistics
from pathlib import Path

from .common import BenchError, Row, driver_session, ratio_row

DRIVER = Path(__file__).with_name("pt_driver.py")

#: way -> (row name, what the subject is, target ratio or None, note)
WAYS = {
    "proc": ("gdb-pt", "`fj pt` full dump at kernel_main after a stop, guest RAM read from "
             "/proc/QEMU_PID/mem", 3.0, "registers from GDB's set, 6 tables by pread, the "
             "fast decoder"),
    "gdbstub": ("gdb-pt-gdbstub", "the same through the gdbstub only (`set fj-pt-fast "
                "gdbstub`)", 10.0, "2 'm' packets of 2 KiB per 4 KiB table"),
    "repeat": ("gdb-pt-repeat", "`fj pt` again after a stop, no table changed (the memo: "
               "tables re-read by pread and compared)", 1.0, "no decoding"),
    "plain": ("gdb-pt-plain", "the plain path (`set fj-pt-fast off`: info registers, "
              "GDB's reads, a decode per entry)", None, "what fj pt cost before"),
}

#: file in $FJ_PEERS -> (row name, GDB command, what it is, setup commands)
PEERS = {
    "gef.py": ("peer-gef-vmmap", "vmmap", "hugsy/gef `vmmap`", []),
    "bata24-gef.py": ("peer-bata24-pagewalk", "pagewalk", "bata24/gef `pagewalk`", []),
}
REFERENCE = "`monitor info mem` from the same GDB"


def pt_session(config: dict, farjump: bool) -> dict:
    return driver_session(DRIVER, "gdb-pt", config, farjump)


def peer_rows(n: int, peers_dir: str | None) -> list[Row]:
    rows = []
    if not peers_dir:
        return rows
    for file, (name, cmd, what, setup) in PEERS.items():
        path = Path(peers_dir) / file
        if not path.is_file():
            continue
        row = Row(name, f"{what} at kernel_main (plain GDB + {file}, no farjump)", REFERENCE)
        try:
            r = pt_session({"n": n, "peer": str(path), "peer_cmd": cmd,
                            "peer_setup": setup}, farjump=False)
        except BenchError as e:
            row.subject = f"{what}: did not run"
            row.note = str(e)[:300]
            rows.append(row)
            continue
        said = r.get("peer_output", "").strip().splitlines()
        row.note = (f"its output: {len(said)} lines, last: {said[-1][:80] if said else ''!r}; "
                    f"loading {file} took {r.get('peer_load_seconds', 0):.2f} s")
        rows.append(ratio_row(row, r["subject"], r["reference"]))
    return rows


def gdbstub_reads(reads: dict) -> str:
    """How the gdbstub way read its tables (PageTableReader.STATS over the session)."""
    ident, phys = reads.get("identity", 0), reads.get("physical", 0)
    if not ident and not phys:
        return ", none read through the gdbstub (the memo answered)"
    if ident and not phys:
        return (f", all {ident} at linear = physical (the guest's identity map, checked "
                "against the walk): no PhyMemMode round trips")
    if phys and not ident:
        return f", all {phys} with PhyMemMode on and off around them"
    return (f"; {ident} read at linear = physical (checked against the walk), {phys} "
            "with PhyMemMode")


def bench_gdb_pt(runs: int) -> list[Row]:
    n = max(10, 3 * runs)
    r = pt_session({"n": n, "ways": list(WAYS)}, farjump=True)
    if not r.get("same_output"):
        raise BenchError("fj pt's ways printed different tables (see the GDB tests)")
    if "/proc/" not in r.get("show", ""):
        raise BenchError(f"fj pt did not read /proc/PID/mem here: {r.get('show')}")
    memo = r.get("memo", {})
    want = {"proc": "walked", "gdbstub": "walked", "plain": "walked", "repeat": "compared"}
    for way, how in want.items():
        if way in memo and memo[way].get(how) != n:
            raise BenchError(f"fj pt's {way} way did not measure what it says ({how} "
                             f"{memo[way].get(how)} times of {n}: {memo[way]})")
    # One reference for every way: all the `monitor info mem` samples of the session
    # (each taken right after one fj pt). Row by row, the reference is faster after a way
    # that talked to QEMU just before (the gdbstub ones) than after one that did not
    # (QEMU's thread asleep longer on a busy machine): noise, not a property of a way.
    # Each row's note gives its ratio against its own neighbours too.
    pooled = [y for w in WAYS for y in r["ways"][w]["reference"]]
    rows = []
    for way, (name, subject, target, note) in WAYS.items():
        s = r["ways"][way]
        own = statistics.median(s["subject"]) / statistics.median(s["reference"])
        if way == "gdbstub":
            note += gdbstub_reads(r.get("reads", {}).get(way, {}))
        row = Row(name, subject, REFERENCE + " (all the session's samples)", target=target,
                  note=f"{note}; {r['lines']} output lines; {own:.2f} against the "
                       "`info mem` right after each")
        rows.append(ratio_row(row, s["subject"], pooled))
    peers = peer_rows(n, os.environ.get("FJ_PEERS"))
    measured = [p for p in peers if p.ratio is not None]
    if measured:
        ours = rows[0]
        slower = [p.name for p in measured if p.ratio <= ours.ratio]
        ours.note += ("; faster than every peer measured" if not slower
                      else f"; NOT faster than {', '.join(slower)}")
    return rows + peers
