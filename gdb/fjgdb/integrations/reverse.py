"""Reverse execution in a QEMU 7.2 replay (make replay) that never hangs.

QEMU 7.2's own reverse-continue deadlocks (a snapshot load from a timer callback waits on
the vCPU thread, which waits on the replay mutex), and its reverse-stepi sometimes does too.
So in a replay (make replay sets $FJ_REPLAY to build/record/recording.json) farjump
replaces GDB's reverse commands with moves built from safe monitor primitives:

  seek N             back to the snapshot at the recording's start, then forward to
                     instruction count N (replay.py);
  hits_before N      the counts of every breakpoint and watchpoint hit before N.

reverse-stepi [N]    seek to count - N.
reverse-continue     seek to the start, run forward to the current count with the
                     breakpoints and watchpoints enabled, remembering every hit; then seek
                     to the last hit (or stay at the start of the recording if none).
reverse-nexti        one instruction back; when that is the RET of a callee, back to the
                     CALL instead (the last time it ran before now).
reverse-finish       back to the last entry of the current function before now, and one
                     instruction more: the CALL that entered it.
reverse-step, reverse-next (reverse_lines.py): back to the start of the previous source
                     line, from a trace of the last instructions (seek, then stepi forward).

Ctrl-C stops a move where it is and says so. The end of the recording is guarded
(replay.py).
"""
from __future__ import annotations

import re

import gdb

from ..target.errors import FjError
from ..target.run import Progress
from ..target.state import STATE
from . import replay
from .replay import MOVING, START, Interrupted, _Disabled, _refresh, end, hits_before, icount, seek


CALLS = ("call", "lcall", "int")       # int n: a BIOS call from stage 1 or 2 (cd nn)


def call_site(ret: int) -> int | None:
    """The CALL (or INT n) instruction that ends at return address `ret`, None if there
    is none."""
    arch = gdb.selected_frame().architecture()
    for n in (5, 2, 3, 6, 7, 4):
        try:
            insn = arch.disassemble(ret - n, count=1)[0]
        except (gdb.error, IndexError):
            continue
        words = insn["asm"].split()
        if insn["length"] == n and words and words[0].startswith(CALLS) \
                and words[0] not in ("int3", "into"):
            return ret - n
    return None


def sp() -> int:
    return int(gdb.parse_and_eval("$sp")) & (2**64 - 1)


def last_visit(addr: int, limit: int, at_sp: int | None = None) -> int | None:
    """The last instruction count before `limit` at which the CPU was about to run `addr`
    (an internal breakpoint there, the user's disabled), with the stack pointer `at_sp`
    if given (that frame, not a recursive one)."""
    keep = None if at_sp is None else (lambda: sp() == at_sp)
    with _Disabled():
        bp = gdb.Breakpoint(f"*0x{addr:x}", internal=True)
        bp.silent = True
        try:
            hits = hits_before(limit, keep)
        finally:
            bp.delete()
    return hits[-1] if hits else None


def count_and_now(arg: str) -> tuple[int, int]:
    """A backward move's N (default 1, at least 1) and the instruction count now (not at
    the start of the recording)."""
    n = int(gdb.parse_and_eval(arg)) if arg else 1
    if n < 1:
        raise FjError("N must be at least 1")
    now = icount()
    if now <= START:
        raise FjError("at the start of the recording")
    return n, now


def _show() -> None:
    gdb.execute("frame", to_string=False)




class _Reverse(gdb.Command):
    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        MOVING[0] = True
        start = None
        try:
            STATE.require_connected()
            start = icount()
            with Progress(self.name_):      # a long recording replays for a while
                self.move(arg.strip())
        except (Interrupted, KeyboardInterrupt):
            raise gdb.GdbError(f"{self.name_}: {self.interrupted(start)}") from None
        except (FjError, gdb.error) as e:
            raise gdb.GdbError(f"{self.name_}: {e}")
        finally:
            MOVING[0] = False
            try:
                STATE.monitor(f"replay_break {end()}")
            except (FjError, gdb.error):
                pass


    @staticmethod
    def interrupted(start) -> str:
        """Where a move the user interrupted left the replay."""
        try:
            _refresh()
            now = icount()
        except (FjError, gdb.error, KeyboardInterrupt):
            return "interrupted"
        return (f"interrupted at instruction count {now} (the move started at {start}); "
                "'frame' shows where")


class ReverseStepi(_Reverse):
    """Step back N instructions (default 1) in a replay (farjump: never hangs).

Usage: reverse-stepi [N]
Seeks to the instruction count N less than now: QEMU loads the recording's start snapshot
and replays forward to it with the breakpoints disabled."""
    name_ = "reverse-stepi"

    def __init__(self):
        super().__init__(self.name_)

    def move(self, arg):
        n, now = count_and_now(arg)
        seek(now - n)
        if now - n < START:
            gdb.write("at the start of the recording\n")
        _show()


class ReverseContinue(_Reverse):
    """Run backwards to the last breakpoint or watchpoint hit (farjump: never hangs).

Usage: reverse-continue
Replays from the start to here with the breakpoints and watchpoints enabled, remembering
each hit, then seeks to the last one; with none, stops at the start of the recording."""
    name_ = "reverse-continue"

    def __init__(self):
        super().__init__(self.name_)

    def move(self, arg):
        now = icount()
        hits = hits_before(now)
        if hits:
            seek(hits[-1])
            gdb.write(f"reverse-continue: the last hit before instruction count {now} is at "
                      f"{hits[-1]}\n")
        else:
            seek(START)
            gdb.write("no breakpoint or watchpoint hit: at the start of the recording\n")
        _show()


class ReverseNexti(_Reverse):
    """Step back one instruction, over calls (farjump: never hangs).

Usage: reverse-nexti
One instruction back; if that lands on the RET of a function this one called, back to
the CALL instead."""
    name_ = "reverse-nexti"

    def __init__(self):
        super().__init__(self.name_)

    def move(self, arg):
        now = icount()
        if now <= START:
            raise FjError("at the start of the recording")
        old_pc = int(gdb.parse_and_eval("$pc"))
        seek(now - 1)
        insn = gdb.selected_frame().architecture().disassemble(
            int(gdb.parse_and_eval("$pc")), count=1)[0]["asm"]
        if insn.split()[0].startswith("ret"):
            call = call_site(old_pc)
            target = last_visit(call, now) if call is not None else None
            if target is not None:
                seek(target)
        _show()


def function_start(pc: int) -> int | None:
    """The address of the symbol holding `pc` (GDB's minimal symbols: works for NASM labels
    and for C without trusting the unwinder, which is wrong inside prologues)."""
    text = gdb.execute(f"info symbol 0x{pc:x}", to_string=True)
    m = re.match(r"\S+(?: \+ (\d+))? in section", text)
    return pc - int(m.group(1) or 0) if m else None


class ReverseFinish(_Reverse):
    """Run back to the call of the current function (farjump: never hangs).

Usage: reverse-finish
Back to the last time this function's first instruction ran before now, then one
instruction more: the CALL (or jump) that entered it. (A recursive call that already
returned counts as the last entry.)"""
    name_ = "reverse-finish"

    def __init__(self):
        super().__init__(self.name_)

    def move(self, arg):
        now = icount()
        pc = int(gdb.parse_and_eval("$pc"))
        start = function_start(pc)
        if start is None:
            raise FjError(f"no symbol holds 0x{pc:x}: no function to finish")
        entry = now if start == pc else last_visit(start, now)
        if entry is None or entry <= START:
            raise FjError(f"the function at 0x{start:x} was not entered since the start "
                          "of the recording")
        seek(entry - 1)
        _show()


def install() -> bool:
    """In a replay ($FJ_REPLAY): the reverse commands; True if installed."""
    if replay.recording() is None:
        return False
    ReverseStepi()
    ReverseContinue()
    ReverseNexti()
    ReverseFinish()
    from .reverse_lines import ReverseNext, ReverseStep   # they build on this module
    ReverseStep()
    ReverseNext()
    replay.install()
    return True
