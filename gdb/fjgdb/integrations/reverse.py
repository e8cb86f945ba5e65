"""Reverse execution in a QEMU 7.2 replay (make replay) that never hangs.

QEMU 7.2's own reverse-continue deadlocks (a snapshot load from a timer callback waits on
the vCPU thread, which waits on the replay mutex), and its reverse-stepi sometimes does too.
So in a replay (make replay sets $FJ_REPLAY to build/record/recording.json) farjump
replaces GDB's reverse commands with moves built from safe monitor primitives:

  replay_seek N      load the snapshot at or before instruction count N (from the monitor,
                     not a timer) and stop at N on the next continue, which runs with every
                     breakpoint disabled;
  replay_break N     stop when the instruction count reaches N (reported as SIGINT);
  info replay        the current instruction count.

reverse-stepi [N]    seek to count - N.
reverse-continue     seek to the start, run forward to the current count with the
                     breakpoints and watchpoints enabled, remembering every hit; then seek
                     to the last hit (or stay at the start of the recording if none).
reverse-nexti, reverse-step, reverse-next, reverse-finish: not built yet; they say so
instead of letting QEMU's own reverse execution hang.

Every forward run is bounded by replay_break at the end of the recording (QEMU exits past
it); before each prompt that break is set again.
"""
from __future__ import annotations

import json
import os
import re

import gdb

from ..target.errors import FjError
from ..target.run import quiet
from ..target.state import STATE

START = 1           # replay_seek 0 never stops (QEMU 7.2): the start is count 1
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
    """The last instruction count a replay may stop at: one before the recording's end
    (at its very end QEMU 7.2 no longer seeks; past it, QEMU exits)."""
    rec = recording()
    if not rec or not rec.get("icount"):
        raise FjError("no recording.json with the recording's length ($FJ_REPLAY)")
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
    """Go to instruction count n (START <= n <= end): snapshot, then forward."""
    n = max(START, min(n, end()))
    STATE.monitor(f"replay_seek {n}")
    with _Disabled():
        _continue()
    _refresh()
    got = icount()
    if got != n:
        raise FjError(f"replay_seek {n} stopped at instruction count {got}")
    return got


def hits_before(limit: int) -> list[int]:
    """From the start, run forward to `limit` with the breakpoints enabled: the
    instruction counts of every stop (breakpoint or watchpoint hit) before it."""
    seek(START)
    hits = []
    STATE.monitor(f"replay_break {limit}")
    while True:
        _continue()
        _refresh()
        c = icount()
        if c >= limit:
            return hits
        if not hits or hits[-1] != c:
            hits.append(c)


def _show() -> None:
    gdb.execute("frame", to_string=False)


class _Reverse(gdb.Command):
    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        try:
            STATE.require_connected()
            self.move(arg.strip())
        except (FjError, gdb.error) as e:
            raise gdb.GdbError(f"{self.name_}: {e}")
        finally:
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
        n = int(gdb.parse_and_eval(arg)) if arg else 1
        if n < 1:
            raise FjError("N must be at least 1")
        now = icount()
        if now <= START:
            raise FjError("at the start of the recording")
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


class _NotYet(_Reverse):
    """Not available in a farjump replay yet (QEMU 7.2's own would risk a hang)."""

    def __init__(self, name):
        self.name_ = name
        self.__doc__ = (f"{name}: not built yet in a farjump replay (QEMU 7.2's own reverse "
                        "execution can hang); use reverse-stepi and reverse-continue.")
        super().__init__(name)

    def move(self, arg):
        raise FjError("not built yet in a farjump replay (QEMU 7.2's own can hang); use "
                      "reverse-stepi or reverse-continue")


def _rearm():
    try:
        if STATE.connected():
            STATE.monitor(f"replay_break {end()}")
    except (FjError, gdb.error):
        pass


def install() -> bool:
    """In a replay ($FJ_REPLAY): the reverse commands; True if installed."""
    if recording() is None:
        return False
    ReverseStepi()
    ReverseContinue()
    for name in ("reverse-nexti", "reverse-step", "reverse-next", "reverse-finish"):
        _NotYet(name)
    gdb.events.before_prompt.connect(_rearm)
    return True
