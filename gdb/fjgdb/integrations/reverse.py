"""Reverse execution in a QEMU 7.2 replay (make replay) that never hangs.

QEMU 7.2's own reverse-continue deadlocks (a snapshot load from a timer callback waits on
the vCPU thread, which waits on the replay mutex), and its reverse-stepi sometimes does too.
So in a replay (make replay sets $FJ_REPLAY to build/record/recording.json) farjump
replaces GDB's reverse commands with moves built from safe monitor primitives:

  loadvm start       back to the snapshot at the recording's start (a stopped machine
                     stays stopped); then replay_break N and continue: to count N;
  info replay        the current instruction count.

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

Every forward run is bounded by replay_break at the end of the recording (QEMU exits past
it; after a triple fault, the faulting instruction): set before each prompt and by
fj-replay-guard, a hook of every forward command; at the end a stop says so and forward
commands are refused.
"""
from __future__ import annotations

import json
import os
import re

import gdb

from ..target.errors import FjError
from ..target.run import quiet
from ..target.state import STATE

START = 1           # the start: a replay_break at the snapshot's own count 0 never fires
END_MARGIN = 100    # stop this many instructions before the end: at the final HLT QEMU cannot seek


def recording() -> dict | None:
    path = os.environ.get("FJ_REPLAY")
    if not path:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def icount() -> int:
    text = STATE.monitor("info replay")
    m = re.search(r"instruction count = (\d+)", text)
    if not m or "Replaying" not in text:
        raise FjError(f"not a replay (QEMU says: {text.strip()}); 'make replay' opens one")
    return int(m.group(1))


def end() -> int:
    """The last instruction count a replay may stop at. After a boot that halted: a little
    before the recording's end (at its very end QEMU 7.2 no longer seeks; past it, QEMU
    exits). After a triple fault: the count of the faulting instruction itself, so that a
    forward run stops on it before it runs (QEMU 7.2 exits when asked to seek once the
    replay has shut down on the fault)."""
    rec = recording()
    if not rec or not rec.get("icount"):
        raise FjError("no recording.json with the recording's length ($FJ_REPLAY)")
    if rec.get("ended") == "shutdown":
        return int(rec["icount"])
    return int(rec["icount"]) - END_MARGIN


def _refresh() -> None:
    gdb.execute("maintenance flush register-cache", to_string=True)
    STATE.invalidate()


def _continue() -> None:
    with quiet(True):
        gdb.execute("continue", to_string=True)


class _Disabled:
    """Every user breakpoint and watchpoint disabled for a while."""

    def __enter__(self):
        self.was = [b for b in gdb.breakpoints() if b.enabled]
        for b in self.was:
            b.enabled = False

    def __exit__(self, *exc):
        for b in self.was:
            if b.is_valid():
                b.enabled = True


def seek(n: int) -> int:
    """Go to instruction count n (START <= n <= end): back to the start snapshot (count
    0) when n is behind, then forward to n with every breakpoint disabled. Not QEMU's
    replay_seek, which starts the machine behind GDB's back: on a busy machine its break
    fired before GDB's continue came, which then ran to the recording's end, and the next
    seek aborted QEMU ('shutdown' -> 'running'; docs/time-travel.md)."""
    n = max(START, min(n, end()))
    now = icount()
    if now == n:
        return n            # already there: a replay_break at n would never fire
    if n < now:             # the snapshot's name: recording.json ("start" in older ones)
        snap = (recording() or {}).get("snapshot") or "start"
        said = STATE.monitor(f"loadvm {snap}").strip()
        if said:            # it failed: a continue now would run off the end (QEMU exits)
            raise FjError(f"loadvm {snap}: {said}")
    STATE.monitor(f"replay_break {n}")
    with _Disabled():
        _continue()
    _refresh()
    got = icount()
    if got != n:
        raise FjError(f"the run to instruction count {n} stopped at {got}")
    return got


def hits_before(limit: int, keep=None, lo: int = START) -> list[int]:
    """From count `lo` (the start), run forward to `limit` with the breakpoints enabled:
    the instruction counts of every stop (breakpoint or watchpoint hit) before it, only
    those where keep() is true if given."""
    seek(lo)
    hits = []
    STATE.monitor(f"replay_break {limit}")
    while True:
        _continue()
        _refresh()
        c = icount()
        if c >= limit:
            return hits
        if (not hits or hits[-1] != c) and (keep is None or keep()):
            hits.append(c)


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


MOVING = [False]       # a reverse move runs: its own continues and stepis are not guarded


class _Reverse(gdb.Command):
    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        MOVING[0] = True
        try:
            STATE.require_connected()
            self.move(arg.strip())
        except (FjError, gdb.error) as e:
            raise gdb.GdbError(f"{self.name_}: {e}")
        finally:
            MOVING[0] = False
            try:
                STATE.monitor(f"replay_break {end()}")
            except (FjError, gdb.error):
                pass


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


def at_end() -> bool:
    return icount() >= end()


def end_note() -> str:
    rec = recording() or {}
    if rec.get("ended") == "shutdown":
        return ("the end of the recording: the recorded boot triple-faults on this "
                "instruction (going on would shut the replay down, and QEMU 7.2 cannot go "
                "back from there); reverse-stepi goes back from it")
    return ("the end of the recording (a little before the final HLT: past it QEMU ends "
            "the replay); go back with the reverse-* commands")


def _rearm():
    try:
        if STATE.connected():
            STATE.monitor(f"replay_break {end()}")
    except (FjError, gdb.error):
        pass


def _on_stop(event):
    """A stop at the end of the recording says so (e.g. on the faulting instruction)."""
    try:
        if STATE.connected() and at_end():
            gdb.write(f"farjump: {end_note()}.\n")
    except (FjError, gdb.error):
        pass


class ReplayGuard(gdb.Command):
    """Refuses to run forward at the end of a farjump replay (run by hooks; see reverse.py).

Usage: fj-replay-guard
The forward commands (continue, step, next, stepi, nexti, finish, until, advance) run it
first: at the end of the recording QEMU 7.2 would end the replay (or, after a triple
fault, shut it down beyond going back), so they stop with an error there instead;
elsewhere it sets the replay_break that stops them there."""

    def __init__(self):
        super().__init__("fj-replay-guard", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        if MOVING[0]:
            return
        try:
            if not STATE.connected():
                return
            if at_end():
                raise gdb.GdbError(end_note())
            # the bound again (before_prompt does it too, but a script has no prompt)
            STATE.monitor(f"replay_break {end()}")
        except FjError:
            pass


FORWARD = ("continue", "step", "next", "stepi", "nexti", "finish", "until", "advance")


def install() -> bool:
    """In a replay ($FJ_REPLAY): the reverse commands; True if installed."""
    if recording() is None:
        return False
    ReverseStepi()
    ReverseContinue()
    ReverseNexti()
    ReverseFinish()
    from .reverse_lines import ReverseNext, ReverseStep   # they build on this module
    ReverseStep()
    ReverseNext()
    ReplayGuard()
    for name in FORWARD:
        gdb.execute(f"define hook-{name}\nfj-replay-guard\nend", to_string=True)
    gdb.events.before_prompt.connect(_rearm)
    gdb.events.stop.connect(_on_stop)
    return True
