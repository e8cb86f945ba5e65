"""fj transitions: breakpoints at every mode transition of the boot."""
from __future__ import annotations

from ..target.errors import FjError
from ..target.run import breakpoint, breakpoints_by_location
from ..target.state import STATE
from .base import FjCommand, emit_json, out

#: The boot's mode transitions, in order (fj transitions, fj tour).
TRANSITIONS = ("stage1_start", "stage2_start", "pm_entry", "lm_entry", "kernel_main")


class FjTransitions(FjCommand):
    """Set breakpoints at every mode transition of the boot.

Usage: fj transitions [--json]
stage1_start (real mode, 0x7c00), stage2_start (real mode), pm_entry (first 32-bit
instruction), lm_entry (first 64-bit instruction), kernel_main. Existing breakpoints
at the same place are reused. Says which were set and which symbols are missing
(load the ELFs: add-symbol-file build/stage1.elf, build/stage2.elf, file build/kernel.elf)."""

    name = "transitions"

    def run(self, opts, from_tty):
        done, missing = [], []
        existing = breakpoints_by_location()
        for name in TRANSITIONS:
            addr = STATE.resolve(name)
            if addr is None:
                missing.append(name)
                continue
            bp = existing.get(name)
            new = bp is None
            if new:
                bp = breakpoint(name)
            done.append({"name": name, "address": addr, "number": bp.number, "new": new})
        if not done:
            raise FjError("none of the transition symbols is loaded (" + ", ".join(missing)
                          + "): file build/kernel.elf, add-symbol-file build/stage1.elf, "
                          "add-symbol-file build/stage2.elf")
        if opts.json:
            emit_json({"breakpoints": done, "missing": missing})
            return
        for d in done:
            out(f"{'set' if d['new'] else 'kept'} breakpoint {d['number']} at "
                f"0x{d['address']:x} <{d['name']}>")
        if missing:
            out("fj transitions: missing symbols (not loaded?): " + ", ".join(missing))
