"""reverse-step and reverse-next in a replay (make replay), from the safe primitives of
reverse.py: never QEMU 7.2's own reverse execution, which can hang.

Both go back to the start of the previous source line, the way GDB's do:
  - from the middle of a line, to the start of that line (of its line-table entry);
  - from the start of a line, to the start of the line that ran before it.
They only stop where the line table has an entry (code with line information: stage 1,
stage 2 and the kernel's NASM, the loader's and the kernel's C; never SeaBIOS).

How: the last instructions before now are traced (seek to count now - W, then stepi
forward to now, noting the pc, the stack pointer and the instruction at each count), and
read backwards. A RET (or IRET) seen backwards is the end of a call made from the traced
code: reverse-step goes into the callee when it has line information, reverse-next does
not; a callee that is not entered is skipped whole by finding its CALL (or INT n: a BIOS
call) with a breakpoint pass (the last visit of the call site with the same stack pointer,
so a recursive call does not count). Code without line information entered by a CALL
(SeaBIOS from an INT 13h) is skipped the same way. When no line start is in the window
it is widened (8 times, up to MAX_BACK instructions in all), then the move gives up and
stays where it was.
"""
from __future__ import annotations

import os
import re

import gdb

from ..target.errors import FjError
from ..target.run import quiet
from ..target.state import STATE
from .replay import START, _Disabled, _refresh, icount, seek
from .reverse import _Reverse, _show, call_site, count_and_now, last_visit, sp

FIRST_WINDOW = 64       # instructions traced first (a line is a few)
MAX_BACK = 8192         # at most this many instructions traced per move (stepi ~1-2 ms each)
RETS = ("ret", "lret", "iret")


def pc() -> int:
    return int(gdb.parse_and_eval("$pc")) & (2**64 - 1)


_LINES: dict = {}
_STMT: dict = {}
_GENERATION = [None]    # STATE.symbols_generation the two caches belong to


def _fresh() -> None:
    """Forget the line caches when the symbol files changed ('file', 'add-symbol-file')."""
    if _GENERATION[0] != STATE.symbols_generation:
        _LINES.clear()
        _STMT.clear()
        _GENERATION[0] = STATE.symbols_generation
ROW = re.compile(r"^\d+\s+\d+\s+0x([0-9a-f]+)\s+Y\b")


def statements(symtab) -> set:
    """The addresses where the line table of `symtab` starts a statement (is_stmt: where
    GDB stops a step; GDB 13's Python line table does not say, 'maint info line-table'
    does)."""
    _fresh()
    key = symtab.fullname()
    if key not in _STMT:
        text = gdb.execute("maint info line-table " + re.escape(os.path.basename(
            symtab.filename)) + "$", to_string=True)
        addrs, mine = set(), False
        for ln in text.splitlines():
            if ln.startswith("symtab: "):
                mine = ln[len("symtab: "):].split(" ((struct")[0].endswith(symtab.filename)
            elif mine and (m := ROW.match(ln)):
                addrs.add(int(m.group(1), 16))
        _STMT[key] = addrs
    return _STMT[key]


def line_of(addr: int):
    """(file, line, start of its line-table entry, is a statement start) for `addr`,
    None without line information."""
    _fresh()
    if addr not in _LINES:
        try:
            sal = gdb.find_pc_line(addr)
        except gdb.error:
            sal = None
        _LINES[addr] = ((sal.symtab.filename, sal.line, sal.pc,
                         addr in statements(sal.symtab))
                        if sal is not None and sal.symtab is not None and sal.line else None)
    return _LINES[addr]


def mnemonic(addr: int) -> str:
    try:
        words = gdb.selected_frame().architecture().disassemble(addr, count=1)[0]["asm"].split()
    except (gdb.error, IndexError):
        return ""
    while words and words[0] in ("rep", "repz", "repnz", "repe", "repne", "lock", "data16",
                                 "addr32", "bnd", "notrack", "o16", "a32"):
        words = words[1:]
    return words[0] if words else ""


def trace(lo: int, hi: int) -> list[tuple[int, int, str]]:
    """(pc, stack pointer, mnemonic) at every instruction count lo .. hi-1: seek to lo,
    then stepi forward to hi with the breakpoints disabled."""
    seek(lo)
    states = []
    with _Disabled(), quiet(True):
        for _ in range(lo, hi):
            here = pc()
            states.append((here, sp(), mnemonic(here)))
            gdb.execute("stepi", to_string=True)
    _refresh()
    got = icount()
    if got != hi:
        raise FjError(f"tracing from instruction count {lo} stopped at {got}, not {hi}")
    return states


def back_to_line(into_calls: bool) -> int:
    """The instruction count of the previous line start (see the module docstring)."""
    now = icount()
    here = line_of(pc())
    cur = here[:2] if here else None
    # the start of this line's statement: from the middle of a line, back to it
    entry = here[2] if here else None
    later_pc, later_sp, later_has_line = pc(), sp(), here is not None
    hi, window, scanned = now, FIRST_WINDOW, 0
    while scanned < MAX_BACK and hi > START:
        lo = max(START, hi - min(window, MAX_BACK - scanned))
        states = trace(lo, hi)
        scanned += hi - lo
        skip_to = None
        for c in range(hi - 1, lo - 1, -1):
            at, stack, mnem = states[c - lo]
            ln = line_of(at)
            returned = mnem.startswith(RETS) or (later_has_line and ln is None)
            if returned and not (into_calls and ln is not None):
                site = call_site(later_pc)
                k = last_visit(site, c + 1, later_sp) if site is not None else None
                if k is not None:
                    skip_to = k
                    break
                # no CALL found: a jump, not a return; read on through it
            if ln is not None and ln[3] and (ln[:2] != cur or at == entry):
                return c
            later_pc, later_sp, later_has_line = at, stack, ln is not None
        if skip_to is not None:
            hi, window = skip_to + 1, FIRST_WINDOW
        else:
            hi, window = lo, window * 8
    if hi <= START:
        raise FjError("no source line ran before this one since the start of the recording")
    raise FjError(f"no start of a source line in the last {scanned} instructions traced "
                  "(code without line information?)")


class _LineMove(_Reverse):
    into_calls = False

    def __init__(self):
        super().__init__(self.name_)

    def move(self, arg):
        n, _ = count_and_now(arg)
        for _ in range(n):
            start = icount()
            try:
                target = back_to_line(self.into_calls)
            except (FjError, gdb.error):
                seek(start)         # a move that fails leaves the replay where it was
                raise
            seek(target)
        _show()


class ReverseStep(_LineMove):
    """Step back to the start of the previous source line, into calls (farjump: never hangs).

Usage: reverse-step [N]
From the middle of a line: back to its start. From the start of a line: back to the start
of the line that ran before it; if that was in a function this line called (and it has
line information), into that function, on its last line. Only lines with line information
(stages, loader, kernel; never SeaBIOS). Built from a trace of the last instructions (a
seek, then stepi forward), so it never runs QEMU 7.2's own reverse execution."""
    name_ = "reverse-step"
    into_calls = True


class ReverseNext(_LineMove):
    """Step back to the start of the previous source line, over calls (farjump: never hangs).

Usage: reverse-next [N]
Like reverse-step, but a function (or BIOS call) the line called is stepped over: back to
the start of the previous line of this function (or of its caller, from its first line).
A call is told by its RET and found again by its CALL instruction and stack pointer."""
    name_ = "reverse-next"
    into_calls = False
