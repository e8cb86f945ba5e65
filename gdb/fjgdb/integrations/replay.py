"""The replay under farjump's reverse commands (make replay; reverse.py has the commands).

The recording ($FJ_REPLAY names its recording.json), the instruction count, the end of the
recording, and two moves built from safe monitor primitives (QEMU 7.2's own reverse
execution deadlocks; docs/time-travel.md):

  seek(N)            loadvm of the snapshot at the recording's start when N is behind (a
                     stopped machine stays stopped; not replay_seek, which starts it behind
                     GDB's back), then replay_break N and GDB's continue with every
                     breakpoint disabled;
  hits_before(N)     from the start to N with the breakpoints and watchpoints enabled:
                     the instruction count of every hit.

A Ctrl-C during either stops the move (Interrupted): the replay stays where it stopped.

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


_READ: dict = {}        # (path, mtime) -> recording.json's contents: end() runs at every stop


def recording() -> dict | None:
    path = os.environ.get("FJ_REPLAY")
    if not path:
        return None
    try:
        key = (path, os.stat(path).st_mtime_ns)
        if key not in _READ:
            with open(path) as f:
                _READ.clear()
                _READ[key] = json.load(f)
        return _READ[key]
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


class Interrupted(FjError):
    """The user's Ctrl-C stopped a move part-way."""


def _continue() -> bool:
    """GDB's continue, quietly. True when it stopped on a signal (replay_break's SIGINT, or
    the user's Ctrl-C: the instruction count tells them apart), False on a breakpoint or
    watchpoint hit."""
    stops = []
    seen = stops.append
    gdb.events.stop.connect(seen)
    try:
        with quiet(True):
            gdb.execute("continue", to_string=True)
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None
    finally:
        gdb.events.stop.disconnect(seen)
    return bool(stops) and isinstance(stops[-1], gdb.SignalEvent)


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
    if got < n:             # nothing enabled could stop it: the user's Ctrl-C
        raise Interrupted(f"interrupted on the way to instruction count {n}")
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
        signal = _continue()
        _refresh()
        c = icount()
        if c >= limit:
            return hits
        if signal:          # a SIGINT before replay_break's count: the user's Ctrl-C
            raise Interrupted(f"interrupted on the way to instruction count {limit}")
        if (not hits or hits[-1] != c) and (keep is None or keep()):
            hits.append(c)


MOVING = [False]       # a reverse move runs: its own continues and stepis are not guarded


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
    """Refuses to run forward at the end of a farjump replay (run by hooks; see this module).

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


def install() -> None:
    """The guard of the end of the recording: fj-replay-guard, its hooks, the bound set
    again before each prompt, the note at the end."""
    ReplayGuard()
    for name in FORWARD:
        gdb.execute(f"define hook-{name}\nfj-replay-guard\nend", to_string=True)
    gdb.events.before_prompt.connect(_rearm)
    gdb.events.stop.connect(_on_stop)
