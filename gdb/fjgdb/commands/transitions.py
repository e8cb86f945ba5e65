"""fj transitions: breakpoints at every mode transition of the boot."""
from __future__ import annotations

import gdb

from ..target.errors import FjError
from ..target.run import breakpoint, breakpoints_by_location
from ..target.state import STATE
from .base import FjCommand, emit_json, out

#: The boot's mode transitions, in order (fj transitions, fj tour).
TRANSITIONS = ("stage1_start", "stage2_start", "pm_entry", "lm_entry", "kernel_main")
#: An application processor's journey (kernel/ap/trampoline.asm, kernel/smp.c), added
#: when the guest has more than one CPU (-smp N): the first AP the kernel starts hits them.
AP_TRANSITIONS = ("ap_start", "ap_pm_entry", "ap_lm_entry", "ap_main")


def transitions() -> tuple[str, ...]:
    """The boot CPU's transitions, then an AP's when there are several CPUs."""
    return TRANSITIONS + (AP_TRANSITIONS if STATE.cpu_count() > 1 else ())


class FjTransitions(FjCommand):
    """Set breakpoints at every mode transition of the boot.

Usage: fj transitions [--json]
stage1_start (real mode, 0x7c00), stage2_start (real mode), pm_entry (first 32-bit
instruction), lm_entry (first 64-bit instruction), kernel_main. Existing breakpoints
at the same place are reused. Says which were set and which symbols are missing
(load the ELFs: add-symbol-file build/stage1.elf, build/stage2.elf, file build/kernel.elf).
With several CPUs (make debug SMP=N) also an AP's: ap_start (real mode, its first
instruction at the SIPI vector: CS=0100h, IP=0, so GDB reports that stop as a SIGTRAP
at pc 0x0; fj mode and fj cpus show CS:IP 0100:0000 = linear 0x1000), ap_pm_entry,
ap_lm_entry (build/ap_trampoline.elf) and ap_main (the kernel's C)."""

    name = "transitions"
    cpu_header = False      # breakpoints hold for every CPU

    def run(self, opts, from_tty):
        done, missing = [], []
        existing = breakpoints_by_location()
        for name in transitions():
            addr = STATE.resolve(name)
            if addr is None:
                missing.append(name)
                continue
            bp = existing.get(name)
            new = bp is None
            if new and opts.json:
                # GDB announces a new breakpoint ("Breakpoint 1 at ..."); with --json the
                # output must stay one JSON document, so the announcement is swallowed.
                gdb.execute(f"break {name}", to_string=True)
                bp = gdb.breakpoints()[-1]
            elif new:
                bp = breakpoint(name)
            done.append({"name": name, "address": addr, "number": bp.number, "new": new})
        if not done:
            raise FjError("none of the transition symbols is loaded (" + ", ".join(missing)
                          + "): file build/kernel.elf, add-symbol-file build/stage1.elf, "
                          "add-symbol-file build/stage2.elf, add-symbol-file "
                          "build/ap_trampoline.elf")
        if opts.json:
            emit_json({"breakpoints": done, "missing": missing}, per_cpu=False)
            return
        for d in done:
            out(f"{'set' if d['new'] else 'kept'} breakpoint {d['number']} at "
                f"0x{d['address']:x} <{d['name']}>")
        if missing:
            out("fj transitions: missing symbols (not loaded?): " + ", ".join(missing))
