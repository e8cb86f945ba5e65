"""fj why: why the CPU triple-faulted, from the live state (the same explanation as make why)."""
from __future__ import annotations

import os

import gdb

from ..decoders.triple import Explanation, explain, parse_log
from ..render.why import render_text
from ..target.errors import FjError
from ..target.state import STATE
from .base import FjCommand, emit_json, out


def _location(pc: int, linear: int) -> dict | None:
    sal = gdb.find_pc_line(pc)
    sym = STATE.symbolize(linear)
    if sal.symtab is None and sym is None:
        return None
    objfile = sal.symtab.objfile.filename if sal.symtab else None
    return {"stage": os.path.splitext(os.path.basename(objfile))[0] if objfile else None, "elf": objfile,
            "symbol": sym, "file": sal.symtab.filename if sal.symtab else None,
            "line": sal.line if sal.symtab else None}


def _instruction() -> str | None:
    try:
        text = gdb.execute("x/i $pc", to_string=True).strip()
    except gdb.error:
        return None
    return text.split(":", 1)[1].strip() if ":" in text else text


def _read(addr: int, size: int) -> bytes | None:
    try:
        return STATE.read_linear(addr, size)
    except FjError:
        return None


class FjWhy(FjCommand):
    """Why the CPU triple-faulted: each fault, its reason, the rule that escalated it.

Usage: fj why [--log FILE] [--json]
With 'make debug' a triple fault pauses QEMU on the faulting instruction (QEMU runs with
-action reboot=shutdown,shutdown=pause and -d int,cpu_reset). fj why reads QEMU's exception
log ($FJ_INTLOG, which make debug sets; or --log FILE) and the live CPU, and prints what
'make why' prints: the first fault (vector, name, error code, CR2), the instruction with
its symbol and source line, each nested fault with the reason it happened (rebuilt from
IDTR/GDTR, the mode and the gate where QEMU logs none), the rule (SDM Vol 3A Table 6-5)
and the state. When the CPU did not shut down it says so, and where it is.
JSON: {"triple", "steps": [{"vector", "name", "error_code", "reason", "source",
"escalation"}], "mode", "pc", "cr2", "state", "instruction", "location", "vm_status"}"""

    name = "why"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--log", help="QEMU's -d int log (default: $FJ_INTLOG)")

    def run(self, opts, from_tty):
        status = STATE.monitor("info status").strip()
        snap = STATE.snapshot()
        chain = None
        if "shutdown" in status:
            log = opts.log or os.environ.get("FJ_INTLOG")
            if not log or not os.path.exists(log):
                raise FjError(f"the CPU shut down ({status}) but there is no QEMU exception "
                              "log to explain it ('make debug' writes one; fj why --log FILE)")
            chain = parse_log(_read_text(log))
            if chain is None:
                raise FjError(f"the CPU shut down ({status}) and {log} has no triple fault: "
                              "a reset or power-off request, not a fault")
        elif opts.log:
            chain = parse_log(_read_text(opts.log))
        code = _read(snap.linear_pc, 15)
        e = explain(chain, snap.regs, _read, code)
        e = Explanation(**{**e.__dict__, "instruction": _instruction(),
                           "location": _location(snap.pc, snap.linear_pc)})
        if opts.json:
            emit_json({**e.to_dict(), "vm_status": status})
        else:
            out(render_text(e, f"no triple fault: {status}"))


def _read_text(path: str) -> str:
    with open(path, errors="replace") as f:
        return f.read()
