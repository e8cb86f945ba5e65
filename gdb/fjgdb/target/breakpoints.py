"""Breakpoints by SEG:OFF or linear address that stop right when CS.base is not 0.

QEMU's gdbstub puts breakpoints on *linear* addresses (it compares them with CS.base +
EIP), but reports the PC as EIP alone. In real mode with CS=1020h, ``break *0x10200``
makes QEMU stop at 1020:0000, and GDB, which sees PC 0x0 where it planted nothing, calls
the stop a bare ``SIGTRAP ... 0x0 in ?? ()``; worse, ``continue`` from there traps again
at once (GDB does not step over a breakpoint it does not know is there). docs/gdb.md.

:class:`SegBreakpoint` (``fj break`` / ``fj tbreak``) is therefore two GDB breakpoints:

* the one the user sees, at ``*OFF`` (the PC GDB will be shown): GDB recognises the stop
  as its hit, steps over it on the next resume (QEMU's single-step overrides the
  breakpoint at the same linear address), and its :meth:`stop` confirms the hit from
  QEMU's CS.base + EIP (any other code at PC OFF is ignored) and announces it as
  ``Breakpoint N, SEG:OFF (linear 0x...) <symbol>``;
* an internal one at ``*LINEAR``, which is what makes QEMU stop there.

When CS.base + OFF is the same as OFF (CS=0, flat protected or long mode) one breakpoint
suffices. A stop at a breakpoint's linear address under a different CS:IP than the one
planned (the same linear address reached as 1000:0200 instead of 1020:0000) still comes
as GDB's SIGTRAP: :func:`on_stop` then names the breakpoint and plants a helper at that
PC so that the next resume steps over it.
"""
from __future__ import annotations

import gdb

from .errors import FjError
from .state import STATE


def _announce(bp_number: int, snap, temporary: bool = False) -> None:
    q = snap.regs
    where = f"{q.cs.selector:04x}:{q.rip & 0xFFFF:04x} " if snap.real else \
        f"{q.cs.selector:04x}:{q.rip:x} "
    sym = STATE.symbolize(snap.linear_pc)
    kind = "Temporary breakpoint" if temporary else "Breakpoint"
    gdb.write(f"\n{kind} {bp_number}, {where}(linear 0x{snap.linear_pc:x})"
              f"{f' <{sym}>' if sym else ''}\n")


def _snapshot():
    try:
        return STATE.snapshot(allow_running=True)
    except FjError:
        return None


class _LinearTrap(gdb.Breakpoint):
    """Internal: the breakpoint at the linear address, which makes QEMU stop there."""

    def __init__(self, linear: int, owner: "SegBreakpoint"):
        super().__init__(f"*0x{linear:x}", gdb.BP_BREAKPOINT, internal=True,
                         temporary=False)
        self.owner = owner
        self.silent = True

    def stop(self):   # reached only when the PC GDB sees *is* the linear address
        try:
            return self.owner.is_valid() and self.owner.enabled and self.owner.stop()
        except RuntimeError:        # the owner was deleted
            return False


class _QuietMaker(gdb.Command):
    """Creates the breakpoint queued in _QUEUE (internal to fj break: GDB prints
    "Breakpoint N at 0x0" for every new user breakpoint, which only 'gdb.execute(...,
    to_string=True)' of a command can capture)."""

    def __init__(self):
        super().__init__("maintenance fj-make-breakpoint", gdb.COMMAND_MAINTENANCE)

    def invoke(self, arg, from_tty):
        factory = _QUEUE.pop()
        _MADE.append(factory())


_QUEUE: list = []
_MADE: list = []
_MAKER: list = []


def quietly(factory):
    """factory() -> a new user breakpoint, without GDB's "Breakpoint N at ..." line."""
    if not _MAKER:
        _MAKER.append(_QuietMaker())
    _QUEUE.append(factory)
    try:
        gdb.execute("maintenance fj-make-breakpoint", to_string=True)
    finally:
        _QUEUE.clear()
    return _MADE.pop()


class SegBreakpoint(gdb.Breakpoint):
    """``fj break``: stops when CS.base + IP (the linear PC) is ``linear``."""

    def __init__(self, seg: int | None, off: int, linear: int, temporary: bool = False):
        super().__init__(f"*0x{off:x}", gdb.BP_BREAKPOINT, internal=False,
                         temporary=temporary)
        self.seg, self.off, self.linear = seg, off, linear
        self.silent = True          # announced by stop() with SEG:OFF and linear
        self.trap = _LinearTrap(linear, self) if linear != off else None

    def stop(self):
        snap = _snapshot()
        if snap is None or snap.linear_pc != self.linear:
            return False
        _announce(self.number, snap, self.temporary)
        return True

    def describe(self) -> str:
        where = f"{self.seg:04x}:{self.off:04x} = " if self.seg is not None else ""
        return f"{where}linear 0x{self.linear:x}"


class _StepOverHelper(gdb.Breakpoint):
    """Internal, at the PC of an unplanned hit: makes GDB step over it on resume."""

    def __init__(self, pc: int):
        super().__init__(f"*0x{pc:x}", gdb.BP_BREAKPOINT, internal=True, temporary=False)
        self.silent = True

    def stop(self):
        return False


_helpers: list[gdb.Breakpoint] = []


def seg_breakpoints() -> list[SegBreakpoint]:
    return [b for b in gdb.breakpoints() if isinstance(b, SegBreakpoint) and b.is_valid()]


def on_stop(event) -> None:
    """gdb.events.stop: drop step-over helpers that served; name a SIGTRAP at an fj
    breakpoint's linear address and plant a helper at its PC."""
    for h in _helpers + _orphans:
        if h.is_valid():
            h.delete()
    _helpers.clear()
    _orphans.clear()
    if not isinstance(event, gdb.SignalEvent) or event.stop_signal != "SIGTRAP":
        return
    bps = seg_breakpoints()
    if not bps:
        return
    snap = _snapshot()
    if snap is None:
        return
    for bp in bps:
        if bp.enabled and bp.linear == snap.linear_pc:
            _announce(bp.number, snap, bp.temporary)
            gdb.write("(QEMU stopped at this breakpoint's linear address under another "
                      "CS:IP than planned, so GDB saw a SIGTRAP)\n")
            _helpers.append(_StepOverHelper(snap.pc))
            if bp.temporary:
                bp.delete()
            return


_orphans: list[gdb.Breakpoint] = []


def on_deleted(bp) -> None:
    """gdb.events.breakpoint_deleted: the internal trap goes with its breakpoint. GDB may
    be walking its breakpoint list ('delete' deletes them all), so deleting another one
    now would free what it walks: the trap is disabled now (out of QEMU at the next
    resume) and deleted at the next stop."""
    trap = getattr(bp, "trap", None)
    if trap is not None and trap.is_valid():
        try:
            trap.enabled = False
        except (gdb.error, RuntimeError):
            pass
        _orphans.append(trap)


def on_modified(bp) -> None:
    """gdb.events.breakpoint_modified: enable/disable the trap with its breakpoint."""
    trap = getattr(bp, "trap", None)
    if trap is not None and trap.is_valid() and bp.is_valid() and trap.enabled != bp.enabled:
        trap.enabled = bp.enabled


def connect_events() -> None:
    gdb.events.stop.connect(on_stop)
    gdb.events.breakpoint_deleted.connect(on_deleted)
    gdb.events.breakpoint_modified.connect(on_modified)
