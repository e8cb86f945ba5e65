"""fj transitions: breakpoints at every mode transition of the boot."""
from __future__ import annotations

import gdb

from ..target.breakpoints import SegBreakpoint, quietly
from ..target.errors import FjError
from ..target.modewatch import sweep
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
ap_lm_entry (build/ap_trampoline.elf) and ap_main (the kernel's C).

On a boot farjump did not write (none of those symbols loaded), it finds the
mode-changing instructions itself: the code around the PC is decoded with Capstone and
an fj breakpoint (fj break) is set on each mov cr0/cr4, wrmsr, lgdt, far jmp/call/ret
and iret ahead of the PC (up to 16); 'fj tour' follows them through every transition.
JSON: {"breakpoints": [{"name", "address", "number", "new"}], "missing": [...],
"found_by": "symbols" | "sweep"}"""

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
        found_by = "symbols"
        if not done and not STATE.connected():
            raise FjError("none of the transition symbols is loaded (" + ", ".join(missing)
                          + "): file build/kernel.elf, add-symbol-file build/stage1.elf, "
                          "add-symbol-file build/stage2.elf, add-symbol-file "
                          "build/ap_trampoline.elf; on another guest, connect first: the "
                          "mode-changing instructions are then found in its code")
        if not done:
            done, found_by = self._sweep(), "sweep"
            if not done:
                raise FjError("none of farjump's transition symbols is loaded ("
                              + ", ".join(missing) + ") and no mode-changing instruction "
                              "was found ahead of the PC; 'fj tour' follows the code")
        if opts.json:
            emit_json({"breakpoints": done, "missing": missing, "found_by": found_by},
                      per_cpu=False)
            return
        if found_by == "sweep":
            out("fj transitions: farjump's symbols are not loaded: breakpoints on the "
                "mode-changing instructions found ahead of the PC")
            for d in done:
                out(f"set breakpoint {d['number']} at {d['where']}  {d['name']}")
            return
        for d in done:
            out(f"{'set' if d['new'] else 'kept'} breakpoint {d['number']} at "
                f"0x{d['address']:x} <{d['name']}>")
        if missing:
            out("fj transitions: missing symbols (not loaded?): " + ", ".join(missing))

    @staticmethod
    def _sweep() -> list[dict]:
        snap = STATE.snapshot()
        cands, _ = sweep(snap)
        ahead = sorted(a for a, c in cands.items() if c.kind == "mode" and a >= snap.linear_pc)
        done = []
        for addr in ahead[:16]:
            c = cands[addr]
            if snap.real:
                seg, off = snap.cs.selector, addr - snap.cs.base
            else:
                seg, off = None, addr - (snap.cs.base if snap.mode.bits != 64 else 0)
            bp = quietly(lambda: SegBreakpoint(seg, off, addr))
            done.append({"name": c.text, "address": addr, "number": bp.number, "new": True,
                         "where": bp.describe()})
        return done
