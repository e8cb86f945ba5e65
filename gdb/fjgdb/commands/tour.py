"""fj tour: run the boot through every mode transition, reporting each stop."""
from __future__ import annotations

import math

import gdb

from ..decoders.snapshot import changes
from ..render.cpu import stop_doc, tour_stop_lines
from ..target.errors import FjError
from ..target.modewatch import watch
from ..target.run import breakpoint, continue_with_timeout, quiet
from ..target.state import STATE
from .base import FjCommand, emit_json, out
from .reset import reset
from .transitions import transitions

#: True while the tour runs: the stop-event panel stays quiet.
TOUR_ACTIVE = [False]


def stop_here(name: str | None) -> dict:
    snap = STATE.snapshot()
    doc = stop_doc(snap, name, STATE.symbolize(snap.linear_pc))
    if STATE.cpu_count() > 1:
        doc["cpu"] = STATE.selected_cpu()
    return doc


class FjTour(FjCommand):
    """Run the boot through every mode transition, reporting what changed at each.

Usage: fj tour [--reset] [--timeout SECONDS] [--json]
Continues to stage1_start, stage2_start, pm_entry, lm_entry and kernel_main in turn
(temporary internal breakpoints, removed afterwards) and prints at each stop the mode,
CS:IP, control registers, GDTR and what changed since the previous stop. A stop already
passed is reported as skipped; if none is reached within the timeout (fj-timeout,
default 10 s; 0 waits forever) the guest is interrupted and the tour ends saying where
it was. Ctrl-C ends the tour the same way, at once.
--reset first resets the guest (fj reset), for a complete tour from the BIOS.
With several CPUs (make debug SMP=N) the tour goes on with the first AP's journey:
ap_start (real mode at the SIPI vector, 0100:0000), ap_pm_entry, ap_lm_entry, ap_main;
each stop names its CPU, and "changed" compares with that CPU's previous stop.
--json prints one JSON list of per-stop states (for a scripted regression boot).
On a boot farjump did not write (none of the stops' symbols loaded) it finds the mode
changes itself: it decodes the code ahead with Capstone, breaks on the mode-changing
instructions (mov cr0/cr4, wrmsr, lgdt, far jmp/call/ret, iret) and on jumps that leave
the decoded code, steps each and reports every change of mode, code width, paging or
CS, until 64-bit mode with paging, 16 transitions, or the timeout without one
(docs/gdb.md explains the method and its limits)."""

    name = "tour"
    cpu_header = False      # not about one CPU (the tour names each stop's CPU)

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true")
        parser.add_argument("--timeout", type=float)

    def run(self, opts, from_tty):
        timeout = opts.timeout if opts.timeout is not None \
            else float(gdb.parameter("fj-timeout") or 0)
        if not (math.isfinite(timeout) and timeout >= 0):
            raise FjError(f"--timeout must be 0 (wait forever) or more seconds, not "
                          f"{opts.timeout:g}")
        STATE.require_connected()
        progress = from_tty and not opts.json
        stops = [(n, STATE.resolve(n)) for n in transitions()]
        if all(a is None for _, a in stops):
            return self._foreign(opts, timeout)
        results = []
        emit = (lambda r: None) if opts.json else self._print
        if opts.reset:
            reset()
        prev = {}           # cpu_index -> its snapshot at its previous stop
        bps = {}
        TOUR_ACTIVE[0] = True
        try:
            with quiet(opts.json):
                for name, addr in stops:
                    if addr is None:
                        r = {"stop": name, "reached": False,
                             "reason": "symbol not loaded"}
                        results.append(r)
                        emit(r)
                        continue
                    bps[name] = breakpoint(name, internal=True)
                pending = [n for n, a in stops if a is not None]
                # standing on a stop already (e.g. after 'break stage1_start; continue')?
                here = STATE.snapshot().linear_pc
                while pending:
                    hit = next((n for n in pending if bps[n].hit_count), None)
                    if hit is None and here is not None:
                        hit = next((n for n in pending if STATE.resolve(n) == here), None)
                    if hit is None:
                        if progress:
                            limit = f"up to {timeout:g} s, " if timeout else ""
                            out(f"waiting for {pending[0]} ({limit}Ctrl-C ends the tour) ...")
                            gdb.flush()
                        how = continue_with_timeout(timeout)
                        STATE.invalidate()
                        if STATE.connected() and how == "stopped":
                            here = STATE.snapshot().linear_pc
                            continue
                        where = stop_here(None) if STATE.connected() else {}
                        for n in pending:
                            r = {"stop": n, "reached": False,
                                 "reason": (f"not reached within {timeout:g} s"
                                            if how == "timeout" else
                                            "interrupted (Ctrl-C)" if how == "interrupted"
                                            else "guest gone"),
                                 "interrupted_at": where.get("symbol"),
                                 "interrupted_pc": where.get("linear_pc"),
                                 "halted": where.get("halted")}
                            results.append(r)
                            emit(r)
                        break
                    idx = pending.index(hit)
                    for skipped in pending[:idx]:
                        r = {"stop": skipped, "reached": False,
                             "reason": "already passed before the tour started"}
                        results.append(r)
                        emit(r)
                    now = STATE.snapshot()
                    snap = stop_here(hit)
                    cpu = STATE.selected_cpu()
                    snap["changed"] = changes(prev[cpu], now) if cpu in prev else None
                    prev[cpu] = now
                    results.append(snap)
                    emit(snap)
                    for n in pending[:idx + 1]:
                        bps.pop(n).delete()
                    pending = pending[idx + 1:]
                    here = None
        finally:
            TOUR_ACTIVE[0] = False
            for bp in bps.values():
                if bp.is_valid():
                    bp.delete()
        if opts.json:
            emit_json(results)
        else:
            reached = sum(1 for r in results if r.get("reached"))
            interrupted = any(r.get("reason") == "interrupted (Ctrl-C)" for r in results)
            out(f"tour: {reached}/{len(results)} stops reached"
                + (" (interrupted)" if interrupted else ""))

    def _foreign(self, opts, timeout: float) -> None:
        if opts.reset:
            reset()
        results, prev = [], [STATE.snapshot()]
        emit = (lambda r: None) if opts.json else self._print

        def on_transition(before, insn, after):
            doc = stop_doc(after, f"after {insn.text} at 0x{insn.addr:x}",
                           STATE.symbolize(after.linear_pc))
            doc["instruction"] = insn.to_dict()
            doc["changed"] = changes(prev[0], after)
            prev[0] = after
            results.append(doc)
            emit(doc)

        if not opts.json:
            out("fj tour: farjump's symbols are not loaded: following the code to each mode "
                "change (Ctrl-C ends it)")
            gdb.flush()
        TOUR_ACTIVE[0] = True
        try:
            _found, why = watch(timeout, on_transition=on_transition)
        finally:
            TOUR_ACTIVE[0] = False
        if opts.json:
            emit_json(results + [{"stop": None, "reached": False, "reason": why}])
        else:
            out(f"tour: {len(results)} transitions found; ended: {why}")

    @staticmethod
    def _print(r):
        for line in tour_stop_lines(r):
            out(line)
