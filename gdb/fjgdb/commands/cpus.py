"""fj cpus: one line per vCPU (mode, CS:IP and linear PC, symbol, run state)."""
from __future__ import annotations

import gdb

from ..decoders.cpus import cpu_of_thread, run_state
from ..decoders.errors import DecodeError
from ..decoders.qemuregs import parse_info_registers_all
from ..decoders.snapshot import build_snapshot
from ..render.cpu import csip_text
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


def thread_cpus() -> dict[int, int]:
    """cpu_index -> GDB thread number, for every thread of the selected inferior."""
    cpus = {}
    for t in gdb.selected_inferior().threads():
        try:
            cpus[cpu_of_thread(t.ptid[1])] = t.num
        except (ValueError, IndexError, TypeError):
            raise FjError(f"GDB thread {t.num} has ptid {t.ptid}, not QEMU's 'cpu_index + 1'"
                          " numbering: is this QEMU's gdbstub?") from None
    return cpus


class FjCpus(FjCommand):
    """Every vCPU: mode, CS:IP and linear PC, symbol, and whether it runs, halts or waits.

Usage: fj cpus [--json]
One line per CPU from QEMU's 'info registers -a' (one monitor round trip, whatever the
monitor's current CPU), in cpu_index order; GDB's thread for CPU n is n+1 ('thread N'
then selects it for every other fj command, the disassembler and the panel). '*' marks
GDB's selected thread. State: running (not halted), halted (in HLT), or waiting for
SIPI (halted in the state INIT leaves: real mode at F000:FFF0, base FFFF0000h).
JSON: {"cpus": [{"index", "thread", "selected", "mode", "bits", "submode", "paging",
"csip", "pc", "linear_pc", "symbol", "halted", "state", "cr0", "cr3", "cr4", "efer"}]}"""

    name = "cpus"
    cpu_header = False

    def run(self, opts, from_tty):
        threads = thread_cpus()
        text = STATE.monitor("info registers -a")
        try:
            regs = parse_info_registers_all(text)
        except DecodeError as e:
            raise FjError(f"cannot parse QEMU 'info registers -a' ({e})")
        if sorted(regs) != sorted(threads):
            raise FjError(f"QEMU lists CPUs {sorted(regs)} but GDB has threads for CPUs "
                          f"{sorted(threads)}: not answering for CPUs it cannot match")
        selected = STATE.selected_cpu()
        rows = []
        for index, q in regs.items():
            snap = build_snapshot(q)
            m = snap.mode
            rows.append({
                "index": index, "thread": threads[index], "selected": index == selected,
                "mode": m.mode, "bits": m.bits, "submode": m.submode, "paging": m.paging,
                "csip": csip_text(snap), "pc": snap.pc, "linear_pc": snap.linear_pc,
                "symbol": STATE.symbolize(snap.linear_pc), "halted": q.halted,
                "state": run_state(q), "cr0": q.cr0, "cr3": q.cr3, "cr4": q.cr4,
                "efer": q.efer})
        if opts.json:
            emit_json({"cpus": rows}, per_cpu=False)
            return
        for r in rows:
            bits = f"{r['bits']}-bit" if r["bits"] else "?-bit"
            sym = f"<{r['symbol']}>" if r["symbol"] else ""
            out(f"{'*' if r['selected'] else ' '} CPU {r['index']}  thread {r['thread']}  "
                f"{r['mode']:<9} {bits:<7} {r['csip']:<28} linear 0x{r['linear_pc']:<16x} "
                f"{sym:<28} {r['state']}".rstrip())
