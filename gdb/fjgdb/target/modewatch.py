"""Find the boot's next mode changes on a guest farjump did not write (no symbols).

Method (docs/gdb.md, "Boots farjump did not write"): the code around the PC is swept
with Capstone in the current width, forward from the PC (a true instruction boundary)
and separately before it (:mod:`fjgdb.decoders.modescan`: the whole
64 KiB segment in real mode, 48 KiB around the PC otherwise) and an internal breakpoint
is put on every instruction that can change the mode (``mov cr0/cr4``, ``wrmsr``,
``lgdt``, far ``jmp/call/ret``, ``iret``, ``sysret``) and on every near transfer that
may leave the swept code (indirect ``jmp/call``). At each hit the instruction is
single-stepped and QEMU's registers compared: a new mode, code width, paging format or
CS is a transition; leaving the swept code sweeps again where the CPU went.

Limits: code reached only through a near ``ret``, an interrupt or an exception is not
swept (so a mode change there is seen only at the next candidate); instructions in a
sweep window that starts inside data may be misdecoded; breakpoints are on linear
addresses, so code that is copied or relocated after the sweep is missed until the next
transition sweeps again. Each candidate hit costs one stop (a few ms).
"""
from __future__ import annotations

import time

import gdb

from ..decoders.errors import DecodeError
from ..decoders.modescan import scan
from .errors import FjError
from .run import continue_with_timeout, quiet
from .state import STATE

_PAGE = 4096


def _key(snap) -> tuple:
    m = snap.mode
    return (m.mode, m.bits, m.paging, m.pae, m.lma, m.la57, snap.cs.selector)


def _read_window(lo: int, hi: int, pc: int) -> tuple[int, bytes]:
    """The readable 4 KiB chunks of [lo, hi) (counted from *lo*) that are contiguous with
    the chunk holding *pc*."""
    first = lo + (pc - lo) // _PAGE * _PAGE
    start, chunks = first, []
    addr = first
    while addr < hi:
        try:
            chunks.append(STATE.read_raw(addr, min(_PAGE, hi - addr)))
        except FjError:
            break
        addr += _PAGE
    addr = first - _PAGE
    while addr >= lo:
        try:
            chunks.insert(0, STATE.read_raw(addr, _PAGE))
            start = addr
        except FjError:
            break
        addr -= _PAGE
    return start, b"".join(chunks)


def sweep(snap) -> tuple[dict, tuple[int, int]]:
    """{linear address: Candidate} around the PC, and the swept linear range."""
    bits = snap.mode.bits
    if bits is None:
        raise FjError("the code width is unknown (CS descriptor cache unreadable)")
    base = 0 if bits == 64 else snap.cs.base
    pc = snap.pc & (0xFFFF if snap.real else (1 << 64) - 1)
    if snap.real:
        lo, hi = 0, 0x10000
    else:
        lo, hi = max(0, pc - 0x4000), pc + 0x8000
        if bits != 64:
            hi = min(hi, 0x100000000)
    start, code = _read_window(base + lo, base + hi, base + pc)
    if not code:
        raise FjError(f"the code at linear 0x{base + pc:x} cannot be read")
    window = (start - base, start - base + len(code))
    cut = base + pc - start        # decode from the PC (a true instruction boundary) on,
    try:                           # and separately the code before it
        found = scan(code[cut:], pc, bits, base, window=window)
        found += [c for c in scan(code[:cut], start - base, bits, base, window=window)
                  if c.addr + c.size <= base + pc]
    except DecodeError as e:
        raise FjError(str(e)) from None
    return {c.addr: c for c in found}, (start, start + len(code))


def watch(timeout: float, max_transitions: int = 16, on_transition=None) -> tuple[list, str]:
    """Run the guest, reporting each transition as (before, instruction, after)
    snapshots. Ends at 64-bit mode with paging (nothing further to find), after
    *max_transitions*, or when no candidate is hit for *timeout* s (0: never).
    Returns (transitions, why it ended).

    The breakpoints of every window swept since the last transition stay: a call that
    leaves the window is followed into its callee, and the caller's candidates are still
    there when the callee returns (near returns are not followed themselves)."""
    found = []
    snap = STATE.snapshot()
    cands: dict = {}
    windows: list = []
    bps: dict = {}

    def add_window(s):
        new, window = sweep(s)
        windows.append(window)
        for addr, c in new.items():
            if addr not in cands:
                cands[addr] = c
                bp = gdb.Breakpoint(f"*0x{addr:x}", internal=True)
                bp.silent = True
                bps[addr] = bp

    def drop_all():
        for bp in bps.values():
            if bp.is_valid():
                bp.delete()
        bps.clear()
        cands.clear()
        windows.clear()

    try:
        add_window(snap)
        while True:
            if snap.linear_pc not in cands:         # not standing on one: run to one
                t0 = time.monotonic()
                with quiet(True):
                    how = continue_with_timeout(timeout)
                STATE.invalidate()
                if how != "stopped" or not STATE.connected():
                    return found, ("no mode-changing instruction was reached within "
                                   f"{timeout:g} s" if how == "timeout" else
                                   "interrupted (Ctrl-C)" if how == "interrupted"
                                   else "the guest is gone")
                snap = STATE.snapshot()
                if snap.linear_pc not in cands:
                    return found, (f"stopped at linear 0x{snap.linear_pc:x}, which is not "
                                   "one of the instructions watched (another breakpoint, "
                                   "or a fault)")
                if timeout:
                    timeout = max(timeout - (time.monotonic() - t0), 0.5)
            insn = cands[snap.linear_pc]
            before = snap
            with quiet(True):
                gdb.execute("stepi", to_string=True)
            STATE.invalidate()
            snap = STATE.snapshot()
            if _key(before) != _key(snap):
                found.append((before, insn, snap))
                if on_transition:
                    on_transition(before, insn, snap)
                if snap.mode.bits == 64 and snap.mode.paging:
                    return found, "64-bit mode reached: no further mode to find"
                if len(found) >= max_transitions:
                    return found, f"{max_transitions} transitions found"
                drop_all()                  # code decoded in the old width: sweep afresh
                add_window(snap)
            elif not any(lo <= snap.linear_pc < hi for lo, hi in windows):
                add_window(snap)
    finally:
        drop_all()
