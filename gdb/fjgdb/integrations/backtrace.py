"""bt ends quietly at the frames farjump's unwinder made outermost.

GDB 13's Python unwinder API cannot say "outermost", so unwind.py gives the caller of such
a frame (a function entered by a jump: stage2_main, pm_entry, lm_entry, ...) the same
frame id, and GDB's own backtrace would end with "Backtrace stopped: previous frame
identical to this frame (corrupt stack?)": alarming, and wrong. With a frame filter
registered, GDB prints the frames through Python and prints no such line itself; this
filter passes every frame through unchanged and prints GDB's line for every other reason
a backtrace stopped (a real corrupt stack still says so). 'bt -no-filters' shows GDB's own.
"""
from __future__ import annotations

import gdb
from gdb.FrameDecorator import FrameDecorator

from . import unwind

NAME = "farjump-outermost"
# GDB prints "Backtrace stopped" from this reason on (its unwind_stop_reasons.def: the
# first error; GDB 13 exports no FRAME_UNWIND_FIRST_ERROR to Python)
FIRST_ERROR = getattr(gdb, "FRAME_UNWIND_FIRST_ERROR", gdb.FRAME_UNWIND_UNAVAILABLE)


class _Named(FrameDecorator):
    """A frame without a debug-info function (NASM code) named as GDB names it: the plain
    FrameDecorator gives its PC instead, and GDB then names the label *at* a return
    address (_start.halt) rather than the function that made the call (_start)."""

    def function(self):
        frame = self.inferior_frame()
        if frame.type() == gdb.NORMAL_FRAME and frame.function() is None:
            name = frame.name()
            if name:
                return name
        return super().function()


class OutermostFilter:
    def __init__(self):
        self.name = NAME
        self.priority = 0          # after any user filter: it sees their frames
        self.enabled = True

    def filter(self, frames):
        last = None
        for decorator in frames:
            last = decorator
            yield _Named(decorator)
        # The iterator ran out: the end of the stack (bt N stops pulling before that).
        if last is None:
            return
        frame = last.inferior_frame()
        reason = frame.unwind_stop_reason()
        if reason < FIRST_ERROR:
            return
        ours = unwind.instance()
        if reason == gdb.FRAME_UNWIND_SAME_ID and ours is not None \
                and frame.pc() in ours.outermost_pcs:
            return
        why = gdb.frame_stop_reason_string(reason)
        if reason == gdb.FRAME_UNWIND_MEMORY_ERROR:    # GDB's own line names the address
            why += " ('bt -no-filters' says where)"
        gdb.write(f"Backtrace stopped: {why}\n")


def install() -> None:
    gdb.frame_filters[NAME] = OutermostFilter()
